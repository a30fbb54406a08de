/**
 * Worker throughput: aggregate-subject jobs per second through BullMQ and the real handlers (a generated
 * cycle of `--leaders / 4` leaders), against empty jobs on the same Redis with the same concurrency.
 */
import { Queue, Worker } from 'bullmq';
import { createRedis } from '@panorama/jobs';
import { generateCycle } from '../support/cycle.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';
import { round } from '../support/stats.ts';
import { perSubjectJobs } from './aggregation.ts';

const EMPTY_JOBS = 5_000;

async function emptyJobs(context: BenchContext) {
  const connection = createRedis(context.infra.redis.url, 'worker');
  const prefix = 'bench-empty';
  const queue = new Queue('empty', { connection, prefix });
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    'empty',
    async () => {
      if (++done === EMPTY_JOBS) finish();
    },
    { connection, prefix, concurrency: context.args.concurrency, autorun: false },
  );
  try {
    for (let i = 0; i < EMPTY_JOBS; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: 1_000 }, (_, j) => ({
          name: 'empty',
          data: { n: i + j },
          opts: { removeOnComplete: true },
        })),
      );
    }
    const started = performance.now();
    void worker.run();
    await finished;
    return { ms: performance.now() - started, jobs: EMPTY_JOBS };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  }
}

export async function workerThroughput(context: BenchContext): Promise<ScenarioResult> {
  const leaders = Math.max(100, Math.round(context.args.leaders / 4));
  const { db, url } = await context.infra.database('bench_worker', context.args.concurrency + 2);
  const cycle = await generateCycle(db, { leaders });
  const aggregate = await perSubjectJobs(context, {
    db,
    url,
    cycleId: cycle.cycleId,
    prefix: 'bench-worker',
  });
  const empty = await emptyJobs(context);
  const aggregatePerSecond = round(aggregate.jobs / (aggregate.ms / 1000));
  const emptyPerSecond = round(empty.jobs / (empty.ms / 1000));
  context.log(`aggregate-subject ${aggregatePerSecond} jobs/s; empty ${emptyPerSecond} jobs/s`);
  return {
    figures: [
      {
        scenario: 'worker',
        figure: `aggregate-subject jobs (${leaders} leaders, concurrency ${context.args.concurrency})`,
        value: aggregatePerSecond,
        unit: 'jobs/s',
        baseline: emptyPerSecond,
        baselineLabel: 'empty BullMQ jobs',
        ratio: round(aggregatePerSecond / emptyPerSecond, 3),
      },
    ],
    details: {
      leaders,
      aggregateMs: Math.round(aggregate.ms),
      emptyMs: Math.round(empty.ms),
      emptyJobs: EMPTY_JOBS,
    },
  };
}
