import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import {
  advisoryLocksHeld,
  listeningSurveyApp,
  spawnWorker,
  terminate,
  testProducer,
  until,
  type Child,
} from './harness.ts';
import { checkInvariants } from './invariants.ts';
import { openCycleWithRaters, submitAll } from './raters.ts';

describe('fault: the worker is asked to stop (SIGTERM) while jobs are running', () => {
  let t: TestDatabase;
  let survey: Awaited<ReturnType<typeof listeningSurveyApp>>;
  let queues: ReturnType<typeof testProducer>;
  const prefix = queuePrefix();
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    survey = await listeningSurveyApp({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
    queues = testProducer(redisUrl(), prefix);
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => terminate(child, 'SIGKILL')));
    await queues?.close();
    await survey?.close();
    await t?.drop();
  });

  it(
    'finishes the running jobs, exits 0 and leaves nothing active or stalled',
    { timeout: 90_000 },
    async () => {
      const cycle = await openCycleWithRaters(t.db, { leaders: 3, peers: 3, reports: 2 });
      const report = await submitAll(survey.baseUrl, cycle.instrument, cycle.tokens);
      expect(report.acknowledged.size).toBe(cycle.tokens.length);

      // Each aggregation holds its transaction open for 3 s after computing, so SIGTERM lands mid-job.
      const worker = spawnWorker({
        databaseUrl: t.url,
        redisUrl: redisUrl(),
        prefix,
        extra: { PANORAMA_TEST_JOB_DELAY_MS: '3000' },
      });
      children.push(worker);
      const aggregate = queues.producer.queue('aggregate');
      const running = await until('aggregations to be inside their transactions', async () => {
        if ((await advisoryLocksHeld(t.db)) === 0) return undefined;
        const active = await aggregate.getActive();
        return active.length > 0 && active.map((job) => (job.data as { subjectId: string }).subjectId);
      });
      worker.process.kill('SIGTERM');
      expect(await worker.exited, worker.output()).toBe(0);

      // The jobs that were running finished: their profiles are stored and nothing is left active or stalled.
      for (const subjectId of running) {
        const stored = await t.db
          .selectFrom('profile_snapshots')
          .select('version')
          .where('subject_id', '=', subjectId)
          .execute();
        expect(stored.length, `profile of subject ${subjectId}, whose job was running at SIGTERM`).toBe(1);
      }
      for (const name of ['aggregate', 'email', 'maintenance'] as const) {
        const queue = queues.producer.queue(name);
        expect((await queue.getJobCounts('active')).active, `${name} jobs left active`).toBe(0);
        expect(await queues.redis.scard(`${prefix}:${name}:stalled`), `${name} jobs marked stalled`).toBe(0);
      }
      expect(await advisoryLocksHeld(t.db)).toBe(0);

      // The next worker takes what was still waiting, and the results are those of a clean run.
      const next = spawnWorker({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
      children.push(next);
      const summary = await checkInvariants({ db: t.db, redisUrl: redisUrl(), prefix, report });
      expect(summary).toMatchObject({ responses: cycle.tokens.length, subjects: 3 });
      const versions = await t.db.selectFrom('profile_snapshots').select('version').execute();
      expect(versions.map((v) => v.version)).toEqual([1, 1, 1]);
      expect(await terminate(next), next.output()).toBe(0);
    },
  );
});
