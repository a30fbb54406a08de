/**
 * Memory: the worker as its own process (`services/worker/src/main.ts`, configured by environment as in
 * production) aggregating a programme with a baseline and a follow-up cycle, at two cohort sizes; its peak
 * RSS (VmHWM) at each. The cohort roll-up and the changes run too, so every handler the cohort size can
 * reach is in the figure. Flat means the larger cohort's peak is within 25% of the smaller one's.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { createProducer, createRedis, planJob } from '@panorama/jobs';
import type { Db } from '@panorama/db';
import { generateCycle } from '../support/cycle.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';
import { mib, peakRssOf, round } from '../support/stats.ts';

const TIMEOUT_MS = 15 * 60_000;

async function idle(db: Db, count: () => Promise<number>) {
  let quiet = 0;
  while (quiet < 8) {
    await new Promise((r) => setTimeout(r, 250));
    const busy =
      (await count()) +
      Number((await sql<{ n: number }>`select count(*)::int as n from job_outbox`.execute(db)).rows[0]!.n);
    quiet = busy === 0 ? quiet + 1 : 0;
  }
}

async function peakAt(context: BenchContext, leaders: number) {
  const name = `bench_memory_${leaders}`;
  const { db, url } = await context.infra.database(name, 2);
  const cycle = await generateCycle(db, { leaders, followUp: true, slug: name });
  const prefix = `bench-memory-${leaders}`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.resolve(import.meta.dirname, '../../../services/worker/src/main.ts')],
    {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: url,
        DATABASE_POOL_SIZE: String(context.args.concurrency + 2),
        REDIS_URL: context.infra.redis.url,
        QUEUE_PREFIX: prefix,
        APP_SECRET: 'bench-secret-'.padEnd(48, 'x'),
        WORKER_CONCURRENCY: String(context.args.concurrency),
        OUTBOX_DIR: path.join(context.infra.root, 'outbox'),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const connection = createRedis(context.infra.redis.url, 'producer');
  const producer = createProducer({ connection, prefix });
  try {
    const subjects = await db.selectFrom('subjects').select('id').execute();
    const started = performance.now();
    const queue = producer.queue('aggregate');
    for (let i = 0; i < subjects.length; i += 1_000) {
      await queue.addBulk(
        subjects.slice(i, i + 1_000).map((s) => {
          const planned = planJob('aggregate-subject', { subjectId: s.id });
          return { name: planned.name, data: planned.data, opts: { ...planned.options, delay: 0 } };
        }),
      );
    }
    await Promise.race([
      idle(db, async () => {
        const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
        return Object.values(counts).reduce((a, b) => a + b, 0);
      }),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('memory scenario timed out')), TIMEOUT_MS).unref(),
      ),
    ]);
    const peak = peakRssOf(child.pid!);
    const cohort = await sql<{ n: number }>`select count(*)::int as n from cohort_results`.execute(db);
    context.log(
      `${leaders} leaders (x2 cycles): worker peak RSS ${mib(peak)} MiB, ${round((performance.now() - started) / 1000)} s, ${cohort.rows[0]!.n} cohort versions`,
    );
    return { leaders, subjects: subjects.length, peakRssBytes: peak, programmeId: cycle.programmeId };
  } finally {
    await producer.close();
    connection.disconnect();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

export async function memory(context: BenchContext): Promise<ScenarioResult> {
  const large = Math.max(200, Math.round(context.args.leaders / 2));
  const small = Math.round(large / 4);
  const a = await peakAt(context, small);
  const b = await peakAt(context, large);
  const growth = a.peakRssBytes && b.peakRssBytes ? round(b.peakRssBytes / a.peakRssBytes, 2) : null;
  return {
    figures: [
      {
        scenario: 'memory',
        figure: `worker peak RSS, ${large} vs ${small} leaders (baseline + follow-up)`,
        value: mib(b.peakRssBytes),
        unit: 'MiB',
        baseline: mib(a.peakRssBytes),
        baselineLabel: `${small} leaders`,
        ratio: growth,
        target: 'flat (<= 1.25)',
        met: growth === null ? null : growth <= 1.25,
      },
    ],
    details: { small: a, large: b },
  };
}
