/**
 * Bulk aggregation of a generated cycle (`--leaders`, 12 responses and about 528 ratings each):
 *   - baseline: one raw `GROUP BY subject, competency, relationship` over every rating of the cycle;
 *   - cycle path: `createAggregateCycle` (chunked bulk reads, the same buildProfile, multi-row inserts);
 *   - per-subject path: an aggregate-subject job per leader through BullMQ and the worker's handlers, as
 *     closing a cycle runs it today (no coalescing delay: the bench measures work, not the burst window).
 * Both paths store identical profiles (test/integration/worker-bulk-aggregation.test.ts).
 */
import { sql } from 'kysely';
import { loadConfig } from '@panorama/config';
import { planJob } from '@panorama/jobs';
import { createWorkerLogger, startWorker, workerProcessEnv } from '@panorama/worker';
import { createAggregateCycle } from '../../../services/worker/src/handlers/aggregate-cycle.ts';
import { createInstrumentCache } from '../../../services/worker/src/handlers/instruments.ts';
import { generateCycle } from '../support/cycle.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';
import { round } from '../support/stats.ts';
import type { Db } from '@panorama/db';

const PER_SUBJECT_TIMEOUT_MS = 20 * 60_000;

export async function groupByBaseline(db: Db, cycleId: string) {
  const started = performance.now();
  const grouped = await sql<{ n: number }>`
    select count(*)::int as n from (
      select r.subject_id, rr.competency_id, r.relationship, count(rr.value) as n, avg(rr.value) as mean,
             stddev_samp(rr.value) as sd
      from response_ratings rr join responses r on r.id = rr.response_id
      where r.cycle_id = ${cycleId}
      group by r.subject_id, rr.competency_id, r.relationship) g`.execute(db);
  return { ms: performance.now() - started, groups: grouped.rows[0]!.n };
}

/** Every subject of the cycle through aggregate-subject jobs on BullMQ; resolves when all are stored. */
export async function perSubjectJobs(
  context: BenchContext,
  input: { db: Db; url: string; cycleId: string; prefix: string },
) {
  const config = loadConfig(
    workerProcessEnv,
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: input.url,
      DATABASE_POOL_SIZE: String(context.args.concurrency + 2),
      REDIS_URL: context.infra.redis.url,
      QUEUE_PREFIX: input.prefix,
      APP_SECRET: 'bench-secret-'.padEnd(48, 'x'),
      WORKER_CONCURRENCY: String(context.args.concurrency),
    },
    'bench',
  );
  const worker = await startWorker(config, { logger: createWorkerLogger('warn'), schedule: false });
  try {
    const subjects = await input.db
      .selectFrom('subjects')
      .select('id')
      .where('cycle_id', '=', input.cycleId)
      .execute();
    const started = performance.now();
    const queue = worker.producer.queue('aggregate');
    for (let i = 0; i < subjects.length; i += 1_000) {
      await queue.addBulk(
        subjects.slice(i, i + 1_000).map((s) => {
          const planned = planJob('aggregate-subject', { subjectId: s.id });
          return { name: planned.name, data: planned.data, opts: { ...planned.options, delay: 0 } };
        }),
      );
    }
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const done = (
        await sql<{ n: number }>`
          select count(distinct ps.subject_id)::int as n from profile_snapshots ps
          join subjects s on s.id = ps.subject_id where s.cycle_id = ${input.cycleId}`.execute(input.db)
      ).rows[0]!.n;
      if (done >= subjects.length) break;
      if (performance.now() - started > PER_SUBJECT_TIMEOUT_MS) throw new Error('per-subject path timed out');
    }
    return { ms: performance.now() - started, jobs: subjects.length };
  } finally {
    await worker.close();
  }
}

export async function aggregation(context: BenchContext): Promise<ScenarioResult> {
  const { leaders } = context.args;
  const { db, url } = await context.infra.database('bench_aggregation', context.args.concurrency + 2);
  let started = performance.now();
  const cycle = await generateCycle(db, { leaders });
  context.log(
    `generated ${leaders} leaders, ${cycle.responses} responses, ${cycle.ratings} ratings in ${round((performance.now() - started) / 1000)} s`,
  );

  const baseline = await groupByBaseline(db, cycle.cycleId);
  context.log(`raw GROUP BY: ${baseline.groups} groups in ${round(baseline.ms / 1000, 2)} s`);

  const aggregateCycle = createAggregateCycle({
    db,
    instruments: createInstrumentCache(db),
    anonymityK: 3,
    producer: { add: async () => {} },
    logger: createWorkerLogger('warn'),
  });
  started = performance.now();
  const outcome = await aggregateCycle({ cycleId: cycle.cycleId }, { log: () => {} });
  const cycleMs = performance.now() - started;
  context.log(`cycle path: ${outcome.created} profiles in ${round(cycleMs / 1000, 2)} s`);
  const bytes = (
    await sql<{
      bytes: number;
    }>`select avg(pg_column_size(data))::int as bytes from profile_snapshots`.execute(db)
  ).rows[0]!.bytes;

  // Same subjects again through the per-subject jobs, from no profiles.
  await sql`truncate profile_snapshots, job_outbox`.execute(db);
  const perSubject = await perSubjectJobs(context, {
    db,
    url,
    cycleId: cycle.cycleId,
    prefix: 'bench-aggregation',
  });
  context.log(`per-subject jobs: ${perSubject.jobs} profiles in ${round(perSubject.ms / 1000, 2)} s`);

  const perSecond = (ms: number) => Math.round(cycle.ratings / (ms / 1000));
  const cycleRatio = round(cycleMs / baseline.ms, 2);
  return {
    figures: [
      {
        scenario: 'aggregation',
        figure: `cycle path, ${leaders} leaders (time / GROUP BY time)`,
        value: perSecond(cycleMs),
        unit: 'ratings/s',
        baseline: perSecond(baseline.ms),
        baselineLabel: 'raw GROUP BY',
        ratio: cycleRatio,
        target: '<= 2',
        met: cycleRatio <= 2,
      },
      {
        scenario: 'aggregation',
        figure: `per-subject jobs, ${leaders} leaders (time / GROUP BY time)`,
        value: perSecond(perSubject.ms),
        unit: 'ratings/s',
        baseline: perSecond(baseline.ms),
        baselineLabel: 'raw GROUP BY',
        ratio: round(perSubject.ms / baseline.ms, 2),
      },
    ],
    details: {
      leaders,
      responses: cycle.responses,
      ratings: cycle.ratings,
      concurrency: context.args.concurrency,
      groupByMs: Math.round(baseline.ms),
      cyclePathMs: Math.round(cycleMs),
      perSubjectMs: Math.round(perSubject.ms),
      cyclePathLeadersPerSecond: round(leaders / (cycleMs / 1000)),
      perSubjectLeadersPerSecond: round(leaders / (perSubject.ms / 1000)),
      storedProfileBytesAvg: bytes,
    },
  };
}
