import { createDb, type Db } from '@panorama/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuePrefix, redisUrl } from '../support/fixtures.ts';
import {
  listeningSurveyApp,
  ownPostgres,
  sleep,
  spawnWorker,
  tempRoot,
  terminate,
  until,
  type Child,
} from './harness.ts';
import { checkInvariants } from './invariants.ts';
import {
  acknowledgedCount,
  describeReport,
  driveLoad,
  emptyReport,
  openCycleWithRaters,
  request,
} from './raters.ts';

describe('fault: Postgres restarts while raters are submitting', () => {
  const root = tempRoot('pg');
  const prefix = queuePrefix();
  let pg: Awaited<ReturnType<typeof ownPostgres>>;
  let db: Db;
  let survey: Awaited<ReturnType<typeof listeningSurveyApp>>;
  let worker: Child | undefined;

  beforeAll(async () => {
    pg = await ownPostgres(root.dir);
    db = createDb({ connectionString: pg.url, max: 3 });
    survey = await listeningSurveyApp({ databaseUrl: pg.url, redisUrl: redisUrl(), prefix });
  });
  afterAll(async () => {
    if (worker) await terminate(worker, 'SIGKILL');
    await survey?.close();
    await db?.destroy();
    await pg?.stop();
    root.remove();
  });

  it(
    'answers 503 with Retry-After while it is down (never 500, never a partial row), then recovers without a restart',
    { timeout: 150_000 },
    async () => {
      const cycle = await openCycleWithRaters(db, { leaders: 4, peers: 10, reports: 6 });
      worker = spawnWorker({ databaseUrl: pg.url, redisUrl: redisUrl(), prefix });

      const report = emptyReport();
      let stop = false;
      const load = driveLoad({
        baseUrl: survey.baseUrl,
        instrument: cycle.instrument,
        tokens: cycle.tokens,
        concurrency: 4,
        stop: () => stop,
        deadline: Date.now() + 90_000,
        report,
      });
      try {
        await until(
          () => `some submissions before the restart: ${describeReport(report)}`,
          async () => acknowledgedCount(report) >= 6,
        );
        // First a clean restart (open transactions aborted, clients cut off), then a crash with WAL replay.
        for (const mode of ['fast', 'immediate'] as const) {
          await pg.stop(mode);
          const unavailableBefore = report.statuses.get(503) ?? 0;
          await until(
            () => `503 answers while Postgres is down (${mode}): ${describeReport(report)}`,
            async () => (report.statuses.get(503) ?? 0) >= unavailableBefore + 4,
            20_000,
          );
          await sleep(500);
          await pg.start();

          const after = acknowledgedCount(report);
          await until(
            () => `submissions after the restart (${mode}): ${describeReport(report)}`,
            async () => acknowledgedCount(report) >= after + 6,
            40_000,
          );
        }
      } finally {
        stop = true;
        await load;
      }

      // On failure, the app's last logged errors say what the 500 was.
      const lastErrors = survey.errors().slice(-5).join('');
      expect(report.statuses.get(500) ?? 0, `500s: ${describeReport(report)}\n${lastErrors}`).toBe(0);
      expect(report.unavailableWithoutRetryAfter, '503 answers without Retry-After').toBe(0);
      expect(Object.fromEntries(report.networkErrors), 'broken connections').toEqual({});
      // The same app, never restarted, is ready again: its pool replaced the connections Postgres cut.
      expect((await request(survey.baseUrl, 'GET', '/readyz')).status).toBe(200);

      const summary = await checkInvariants({ db, redisUrl: redisUrl(), prefix, report, drainMs: 90_000 });
      expect(summary.responses).toBeGreaterThanOrEqual(18);
      expect(worker.alive(), worker.output()).toBe(true);
      expect(await terminate(worker), worker.output()).toBe(0);
    },
  );
});
