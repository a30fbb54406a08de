/**
 * Every benchmark with its baseline measured in the same run, on loopback only, against an ephemeral
 * Postgres and redis-server of its own. Prints a table and writes the same figures as JSON.
 *
 *   pnpm bench [--only ingest,aggregation] [--leaders 2000] [--concurrency 4] [--step-seconds 5]
 *              [--out test/bench/results/latest.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { aggregation } from './scenarios/aggregation.ts';
import { endToEnd } from './scenarios/end-to-end.ts';
import { ingest } from './scenarios/ingest.ts';
import { memory } from './scenarios/memory.ts';
import { reportRender } from './scenarios/report-render.ts';
import { workerThroughput } from './scenarios/worker.ts';
import { startBenchInfra } from './support/infra.ts';
import { table, type Figure, type Scenario } from './support/report.ts';
import { mib, peakRssBytes } from './support/stats.ts';

const SCENARIOS: Record<string, Scenario> = {
  ingest,
  'end-to-end': endToEnd,
  aggregation,
  'report-render': reportRender,
  worker: workerThroughput,
  memory,
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    leaders: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '4' },
    'step-seconds': { type: 'string', default: '5' },
    out: { type: 'string', default: path.resolve(import.meta.dirname, 'results/latest.json') },
  },
});
const only = values.only?.split(',') ?? Object.keys(SCENARIOS);
for (const name of only) if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name}`);

const log = (line: string) => console.error(`[bench] ${line}`);
const machine = {
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
log(`machine: ${JSON.stringify(machine)}`);

const infra = await startBenchInfra();
const figures: Figure[] = [];
const details: Record<string, unknown> = {};
const startedAt = new Date();
try {
  for (const name of only) {
    log(`--- ${name}`);
    const started = performance.now();
    const result = await SCENARIOS[name]!({
      infra,
      log: (line) => log(`${name}: ${line}`),
      args: {
        leaders: Number(values.leaders),
        concurrency: Number(values.concurrency),
        stepSeconds: Number(values['step-seconds']),
      },
    });
    figures.push(...result.figures);
    details[name] = { ...result.details, seconds: Math.round((performance.now() - started) / 1000) };
  }
} finally {
  await infra.stop();
}
figures.push({
  scenario: 'memory',
  figure: 'peak RSS of the bench process',
  value: mib(peakRssBytes()),
  unit: 'MiB',
});

const output = {
  startedAt: startedAt.toISOString(),
  command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  figures,
  details,
};
mkdirSync(path.dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(output, null, 2)}\n`);
console.log(table(figures));
log(`written to ${values.out}`);
