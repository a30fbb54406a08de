import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRepository, personRepository, rosterRepository, type Db } from '@panorama/db';
import { deriveKeys, sealOutbox } from '@panorama/domain';
import { loadConfig } from '@panorama/config';
import { createProducer, createRedis, planJob } from '@panorama/jobs';
import { createWorkerLogger, startWorker, workerProcessEnv, type RunningWorker } from '@panorama/worker';
import { enqueueDelivery } from '../../services/worker/src/handlers/sweep-outboxes.ts';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';

const SECRET = 'worker-email-secret-'.padEnd(48, 'x');
const keys = deriveKeys(SECRET);

/** An SMTP server that answers RCPT with whatever `reply` says for that address, and records deliveries. */
function startSmtp() {
  const rcpt: string[] = [];
  const delivered: { to: string; body: string }[] = [];
  const state = { reply: (_address: string): number => 250 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      rcpt.push(address.address);
      const code = state.reply(address.address);
      if (code === 250) return callback();
      callback(
        // Like real servers, the reply quotes the address: "450 4.1.2 <x@y>: Recipient address rejected".
        Object.assign(
          new Error(
            `${code >= 500 ? '5.1.1' : '4.1.2'} <${address.address}>: ${code >= 500 ? 'mailbox unavailable' : 'try again later'}`,
          ),
          {
            responseCode: code,
          },
        ),
      );
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        for (const to of session.envelope.rcptTo)
          delivered.push({ to: to.address, body: Buffer.concat(chunks).toString() });
        callback();
      });
    },
  });
  return {
    rcpt,
    delivered,
    state,
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port)),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until(what: string, probe: () => Promise<boolean>, ms = 40_000) {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function seedOrganisation(db: Db) {
  const { organisation, baseline: cycle } = await createProgramme(db, { slug: 'acme' });
  const leader = await personRepository.upsert(db, {
    organisationId: organisation.id,
    email: 'lee@acme.test',
    name: 'Lee',
  });
  const subject = await rosterRepository.addSubject(db, {
    cycleId: cycle.id,
    leaderId: leader.id,
    coachId: null,
  });
  return { organisationId: organisation.id, subjectId: subject.id, cycleId: cycle.id };
}

async function queueInvitation(
  db: Db,
  input: { organisationId: string; cycleId: string; to: string; invitationIds: string[] },
) {
  const payload = sealOutbox(
    keys,
    JSON.stringify({
      template: 'invitation',
      data: {
        raterName: 'Rae',
        organisationName: 'Acme',
        programmeName: 'Leaders',
        deadline: '2030-01-31',
        surveys: [{ leaderName: 'Lee', link: 'https://survey.test/s/abc', self: false }],
      },
    }),
  );
  return outboxRepository.queueEmail(db, {
    organisationId: input.organisationId,
    cycleId: input.cycleId,
    invitationIds: input.invitationIds,
    template: 'invitation',
    toAddress: input.to,
    payload,
  });
}

async function queueSignIn(db: Db, organisationId: string, to: string) {
  const payload = sealOutbox(
    keys,
    JSON.stringify({
      template: 'sign-in',
      data: { name: 'Rae', link: 'https://report.test/sign-in/abc', expiresInMinutes: 15 },
    }),
  );
  return outboxRepository.queueEmail(db, { organisationId, template: 'sign-in', toAddress: to, payload });
}

/** The worker's config for these tests: this database, a fresh queue prefix, the in-process SMTP server. */
function workerConfig(databaseUrl: string, smtpPort: number, logLevel: 'silent' | 'info') {
  return loadConfig(
    workerProcessEnv,
    {
      NODE_ENV: 'test',
      LOG_LEVEL: logLevel,
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: '3',
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: queuePrefix(),
      APP_SECRET: SECRET,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    },
    'worker-test',
  );
}

describe('deliver-email against a real SMTP server', () => {
  let t: TestDatabase;
  let worker: RunningWorker;
  const smtp = startSmtp();
  let seeded: Awaited<ReturnType<typeof seedOrganisation>>;

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seedOrganisation(t.db);
    const port = await smtp.listen();
    const config = workerConfig(t.url, port, 'silent');
    worker = await startWorker(config, { logger: createWorkerLogger('silent'), schedule: false });
  });
  afterAll(async () => {
    await worker?.close();
    await smtp.close();
    await t?.drop();
  });

  it('a temporary failure (451) is retried, and the email arrives exactly once', async () => {
    let refusals = 1;
    smtp.state.reply = (address) => (address === 'rae@acme.test' && refusals-- > 0 ? 451 : 250);
    const id = await queueSignIn(t.db, seeded.organisationId, 'rae@acme.test');
    await worker.producer.enqueue('deliver-email', { outboxId: id });
    await until(
      'the email to be sent',
      async () => (await outboxRepository.findEmail(t.db, id))?.status === 'sent',
    );

    const row = await outboxRepository.findEmail(t.db, id);
    expect(row).toMatchObject({ status: 'sent', attempts: 1, payload: null, last_error: null });
    expect(smtp.rcpt.filter((a) => a === 'rae@acme.test')).toHaveLength(2);
    expect(smtp.delivered.filter((d) => d.to === 'rae@acme.test')).toHaveLength(1);
    expect(smtp.delivered[0]?.body).toContain('https://report.test/sign-in/abc');

    // The same job again (a sweeper re-enqueue, a duplicate) sends nothing.
    await worker.producer.enqueue('deliver-email', { outboxId: id });
    await until('the duplicate job to finish', async () => {
      const counts = await worker.producer.queue('email').getJobCounts('waiting', 'delayed', 'active');
      return Object.values(counts).every((n) => n === 0);
    });
    expect(smtp.delivered.filter((d) => d.to === 'rae@acme.test')).toHaveLength(1);
  });

  it('a permanent failure (550) marks the email failed and bounces only the invitations it carried', async () => {
    smtp.state.reply = (address) => (address === 'gone@acme.test' ? 550 : 250);
    const rater = await personRepository.upsert(t.db, {
      organisationId: seeded.organisationId,
      email: 'gone@acme.test',
      name: 'Gone',
    });
    // Two leaders ask the same rater; the invitation email carries only the first one's link.
    const other = await personRepository.upsert(t.db, {
      organisationId: seeded.organisationId,
      email: 'lou@acme.test',
      name: 'Lou',
    });
    const otherSubject = await rosterRepository.addSubject(t.db, {
      cycleId: seeded.cycleId,
      leaderId: other.id,
      coachId: null,
    });
    for (const subjectId of [seeded.subjectId, otherSubject.id]) {
      await rosterRepository.addInvitation(t.db, {
        subjectId,
        raterId: rater.id,
        relationship: 'peer',
        status: 'sent',
      });
    }
    const invitationOf = (subjectId: string) =>
      t.db
        .selectFrom('invitations')
        .select(['id', 'status', 'bounce_reason'])
        .where('rater_id', '=', rater.id)
        .where('subject_id', '=', subjectId)
        .executeTakeFirstOrThrow();
    const carried = await invitationOf(seeded.subjectId);

    // A sign-in email refused for good bounces no invitation at all.
    const signIn = await queueSignIn(t.db, seeded.organisationId, 'gone@acme.test');
    await worker.producer.enqueue('deliver-email', { outboxId: signIn });
    await until(
      'the sign-in email to fail',
      async () => (await outboxRepository.findEmail(t.db, signIn))?.status === 'failed',
    );
    expect((await invitationOf(seeded.subjectId)).status).toBe('sent');
    expect((await invitationOf(otherSubject.id)).status).toBe('sent');

    const id = await queueInvitation(t.db, {
      organisationId: seeded.organisationId,
      cycleId: seeded.cycleId,
      to: 'gone@acme.test',
      invitationIds: [carried.id],
    });
    await worker.producer.enqueue('deliver-email', { outboxId: id });
    await until(
      'the email to fail',
      async () => (await outboxRepository.findEmail(t.db, id))?.status === 'failed',
    );
    await until('the job to finish', async () => {
      const counts = await worker.producer
        .queue('email')
        .getJobCounts('waiting', 'delayed', 'active', 'failed');
      return Object.values(counts).every((n) => n === 0);
    });

    const row = await outboxRepository.findEmail(t.db, id);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, payload: null, last_error: 'SMTP 550 5.1.1' });
    expect(smtp.rcpt.filter((a) => a === 'gone@acme.test')).toHaveLength(2);
    expect(smtp.delivered.filter((d) => d.to === 'gone@acme.test')).toHaveLength(0);
    const counts = await worker.producer.queue('email').getJobCounts('failed');
    expect(counts.failed).toBe(0);
    expect(await invitationOf(seeded.subjectId)).toMatchObject({
      status: 'bounced',
      bounce_reason: 'SMTP 550 5.1.1',
    });
    // The other leader's invitation went (or will go) in another email: untouched.
    expect(await invitationOf(otherSubject.id)).toMatchObject({ status: 'sent', bounce_reason: null });
  });
});

