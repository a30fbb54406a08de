import { coord, dataTable, escapeHtml } from './svg.ts';
import { INK } from './palette.ts';

/** One bar: values in [from, to). */
export interface HistogramBin {
  from: number;
  to: number;
  count: number;
}

/**
 * Bins of `width` that cover every value, edges on multiples of `width`; a value on an edge goes to the bin
 * it starts. Empty input gives no bins.
 */
export function binValues(values: number[], width: number): HistogramBin[] {
  if (values.length === 0) return [];
  const key = (v: number) => Math.floor(Math.round((v / width) * 1e6) / 1e6);
  const first = Math.min(...values.map(key));
  const last = Math.max(...values.map(key));
  const bins: HistogramBin[] = [];
  for (let k = first; k <= last; k++) {
    bins.push({ from: round(k * width), to: round((k + 1) * width), count: 0 });
  }
  for (const v of values) bins[key(v) - first]!.count++;
  return bins;
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const signed = (v: number) => `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)}`;

/** A histogram as SVG (bars with counts, edges on the x axis, a dashed line at zero) and its data table. */
export function histogram(input: {
  id: string;
  title: string;
  description: string;
  bins: HistogramBin[];
  countLabel: string;
  valueLabel: string;
}) {
  const width = 480;
  const height = 250;
  const left = 36;
  const right = 26;
  const top = 24;
  const bottom = 48;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const maxCount = Math.max(1, ...input.bins.map((b) => b.count));
  const barW = input.bins.length > 0 ? plotW / input.bins.length : plotW;
  const y = (count: number) => top + plotH - (count / maxCount) * plotH;
  const titleId = `${input.id}-title`;
  const descId = `${input.id}-desc`;
  const parts = [
    `<svg class="chart chart-histogram" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${escapeHtml(titleId)} ${escapeHtml(descId)}" font-size="13">`,
    `<title id="${escapeHtml(titleId)}">${escapeHtml(input.title)}</title>`,
    `<desc id="${escapeHtml(descId)}">${escapeHtml(input.description)}</desc>`,
    `<line x1="${left}" y1="${coord(top + plotH)}" x2="${width - right}" y2="${coord(top + plotH)}" stroke="#4a5163"/>`,
  ];
  const step = Math.max(1, Math.ceil(maxCount / 4));
  for (let c = 0; c <= maxCount; c += step) {
    parts.push(
      `<line x1="${left}" y1="${coord(y(c))}" x2="${width - right}" y2="${coord(y(c))}" stroke="#d9d6cf"/>`,
      `<text x="${left - 6}" y="${coord(y(c) + 4)}" text-anchor="end" fill="#4a5163">${c}</text>`,
    );
  }
  input.bins.forEach((bin, i) => {
    const x = left + i * barW;
    if (bin.count > 0) {
      parts.push(
        `<rect x="${coord(x + 1.5)}" y="${coord(y(bin.count))}" width="${coord(barW - 3)}" height="${coord(top + plotH - y(bin.count))}" fill="${INK}"><title>${escapeHtml(`${signed(bin.from)} to ${signed(bin.to)}: ${bin.count}`)}</title></rect>`,
        `<text x="${coord(x + barW / 2)}" y="${coord(y(bin.count) - 5)}" text-anchor="middle" fill="#1f2430">${bin.count}</text>`,
      );
    }
  });
  // Label every edge when there is room, else every other one.
  const every = input.bins.length > 8 ? 2 : 1;
  input.bins.forEach((bin, i) => {
    if (i % every === 0) {
      parts.push(
        `<text x="${coord(left + i * barW)}" y="${coord(top + plotH + 18)}" text-anchor="middle" fill="#4a5163">${escapeHtml(signed(bin.from))}</text>`,
      );
    }
  });
  const last = input.bins.at(-1);
  if (last && input.bins.length % every === 0) {
    parts.push(
      `<text x="${coord(left + input.bins.length * barW)}" y="${coord(top + plotH + 18)}" text-anchor="middle" fill="#4a5163">${escapeHtml(signed(last.to))}</text>`,
    );
  }
  const zeroIndex = input.bins.findIndex((b) => b.from === 0);
  if (zeroIndex >= 0) {
    const zx = left + zeroIndex * barW;
    parts.push(
      `<line x1="${coord(zx)}" y1="${top - 8}" x2="${coord(zx)}" y2="${coord(top + plotH)}" stroke="#1f2430" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    );
  }
  parts.push(
    `<text x="${coord(left + plotW / 2)}" y="${height - 8}" text-anchor="middle" fill="#1f2430">${escapeHtml(input.valueLabel)}</text>`,
    '</svg>',
  );
  const table = dataTable({
    caption: input.title,
    columns: [input.valueLabel, input.countLabel],
    rows: input.bins.map((bin) => [
      { text: `${signed(bin.from)} to ${signed(bin.to)}` },
      { text: String(bin.count), numeric: true },
    ]),
  });
  return { svg: parts.join(''), table };
}
