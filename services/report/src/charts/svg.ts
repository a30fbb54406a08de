const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#x27;',
  '`': '&#x60;',
  '=': '&#x3D;',
};

/**
 * Escapes text for HTML and SVG element content and quoted attribute values, the same characters
 * Handlebars escapes. Every string that reaches markup built in TypeScript goes through it.
 */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => ESCAPES[c] ?? c);
}

/** A number for an SVG coordinate: at most two decimals, no exponent, no "-0". */
export function coord(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return Object.is(rounded, -0) ? '0' : String(rounded);
}

/**
 * Splits a label into at most `maxLines` lines of about `width` characters, on spaces; the last line ends
 * in an ellipsis when text is left over (the full label stays in the data table and the row's <title>).
 */
export function wrapLabel(label: string, width: number, maxLines = 2): string[] {
  const words = label.trim().split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let current = '';
  for (const word of words) {
    const next = current ? `${current} ${word}` : word;
    if (next.length <= width || !current) current = next;
    else {
      lines.push(current);
      current = word;
    }
  }
  if (current) lines.push(current);
  if (lines.length <= maxLines) return lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
  const kept = lines.slice(0, maxLines);
  const last = kept[maxLines - 1] ?? '';
  kept[maxLines - 1] = `${last.slice(0, Math.max(1, width - 1))}…`;
  return kept;
}

/** A marker shape a series is drawn with; shapes tell series apart without colour. */
export type MarkerShape = 'circle' | 'diamond' | 'square' | 'triangle';

/** SVG for one marker centred on (x, y) with "radius" r. */
export function marker(shape: MarkerShape, x: number, y: number, r: number, fill: string): string {
  const stroke = `fill="${escapeHtml(fill)}" stroke="#ffffff" stroke-width="1.5"`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${coord(x)}" cy="${coord(y)}" r="${coord(r)}" ${stroke}/>`;
    case 'square': {
      const s = r * 0.9;
      return `<rect x="${coord(x - s)}" y="${coord(y - s)}" width="${coord(2 * s)}" height="${coord(2 * s)}" ${stroke}/>`;
    }
    case 'diamond': {
      const d = r * 1.2;
      return `<path d="M${coord(x)} ${coord(y - d)}L${coord(x + d)} ${coord(y)}L${coord(x)} ${coord(y + d)}L${coord(x - d)} ${coord(y)}Z" ${stroke}/>`;
    }
    case 'triangle': {
      const t = r * 1.2;
      return `<path d="M${coord(x)} ${coord(y - t)}L${coord(x + t)} ${coord(y + t * 0.8)}L${coord(x - t)} ${coord(y + t * 0.8)}Z" ${stroke}/>`;
    }
  }
}

/** A small standalone SVG of one marker, for legends printed in HTML. */
export function legendSwatch(shape: MarkerShape, fill: string): string {
  return `<svg class="legend-swatch" viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" focusable="false">${marker(shape, 10, 10, 6.5, fill)}</svg>`;
}

/** One cell of a data table behind a chart. */
export interface TableCell {
  text: string;
  numeric?: boolean;
  muted?: boolean;
}

/** A data table with escaped content: a caption, column headers and rows whose first cell is a row header. */
export function dataTable(input: {
  caption: string;
  columns: string[];
  rows: TableCell[][];
  className?: string;
}) {
  const head = input.columns
    .map((c, i) => `<th scope="col"${i > 0 ? ' class="num"' : ''}>${escapeHtml(c)}</th>`)
    .join('');
  const body = input.rows
    .map((row) => {
      const cells = row
        .map((cell, i) => {
          const classes = [cell.numeric ? 'num' : '', cell.muted ? 'muted' : ''].filter(Boolean).join(' ');
          const attr = classes ? ` class="${classes}"` : '';
          return i === 0
            ? `<th scope="row"${attr}>${escapeHtml(cell.text)}</th>`
            : `<td${attr}>${escapeHtml(cell.text)}</td>`;
        })
        .join('');
      return `<tr>${cells}</tr>`;
    })
    .join('');
  const cls = escapeHtml(input.className ?? 'chart-table');
  return `<div class="table-wrap" tabindex="0" role="region" aria-label="${escapeHtml(input.caption)}"><table class="${cls}"><caption>${escapeHtml(input.caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
