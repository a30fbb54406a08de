import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRepository } from '@panorama/db';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import {
  listeningSurveyApp,
  smtpSink,
  spawnWorker,
  terminate,
  testProducer,
  until,
  type Child,
} from './harness.ts';
import { checkInvariants } from './invariants.ts';
import { openCycleWithRaters, submitAll } from './raters.ts';

describe('fault: the SMTP server is down for a while', () => {
  let t: TestDatabase;
  let survey: Awaited<ReturnType<typeof listeningSurveyApp>>;
  let queues: ReturnType<typeof testProducer>;
  const prefix = queuePrefix();
  const smtp = smtpSink();
  let worker: Child | undefined;

  beforeAll(async () => {
    t = await createTestDatabase();
    survey = await listeningSurveyApp({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
    queues = testProducer(redisUrl(), prefix);
  });
  afterAll(async () => {
    if (worker) await terminate(worker, 'SIGKILL');
    await smtp.stop();
    await queues?.close();
    await survey?.close();
    await t?.drop();
  });

  it('sends every email once it is back, each exactly once', { timeout: 90_000 }, async () => {
    // Take a port for the mail server, then take the server down before any email is sent.
    await smtp.start();
    await smtp.stop();
    const cycle = await openCycleWithRaters(t.db, { leaders: 2, peers: 3, reports: 2 });
    const emails = await t.db.selectFrom('email_outbox').select(['id', 'to_address']).execute();
    expect(emails.length).toBeGreaterThanOrEqual(12);

    worker = spawnWorker({
      databaseUrl: t.url,
      redisUrl: redisUrl(),
      prefix,
      extra: { SMTP_URL: `smtp://127.0.0.1:${smtp.port}` },
    });
    // Push the delivery jobs now rather than wait for the sweeper's first round.
    await outboxRepository.drainJobs(t.db, (job) => queues.producer.add(job));
    // Raters are not held up by the mail outage.
    const report = await submitAll(survey.baseUrl, cycle.instrument, cycle.tokens.slice(0, 6));

    // Every email has failed at least twice: the outage lasted a while.
    await until(
      'every email to fail twice',
      async () => {
        const rows = await t.db.selectFrom('email_outbox').select(['attempts', 'status']).execute();
        return rows.every((r) => r.status === 'queued' && r.attempts >= 2);
      },
      45_000,
    );
    expect(smtp.delivered).toEqual([]);

    await smtp.start();
    await until(
      () => `every email to be sent: ${worker?.output()}`,
      async () => {
        const rows = await t.db.selectFrom('email_outbox').select('status').execute();
        return rows.every((r) => r.status === 'sent');
      },
      60_000,
    );
    // checkInvariants waits for the email queue to drain, so a late duplicate would be counted below.
    await checkInvariants({ db: t.db, redisUrl: redisUrl(), prefix, report });

    const deliveries = new Map<string, number>();
    for (const d of smtp.delivered) deliveries.set(d.to, (deliveries.get(d.to) ?? 0) + 1);
    expect(Object.fromEntries(deliveries)).toEqual(Object.fromEntries(emails.map((e) => [e.to_address, 1])));
    const failed = await t.db.selectFrom('email_outbox').select('id').where('status', '!=', 'sent').execute();
    expect(failed).toEqual([]);
    expect(await terminate(worker), worker.output()).toBe(0);
  });
});

describe('fault: the SMTP server is down for longer than the retry budget', () => {
  let t: TestDatabase;
  let queues: ReturnType<typeof testProducer>;
  const prefix = queuePrefix();
  const smtp = smtpSink();
  let worker: Child | undefined;

  beforeAll(async () => {
    t = await createTestDatabase();
    queues = testProducer(redisUrl(), prefix);
  });
  afterAll(async () => {
    if (worker) await terminate(worker, 'SIGKILL');
    await smtp.stop();
    await queues?.close();
    await t?.drop();
  });

  it(
    'keeps every email queued through the outage, then sends each exactly once',
    { timeout: 150_000 },
    async () => {
      await smtp.start();
      await smtp.stop();
      await openCycleWithRaters(t.db, { leaders: 1, peers: 3, reports: 0 });
      const emails = await t.db.selectFrom('email_outbox').select(['id', 'to_address']).execute();
      expect(emails.length).toBeGreaterThanOrEqual(4);

      // The budget shortened (two attempts a job, the next spell due at once), not the clock: the outage
      // below outlasts it twice over, as an outage of hours would outlast the real one.
      worker = spawnWorker({
        databaseUrl: t.url,
        redisUrl: redisUrl(),
        prefix,
        extra: {
          SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
          PANORAMA_TEST_EMAIL_ATTEMPTS: '2',
          PANORAMA_TEST_EMAIL_RETRY_MS: '0',
        },
      });
      await outboxRepository.drainJobs(t.db, (job) => queues.producer.add(job));
      await until(
        () => `every email to outlast the retry budget twice: ${worker?.output()}`,
        async () => {
          const rows = await t.db.selectFrom('email_outbox').select(['rounds', 'status']).execute();
          return rows.every((r) => r.status === 'queued' && r.rounds >= 2);
        },
        90_000,
      );
      expect(smtp.delivered).toEqual([]);
      const rows = await t.db.selectFrom('email_outbox').select(['status', 'payload']).execute();
      expect(rows.every((r) => r.status === 'queued' && r.payload !== null)).toBe(true);

      await smtp.start();
      await until(
        () => `every email to be sent: ${worker?.output()}`,
        async () => {
          const sent = await t.db.selectFrom('email_outbox').select('status').execute();
          return sent.every((r) => r.status === 'sent');
        },
        45_000,
      );
      await until(
        'the email queue to drain',
        async () => {
          const counts = await queues.producer.queue('email').getJobCounts('waiting', 'delayed', 'active');
          return Object.values(counts).every((n) => n === 0);
        },
        20_000,
      );
      const deliveries = new Map<string, number>();
      for (const d of smtp.delivered) deliveries.set(d.to, (deliveries.get(d.to) ?? 0) + 1);
      expect(Object.fromEntries(deliveries)).toEqual(
        Object.fromEntries(emails.map((e) => [e.to_address, 1])),
      );
      expect(await terminate(worker), worker.output()).toBe(0);
    },
  );
});
