import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { createMailer } from '@panorama/mail';
import { createDeliverEmail } from '../../../services/worker/src/handlers/deliver-email.ts';
import type { Kysely } from 'kysely';
import type { Database } from '@panorama/db';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createProgramme, keys, linksFromOutbox, SURVEY_URL } from '../../support/scenario.ts';

/**
 * An open cycle for one leader, Dana Lee, with a manager and `peers` peers, and the links their invitation
 * emails carry (read from the sealed outbox, as a mail server would). Emails are unique per call, so many
 * cycles can share one database.
 */
export async function openSurveyCycle(db: Kysely<Database>, options: { peers?: number } = {}) {
  const tag = randomUUID().slice(0, 8);
  const email = (name: string) => `${name}.${tag}@acme.test`;
  const { baseline, instrument } = await createProgramme(db);
  const peers = Array.from({ length: options.peers ?? 3 }, (_, i) => email(`peer${i}`));
  const row = (rater: string, name: string, relationship: string) =>
    `${email('dana')},Dana Lee,${email('cora')},Cora Coach,${rater},${name},${relationship}`;
  const csv = [
    'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship',
    row(email('morgan'), 'Morgan Manager', 'manager'),
    ...peers.map((peer, i) => row(peer, `Peer ${i}`, 'peer')),
  ].join('\n');
  await importRoster(db, { cycleId: baseline.id, rows: parseRosterCsv(csv) });
  await openCycle({ db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);

  const links = (await linksFromOutbox(db)).filter((link) => link.to.endsWith(`.${tag}@acme.test`));
  const tokenOf = (to: string) => {
    const link = links.find((l) => l.to === to);
    if (!link) throw new Error(`no invitation email to ${to}`);
    return link.token;
  };
  const subject = await db
    .selectFrom('subjects')
    .select('id')
    .where('cycle_id', '=', baseline.id)
    .executeTakeFirstOrThrow();
  return {
    instrument,
    cycleId: baseline.id,
    subjectId: subject.id,
    links,
    tokens: { self: tokenOf(email('dana')), manager: tokenOf(email('morgan')), peers: peers.map(tokenOf) },
  };
}

/**
 * Delivers every queued email through the worker's own deliver-email handler to a real SMTP server
 * (in-process), and returns what the server received: recipients and the decoded message text.
 */
export async function deliverOutboxOverSmtp(db: Kysely<Database>): Promise<{ to: string[]; body: string }[]> {
  const received: { to: string[]; body: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        // Undo quoted-printable soft line breaks so links read whole.
        const body = Buffer.concat(chunks)
          .toString('utf8')
          .replace(/=\r?\n/g, '');
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), body });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const mailer = createMailer({
    smtpUrl: `smtp://127.0.0.1:${port}`,
    outboxDir: '/nonexistent',
    from: 'panorama@test',
  });
  try {
    const deliver = createDeliverEmail({ db, keys, mailer, logger: pino({ level: 'silent' }) });
    const queued = await db.selectFrom('email_outbox').select('id').where('status', '=', 'queued').execute();
    for (const { id } of queued) {
      await deliver({ outboxId: id }, { jobId: `deliver-email.${id}`, attempt: 1, log: () => {} });
    }
  } finally {
    mailer.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return received;
}