describe('an SMTP outage longer than the retry budget', () => {
  let t: TestDatabase;
  let worker: RunningWorker;
  const smtp = startSmtp();
  let seeded: Awaited<ReturnType<typeof seedOrganisation>>;
  const logs: string[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seedOrganisation(t.db);
    const port = await smtp.listen();
    const config = workerConfig(t.url, port, 'info');
    worker = await startWorker(config, {
      logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
      schedule: false,
      // The budget shortened: two attempts a spell, and the next spell due at once (the sweeper runs when
      // the test says).
      email: { maxAttempts: 2, retryDelayMs: () => 0 },
    });
  });
  afterAll(async () => {
    await worker?.close();
    await smtp.close();
    await t?.drop();
  });

  const sweep = () => worker.producer.enqueue('sweep-outboxes', {});

  it('keeps the email queued through the outage, then delivers it exactly once', async () => {
    smtp.state.reply = () => 451;
    const rater = await personRepository.upsert(t.db, {
      organisationId: seeded.organisationId,
      email: 'rater.bob@acme.test',
      name: 'Bob',
    });
    await rosterRepository.addInvitation(t.db, {
      subjectId: seeded.subjectId,
      raterId: rater.id,
      relationship: 'peer',
      status: 'sent',
    });
    const invitation = await t.db
      .selectFrom('invitations')
      .select('id')
      .where('rater_id', '=', rater.id)
      .executeTakeFirstOrThrow();
    const id = await queueInvitation(t.db, {
      organisationId: seeded.organisationId,
      cycleId: seeded.cycleId,
      to: 'rater.bob@acme.test',
      invitationIds: [invitation.id],
    });
    await worker.producer.enqueue('deliver-email', { outboxId: id });

    // Three spells of two attempts each, every one refused: the job's own retries ran out three times.
    await until('three spells to fail', async () => {
      await sweep();
      return ((await outboxRepository.findEmail(t.db, id))?.rounds ?? 0) >= 3;
    });
    const delayed = await outboxRepository.findEmail(t.db, id);
    expect(delayed).toMatchObject({ status: 'queued', last_error: 'SMTP 451 4.1.2' });
    expect(delayed?.payload).not.toBeNull();
    expect(delayed?.attempts).toBeGreaterThanOrEqual(6);
    expect(await outboxRepository.delayedEmailsOfCycle(t.db, seeded.cycleId)).toEqual({
      count: 1,
      lastError: 'SMTP 451 4.1.2',
    });
    // A temporary failure bounces nothing.
    const still = await t.db
      .selectFrom('invitations')
      .select('status')
      .where('id', '=', invitation.id)
      .executeTakeFirstOrThrow();
    expect(still.status).toBe('sent');
    expect(smtp.delivered).toEqual([]);

    // The mail server is back: the next spell delivers it.
    smtp.state.reply = () => 250;
    await until('the email to be sent', async () => {
      await sweep();
      return (await outboxRepository.findEmail(t.db, id))?.status === 'sent';
    });
    // More sweeps and a stray job of the first spell send nothing more.
    await sweep();
    await worker.producer.enqueue('deliver-email', { outboxId: id });
    await until('the queues to drain', async () => {
      const counts = await worker.producer.queue('email').getJobCounts('waiting', 'delayed', 'active');
      const maintenance = await worker.producer
        .queue('maintenance')
        .getJobCounts('waiting', 'delayed', 'active');
      return [...Object.values(counts), ...Object.values(maintenance)].every((n) => n === 0);
    });
    expect(smtp.delivered.filter((d) => d.to === 'rater.bob@acme.test')).toHaveLength(1);
    expect(await outboxRepository.findEmail(t.db, id)).toMatchObject({
      status: 'sent',
      payload: null,
      retry_at: null,
      invitation_ids: [],
    });
    expect(await outboxRepository.delayedEmailsOfCycle(t.db, seeded.cycleId)).toEqual({
      count: 0,
      lastError: null,
    });

    // The worker said what happened by code only: no address, not even in the BullMQ failure reasons.
    const all = logs.join('\n');
    expect(all).toContain('SMTP 451 4.1.2');
    expect(all).toContain('kept queued');
    expect(all).not.toContain('rater.bob');
    expect(all).not.toContain('@acme.test');
  });
});

