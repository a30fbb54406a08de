import { dataTable, type TableCell } from './svg.ts';
import { dotPlotLegend, responsiveDotPlot, type DotSeries } from './dot-plot.ts';
import { INK } from './palette.ts';

/** One competency of the cohort change chart: mean change with its 95% interval, or why it is not shown. */
export type CiChartRow =
  { title: string; mean: number; ci: [number, number] } | { title: string; suppressed: string };

const SERIES: DotSeries[] = [{ key: 'mean', label: 'Average change', colour: INK, shape: 'circle' }];
const signed = (v: number) => `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)}`;

/** Axis bounds and ticks at multiples of 0.25 that hold every interval and zero. */
export function changeAxis(values: number[]): { min: number; max: number; ticks: number[] } {
  const lo = Math.min(-0.25, ...values);
  const hi = Math.max(0.25, ...values);
  const min = Math.floor(lo * 4) / 4;
  const max = Math.ceil(hi * 4) / 4;
  const step = max - min > 2 ? 0.5 : 0.25;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + 1e-9; t += step)
    ticks.push(Math.round(t * 100) / 100);
  return { min, max, ticks };
}

/**
 * The cohort's average change per competency with 95% confidence intervals against a dashed line at no
 * change (a forest plot), in two layouts, with its legend and data table.
 */
export function ciChart(input: { id: string; rows: CiChartRow[] }) {
  const shown = input.rows.flatMap((r) => ('ci' in r ? [r.ci[0], r.ci[1], r.mean] : []));
  const axis = changeAxis(shown);
  const svg = responsiveDotPlot({
    id: input.id,
    title: 'Average change per competency, with 95% confidence intervals',
    description:
      'For each competency, the average change of leaders’ scores from all others between baseline and ' +
      'follow-up, with a line for its 95% confidence interval. The dashed line marks no change. The table ' +
      'after the chart lists the same numbers.',
    series: SERIES,
    rows: input.rows.map((row) =>
      'ci' in row
        ? { label: row.title, values: { mean: row.mean }, interval: row.ci }
        : { label: row.title, values: { mean: null }, note: row.suppressed },
    ),
    axis: { ...axis, format: signed },
    reference: 0,
  });
  const table = dataTable({
    caption: 'Average change per competency',
    columns: ['Competency', 'Average change', '95% CI from', '95% CI to'],
    rows: input.rows.map((row): TableCell[] =>
      'ci' in row
        ? [
            { text: row.title },
            { text: signed(row.mean), numeric: true },
            { text: signed(row.ci[0]), numeric: true },
            { text: signed(row.ci[1]), numeric: true },
          ]
        : [
            { text: row.title },
            { text: row.suppressed, muted: true },
            { text: '–', muted: true },
            { text: '–', muted: true },
          ],
    ),
  });
  return {
    svg,
    legend: dotPlotLegend(SERIES, ['Line: 95% confidence interval', 'Dashed line: no change']),
    table,
  };
}
