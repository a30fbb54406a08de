import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRepository, personRepository, rosterRepository, type Db } from '@panorama/db';
import { deriveKeys, sealOutbox } from '@panorama/domain';
import { loadConfig } from '@panorama/config';
import { createWorkerLogger, startWorker, workerProcessEnv, type RunningWorker } from '@panorama/worker';
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
        Object.assign(new Error(code >= 500 ? 'mailbox unavailable' : 'try again later'), {
          responseCode: code,
        }),
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
  return { organisationId: organisation.id, subjectId: subject.id };
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

describe('deliver-email against a real SMTP server', () => {
  let t: TestDatabase;
  let worker: RunningWorker;
  const smtp = startSmtp();
  let seeded: Awaited<ReturnType<typeof seedOrganisation>>;

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seedOrganisation(t.db);
    const port = await smtp.listen();
    const config = loadConfig(
      workerProcessEnv,
      {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: t.url,
        DATABASE_POOL_SIZE: '3',
        REDIS_URL: redisUrl(),
        QUEUE_PREFIX: queuePrefix(),
        APP_SECRET: SECRET,
        SMTP_URL: `smtp://127.0.0.1:${port}`,
      },
      'worker-test',
    );
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

  it('a permanent failure (550) marks the email failed and the invitation bounced, without retrying', async () => {
    smtp.state.reply = (address) => (address === 'gone@acme.test' ? 550 : 250);
    const rater = await personRepository.upsert(t.db, {
      organisationId: seeded.organisationId,
      email: 'gone@acme.test',
      name: 'Gone',
    });
    await rosterRepository.addInvitation(t.db, {
      subjectId: seeded.subjectId,
      raterId: rater.id,
      relationship: 'peer',
      status: 'sent',
    });
    const id = await queueSignIn(t.db, seeded.organisationId, 'gone@acme.test');
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
    expect(row).toMatchObject({ status: 'failed', attempts: 1, payload: null });
    expect(row?.last_error).toMatch(/^SMTP 550/);
    expect(smtp.rcpt.filter((a) => a === 'gone@acme.test')).toHaveLength(1);
    expect(smtp.delivered.filter((d) => d.to === 'gone@acme.test')).toHaveLength(0);
    const counts = await worker.producer.queue('email').getJobCounts('failed');
    expect(counts.failed).toBe(0);
    const invitation = await t.db
      .selectFrom('invitations')
      .select(['status', 'bounce_reason'])
      .where('rater_id', '=', rater.id)
      .executeTakeFirstOrThrow();
    expect(invitation.status).toBe('bounced');
    expect(invitation.bounce_reason).toMatch(/^SMTP 550/);
  });
});