describe('the sweeper and a delivery job that failed outright', () => {
  it('removes the failed job that holds the email’s job id, then enqueues it again', async () => {
    const prefix = queuePrefix();
    const redis = createRedis(redisUrl(), 'worker');
    const producer = createProducer({ connection: redis, prefix });
    const outboxId = crypto.randomUUID();
    const jobId = planJob('deliver-email', { outboxId }).jobId;
    // A handler that throws on its only attempt (say the database was down throughout).
    await producer.queue('email').add('deliver-email', { outboxId }, { jobId, attempts: 1 });
    const failing = new Worker(
      'email',
      async () => {
        throw new Error('database unreachable');
      },
      { connection: redis.duplicate(), prefix },
    );
    try {
      await until(
        'the job to fail',
        async () => (await producer.queue('email').getJob(jobId))?.failedReason !== undefined,
      );
    } finally {
      await failing.close();
    }
    expect(await (await producer.queue('email').getJob(jobId))!.getState()).toBe('failed');

    // Adding the same id again would be a no-op; the sweeper's enqueue clears the way first.
    await enqueueDelivery(producer, { id: outboxId, rounds: 0 });
    expect(await (await producer.queue('email').getJob(jobId))!.getState()).toBe('waiting');
    // While it waits, another sweep adds nothing.
    await enqueueDelivery(producer, { id: outboxId, rounds: 0 });
    expect(await producer.queue('email').getJobCounts('waiting', 'failed')).toMatchObject({
      waiting: 1,
      failed: 0,
    });
    // A later spell has an id of its own.
    await enqueueDelivery(producer, { id: outboxId, rounds: 2 });
    expect(await (await producer.queue('email').getJob(`${jobId}.2`))!.getState()).toBe('waiting');

    await producer.queue('email').obliterate({ force: true });
    await producer.close();
    await redis.quit();
  });
});
