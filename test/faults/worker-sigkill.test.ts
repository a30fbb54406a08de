import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import {
  advisoryLocksHeld,
  listeningSurveyApp,
  spawnWorker,
  terminate,
  until,
  type Child,
} from './harness.ts';
import { checkInvariants } from './invariants.ts';
import { openCycleWithRaters, submitAll } from './raters.ts';

describe('fault: the worker is killed (SIGKILL) in the middle of an aggregation', () => {
  let t: TestDatabase;
  let survey: Awaited<ReturnType<typeof listeningSurveyApp>>;
  const prefix = queuePrefix();
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    survey = await listeningSurveyApp({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => terminate(child, 'SIGKILL')));
    await survey?.close();
    await t?.drop();
  });

  it(
    'rolls the half-done work back, and a restarted worker stores what a clean run stores',
    { timeout: 90_000 },
    async () => {
      const cycle = await openCycleWithRaters(t.db, { leaders: 3, peers: 3, reports: 3 });
      // Every response is in before any worker runs, so a clean run stores exactly one version per leader.
      const report = await submitAll(survey.baseUrl, cycle.instrument, cycle.tokens);
      expect(report.acknowledged.size).toBe(cycle.tokens.length);

      // This worker computes a profile, then sleeps inside its transaction, holding the subject's lock.
      const doomed = spawnWorker({
        databaseUrl: t.url,
        redisUrl: redisUrl(),
        prefix,
        extra: { PANORAMA_TEST_JOB_DELAY_MS: '20000' },
      });
      children.push(doomed);
      await until(
        'an aggregation to be inside its transaction',
        async () => (await advisoryLocksHeld(t.db)) > 0,
      );
      await terminate(doomed, 'SIGKILL');
      // Postgres rolls the open transactions back when their connections drop.
      await until('the killed connections to go', async () => (await advisoryLocksHeld(t.db)) === 0);
      expect(await t.db.selectFrom('profile_snapshots').selectAll().execute()).toEqual([]);

      // A fresh worker picks the stalled jobs up once their locks run out.
      const restarted = spawnWorker({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
      children.push(restarted);
      const summary = await checkInvariants({ db: t.db, redisUrl: redisUrl(), prefix, report });
      expect(summary).toMatchObject({ responses: cycle.tokens.length, subjects: 3 });
      expect(summary.completed).toBeGreaterThanOrEqual(5);

      // What a clean run stores: one version per leader (every response was in before the first run).
      const versions = await t.db
        .selectFrom('profile_snapshots')
        .select(['subject_id', 'version'])
        .orderBy('subject_id')
        .execute();
      expect(versions.map((v) => v.version)).toEqual([1, 1, 1]);
      expect(restarted.alive(), restarted.output()).toBe(true);
      expect(await terminate(restarted), restarted.output()).toBe(0);
    },
  );
});
