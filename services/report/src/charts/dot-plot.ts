import { coord, escapeHtml, legendSwatch, marker, wrapLabel, type MarkerShape } from './svg.ts';

/** A series of a dot plot: one marker per row. */
export interface DotSeries {
  key: string;
  label: string;
  colour: string;
  shape: MarkerShape;
}

/** One row: a label, the values of each series (null = nothing drawn), an optional interval and note. */
export interface DotRow {
  label: string;
  values: Record<string, number | null>;
  /** Drawn as a whisker behind the markers (a confidence interval). */
  interval?: [number, number] | null;
  /** Printed in the plot area when the row has no value to draw (e.g. "fewer than 4 leaders"). */
  note?: string;
}

/** Inputs of {@link dotPlot}. */
export interface DotPlotInput {
  /** Unique per page: ids of the SVG title and description derive from it. */
  id: string;
  title: string;
  description: string;
  series: DotSeries[];
  rows: DotRow[];
  axis: { min: number; max: number; ticks: number[]; format: (value: number) => string };
  /** Series drawn as a bar from axis.min to its value, under the markers. */
  barSeries?: string;
  /** A dashed reference line (e.g. no change at 0). */
  reference?: number;
}

/** The two layouts: labels beside the rows (wide screens, print) or above them (phones). */
export type DotPlotLayout = 'wide' | 'narrow';

const GEOMETRY = {
  wide: { width: 880, labelWidth: 260, right: 28, top: 34, rowHeight: 38, labelAbove: 0, font: 15, wrap: 30 },
  narrow: {
    width: 360,
    labelWidth: 0,
    right: 14,
    top: 34,
    rowHeight: 30,
    labelAbove: 24,
    font: 15,
    wrap: 44,
  },
} as const;

/**
 * A horizontal dot plot as SVG: one row per entry, markers of distinct colour and shape per series, optional
 * bars, intervals and a reference line, with a <title> and <desc> it is labelled by. Scales with its viewBox.
 */
