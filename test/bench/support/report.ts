import type { BenchInfra } from './infra.ts';

/** One line of the results table. */
export interface Figure {
  scenario: string;
  figure: string;
  value: number | null;
  unit: string;
  /** The same figure for the baseline measured in the same run. */
  baseline?: number | null;
  baselineLabel?: string;
  /** value / baseline, or baseline / value for "lower is better" figures, as the target reads. */
  ratio?: number | null;
  target?: string;
  met?: boolean | null;
}

export interface ScenarioResult {
  figures: Figure[];
  details: Record<string, unknown>;
}

export interface BenchArgs {
  leaders: number;
  concurrency: number;
  stepSeconds: number;
}

export interface BenchContext {
  infra: BenchInfra;
  args: BenchArgs;
  log(line: string): void;
}

export type Scenario = (context: BenchContext) => Promise<ScenarioResult>;

const cell = (value: unknown) => (value === null || value === undefined ? '' : String(value));

/** The results as a Markdown table (the same figures as the JSON). */
export function table(figures: readonly Figure[]): string {
  const header = ['scenario', 'figure', 'value', 'baseline', 'ratio', 'target', 'met'];
  const rows = figures.map((f) => [
    f.scenario,
    f.figure,
    `${cell(f.value)} ${f.unit}`.trim(),
    f.baselineLabel ? `${cell(f.baseline)} ${f.unit} (${f.baselineLabel})` : cell(f.baseline),
    cell(f.ratio),
    cell(f.target),
    f.met === undefined || f.met === null ? '' : f.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
