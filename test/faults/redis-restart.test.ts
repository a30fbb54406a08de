import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queuePrefix, type TestDatabase } from '../support/fixtures.ts';
import {
  listeningSurveyApp,
  ownRedis,
  spawnWorker,
  tempRoot,
  terminate,
  until,
  type Child,
} from './harness.ts';
import { checkInvariants } from './invariants.ts';
import { acknowledgedCount, describeReport, driveLoad, emptyReport, openCycleWithRaters } from './raters.ts';

describe('fault: Redis restarts while raters are submitting', () => {
  const root = tempRoot('redis');
  const prefix = queuePrefix();
  let redis: Awaited<ReturnType<typeof ownRedis>>;
  let t: TestDatabase;
  let survey: Awaited<ReturnType<typeof listeningSurveyApp>>;
  let worker: Child | undefined;

  beforeAll(async () => {
    redis = await ownRedis(root.dir);
    t = await createTestDatabase();
    survey = await listeningSurveyApp({ databaseUrl: t.url, redisUrl: redis.url, prefix });
  });
  afterAll(async () => {
    if (worker) await terminate(worker, 'SIGKILL');
    await survey?.close();
    await t?.drop();
    await redis?.stop();
    root.remove();
  });

  it(
    'keeps accepting submissions (or answers 503 with Retry-After), and the worker resumes and drains the backlog',
    { timeout: 120_000 },
    async () => {
      const cycle = await openCycleWithRaters(t.db, { leaders: 4, peers: 10, reports: 6 });
      worker = spawnWorker({ databaseUrl: t.url, redisUrl: redis.url, prefix });

      const report = emptyReport();
      let stop = false;
      const load = driveLoad({
        baseUrl: survey.baseUrl,
        instrument: cycle.instrument,
        tokens: cycle.tokens,
        concurrency: 4,
        stop: () => stop,
        deadline: Date.now() + 60_000,
        report,
      });
      const answered = () => acknowledgedCount(report) + (report.statuses.get(503) ?? 0);
      try {
        await until(
          () => `some submissions before the restart: ${describeReport(report)}`,
          async () => acknowledgedCount(report) >= 6,
        );
        // First a clean restart (the AOF flushed on SIGTERM), then a crash (SIGKILL).
        for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
          await redis.stop(signal);
          const before = answered();
          // Raters keep going while Redis is down; give them a few answers' worth of time.
          await until(
            () => `answers while Redis is down (${signal}): ${describeReport(report)}`,
            async () => answered() >= before + 4,
            15_000,
          );
          const backlog = await t.db
            .selectFrom('job_outbox')
            .select(t.db.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow();
          expect(
            backlog.n,
            `jobs waiting in the job outbox while Redis was down (${signal})`,
          ).toBeGreaterThan(0);
          await redis.start();

          const after = acknowledgedCount(report);
          await until(
            () => `submissions after the restart (${signal}): ${describeReport(report)}`,
            async () => acknowledgedCount(report) >= after + 6,
            30_000,
          );
        }
      } finally {
        stop = true;
        await load;
      }

      expect(report.statuses.get(500) ?? 0, 'requests answered 500').toBe(0);
      expect(report.unavailableWithoutRetryAfter, '503 answers without Retry-After').toBe(0);
      // The worker was never restarted: it reconnected by itself and drained what piled up.
      // Completions recorded while Redis was down are held by the survey and go to Redis when it is back,
      // or to Postgres in batches: every batch rule holds with its default minimum.
      const summary = await checkInvariants({ db: t.db, redisUrl: redis.url, prefix, report });
      expect(summary.responses).toBeGreaterThanOrEqual(18);
      expect(worker.alive(), worker.output()).toBe(true);
      expect(await terminate(worker), worker.output()).toBe(0);
    },
  );
});