export function dotPlot(input: DotPlotInput, layout: DotPlotLayout): string {
  const g = GEOMETRY[layout];
  // Tick labels are centred on their gridline, so the first and last stick out by half their width: the
  // plot keeps that much room at its sides ("−0.25" and "+0.50" were cut on phones).
  const halfLabel =
    Math.max(0, ...input.axis.ticks.map((t) => tickLabelWidth(input.axis.format(t), g.font))) / 2;
  const side = Math.ceil(halfLabel) + 4;
  const left = layout === 'wide' ? g.labelWidth : Math.max(14, side);
  const plotRight = g.width - Math.max(g.right, side);
  const span = input.axis.max - input.axis.min || 1;
  const x = (v: number) =>
    left +
    ((Math.min(input.axis.max, Math.max(input.axis.min, v)) - input.axis.min) / span) * (plotRight - left);
  const rowBlock = g.rowHeight + g.labelAbove;
  const height = g.top + input.rows.length * rowBlock + 8;
  const titleId = `${input.id}-${layout}-title`;
  const descId = `${input.id}-${layout}-desc`;
  const parts: string[] = [];

  parts.push(
    `<svg class="chart chart-${layout}" viewBox="0 0 ${g.width} ${coord(height)}" role="img" aria-labelledby="${escapeHtml(titleId)} ${escapeHtml(descId)}" font-size="${g.font}">`,
    `<title id="${escapeHtml(titleId)}">${escapeHtml(input.title)}</title>`,
    `<desc id="${escapeHtml(descId)}">${escapeHtml(input.description)}</desc>`,
  );

  // Zebra bands first, so the gridlines and markers sit above them.
  input.rows.forEach((_, i) => {
    if (i % 2 === 1) {
      parts.push(
        `<rect x="0" y="${coord(g.top + i * rowBlock)}" width="${g.width}" height="${coord(rowBlock)}" fill="#f3f1ec"/>`,
      );
    }
  });
  for (const tick of input.axis.ticks) {
    const tx = x(tick);
    parts.push(
      `<line x1="${coord(tx)}" y1="${g.top - 6}" x2="${coord(tx)}" y2="${coord(height - 8)}" stroke="#d9d6cf" stroke-width="1"/>`,
      `<text x="${coord(tx)}" y="${g.top - 12}" text-anchor="middle" fill="#4a5163">${escapeHtml(input.axis.format(tick))}</text>`,
    );
  }
  if (input.reference !== undefined) {
    const rx = x(input.reference);
    parts.push(
      `<line x1="${coord(rx)}" y1="${g.top - 6}" x2="${coord(rx)}" y2="${coord(height - 8)}" stroke="#1f2430" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    );
  }

  input.rows.forEach((row, i) => {
    const top = g.top + i * rowBlock;
    const cy = top + g.labelAbove + g.rowHeight / 2;
    parts.push(`<g><title>${escapeHtml(row.label)}</title>`);
    if (layout === 'wide') {
      const lines = wrapLabel(row.label, g.wrap, 2);
      const first = cy - ((lines.length - 1) * (g.font + 1)) / 2 + g.font * 0.35;
      parts.push(
        `<text x="${left - 14}" y="${coord(first)}" text-anchor="end" fill="#1f2430">${lines
          .map(
            (line, j) =>
              `<tspan x="${left - 14}" dy="${j === 0 ? 0 : g.font + 1}">${escapeHtml(line)}</tspan>`,
          )
          .join('')}</text>`,
      );
    } else {
      const [line] = wrapLabel(row.label, g.wrap, 1);
      // A halo in the row's own background keeps the label readable over the gridlines.
      const halo = i % 2 === 1 ? '#f3f1ec' : '#ffffff';
      parts.push(
        `<text x="8" y="${coord(top + g.labelAbove - 6)}" fill="#1f2430" font-weight="600" stroke="${halo}" stroke-width="5" stroke-linejoin="round" paint-order="stroke">${escapeHtml(line)}</text>`,
      );
    }
    const drawn = input.series.filter((s) => typeof row.values[s.key] === 'number');
    if (drawn.length === 0 && !row.interval && row.note) {
      parts.push(
        `<text x="${coord(left + 4)}" y="${coord(cy + g.font * 0.35)}" fill="#4a5163" font-style="italic">${escapeHtml(row.note)}</text>`,
      );
    }
    if (input.barSeries) {
      const value = row.values[input.barSeries];
      const series = input.series.find((s) => s.key === input.barSeries);
      if (typeof value === 'number' && series) {
        parts.push(
          `<rect x="${coord(left)}" y="${coord(cy - 5)}" width="${coord(Math.max(0, x(value) - left))}" height="10" rx="3" fill="${escapeHtml(series.colour)}" fill-opacity="0.22"/>`,
        );
      }
    }
    if (row.interval) {
      const [lo, hi] = row.interval;
      parts.push(
        `<line x1="${coord(x(lo))}" y1="${coord(cy)}" x2="${coord(x(hi))}" y2="${coord(cy)}" stroke="#1f2430" stroke-width="2"/>`,
        `<line x1="${coord(x(lo))}" y1="${coord(cy - 6)}" x2="${coord(x(lo))}" y2="${coord(cy + 6)}" stroke="#1f2430" stroke-width="2"/>`,
        `<line x1="${coord(x(hi))}" y1="${coord(cy - 6)}" x2="${coord(x(hi))}" y2="${coord(cy + 6)}" stroke="#1f2430" stroke-width="2"/>`,
      );
    }
    // With several series, offset them a little vertically so equal values stay visible.
    const offsets = drawn.length > 1 ? [0, -7, 7, 0] : [0];
    drawn.forEach((series, j) => {
      const value = row.values[series.key] as number;
      const r = j === 0 && drawn.length > 1 ? 8 : 7;
      parts.push(marker(series.shape, x(value), cy + (offsets[j] ?? 0), r, series.colour));
    });
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('');
}

/**
 * A generous estimate of a tick label's drawn width in px: digits, signs and the decimal point of the
 * system sans-serif are at most 0.6 em wide (the point and minus less).
 */
export function tickLabelWidth(label: string, font: number): number {
  return [...label].length * font * 0.6;
}

/** The legend of a dot plot, as an HTML list with a swatch per series. */
export function dotPlotLegend(series: DotSeries[], extra: string[] = []): string {
  const items = series.map(
    (s) => `<li>${legendSwatch(s.shape, s.colour)}<span>${escapeHtml(s.label)}</span></li>`,
  );
  for (const text of extra) items.push(`<li><span>${escapeHtml(text)}</span></li>`);
  return `<ul class="chart-legend">${items.join('')}</ul>`;
}

/** Both layouts of a plot; the stylesheet shows the one that fits the screen. */
export function responsiveDotPlot(input: DotPlotInput): string {
  return dotPlot(input, 'wide') + dotPlot(input, 'narrow');
}
