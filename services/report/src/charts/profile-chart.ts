import { dataTable, type TableCell } from './svg.ts';
import { dotPlotLegend, responsiveDotPlot, type DotSeries } from './dot-plot.ts';
import { GROUP_STYLE } from './palette.ts';

/** A score as the chart gets it: a number, or the words that replace a suppressed one. */
export type ChartScore = { value: number } | { suppressed: string };

/** One competency of the profile chart. */
export interface ProfileChartRow {
  title: string;
  allOthers: ChartScore;
  self: ChartScore;
  manager: ChartScore;
}

const SERIES: DotSeries[] = [
  { key: 'allOthers', label: 'All others', ...GROUP_STYLE.all_others },
  { key: 'self', label: 'Self', ...GROUP_STYLE.self },
  { key: 'manager', label: 'Manager', ...GROUP_STYLE.manager },
];

const valueOf = (score: ChartScore) => ('value' in score ? score.value : null);
const cell = (score: ChartScore): TableCell =>
  'value' in score
    ? { text: score.value.toFixed(2), numeric: true }
    : { text: score.suppressed, muted: true };

/**
 * The competency profile: all others (bar and circle), self (diamond) and manager (square) on the rating
 * scale, one row per competency, in two layouts, with its legend and the data table behind it.
 */
export function profileChart(input: {
  id: string;
  rows: ProfileChartRow[];
  scale: { min: number; max: number };
}) {
  const ticks: number[] = [];
  for (let t = input.scale.min; t <= input.scale.max; t++) ticks.push(t);
  const svg = responsiveDotPlot({
    id: input.id,
    title: 'Competency profile',
    description:
      `Average rating per competency on the ${input.scale.min} to ${input.scale.max} scale from all others, ` +
      'from the leader (self) and from the manager. The table after the chart lists the same numbers.',
    series: SERIES,
    rows: input.rows.map((row) => ({
      label: row.title,
      values: { allOthers: valueOf(row.allOthers), self: valueOf(row.self), manager: valueOf(row.manager) },
      note: 'not shown: too few responses',
    })),
    axis: { min: input.scale.min, max: input.scale.max, ticks, format: (v) => String(v) },
    barSeries: 'allOthers',
  });
  const table = dataTable({
    caption: 'Competency profile: average ratings',
    columns: ['Competency', 'All others', 'Self', 'Manager'],
    rows: input.rows.map((row) => [
      { text: row.title },
      cell(row.allOthers),
      cell(row.self),
      cell(row.manager),
    ]),
  });
  return { svg, legend: dotPlotLegend(SERIES), table };
}
