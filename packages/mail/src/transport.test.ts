import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerEnvelope } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { renderEmail } from './templates.ts';
import {
  createMailer,
  mailErrorCode,
  PermanentMailError,
  TemporaryMailError,
  type Mailer,
  type MailMessage,
} from './transport.ts';

const FROM = 'Panorama <no-reply@panorama.example>';
const TO = 'zoe.muller@acme.example';

function message(): MailMessage {
  const rendered = renderEmail('invitation', {
    raterName: 'Zoë Müller',
    organisationName: 'Acme',
    programmeName: 'Leadership programme',
    deadline: '2026-12-05',
    surveys: [{ leaderName: 'Dana Lee', link: 'https://survey.example/s/tok-1', self: false }],
  });
  return { to: TO, ...rendered };
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  return [field ?? []].flat().flatMap((group) => group.value.map((a) => a.address ?? ''));
}

let mailer: Mailer | undefined;

afterEach(() => {
  mailer?.close();
  mailer = undefined;
});

describe('createMailer with an SMTP server', () => {
  let server: SMTPServer;
  let port: number;
  let received: { mail: ParsedMail; envelope: SMTPServerEnvelope }[];
  let rejectRecipientsWith: number | undefined;

  beforeEach(async () => {
    received = [];
    rejectRecipientsWith = undefined;
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (rejectRecipientsWith === undefined) return callback();
        const error = Object.assign(new Error(`Mailbox ${address.address} unavailable`), {
          responseCode: rejectRecipientsWith,
        });
        callback(error);
      },
      onData(stream, session, callback) {
        // Acknowledge only once parsed, so a resolved send means the message is in `received`.
        simpleParser(stream).then(
          (mail) => {
            received.push({ mail, envelope: session.envelope });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    port = (server.server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function smtpMailer(): Mailer {
    mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${port}`, outboxDir: '/nonexistent', from: FROM });
    return mailer;
  }

  it('delivers the subject, both parts, sender and recipient', async () => {
    const sent = message();
    const result = await smtpMailer().send(sent);

    expect(result.destination).toBe('smtp');
    expect(received).toHaveLength(1);
    const [{ mail, envelope }] = received as [(typeof received)[number]];
    expect(mail.messageId).toBe(result.messageId);
    expect(mail.subject).toBe('Your feedback for Dana Lee — Leadership programme');
    expect(mail.text).toBe(sent.text);
    expect(mail.html).toBe(sent.html);
    expect(mail.text).toContain('Hello Zoë Müller,');
    expect(mail.from?.value).toEqual([{ name: 'Panorama', address: 'no-reply@panorama.example' }]);
    expect(addresses(mail.to)).toEqual([TO]);
    expect(envelope.mailFrom && envelope.mailFrom.address).toBe('no-reply@panorama.example');
    expect(envelope.rcptTo.map((r) => r.address)).toEqual([TO]);
  });

  it('throws PermanentMailError when the server refuses the recipient with a 5xx', async () => {
    rejectRecipientsWith = 550;
    const error = await smtpMailer()
      .send(message())
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(PermanentMailError);
    expect((error as Error).message).toBe('SMTP 550');
    expect(error).toMatchObject({ code: 'SMTP 550', responseCode: 550 });
    // The server's text quotes the address; nothing of it is kept, not even as the cause.
    expect((error as Error).cause).toBeUndefined();
    expect(JSON.stringify(error) + String(error) + (error as Error).stack).not.toContain(TO);
    expect(received).toHaveLength(0);
  });

  it('throws a plain, retryable error when the server refuses the recipient with a 4xx', async () => {
    rejectRecipientsWith = 451;
    const error = await smtpMailer()
      .send(message())
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(TemporaryMailError);
    expect(error).not.toBeInstanceOf(PermanentMailError);
    expect(error).toMatchObject({ responseCode: 451, message: 'SMTP 451' });
    expect(String(error) + (error as Error).stack).not.toContain(TO);
    expect(received).toHaveLength(0);
  });

  it('reports an unreachable server by its error code only', async () => {
    mailer = createMailer({ smtpUrl: 'smtp://127.0.0.1:1', outboxDir: '/nonexistent', from: FROM });
    const error = await mailer.send(message()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TemporaryMailError);
    expect((error as Error).message).toBe('ESOCKET');
  });

  it('throws PermanentMailError for a message with no usable recipient', async () => {
    await expect(smtpMailer().send({ ...message(), to: '' })).rejects.toBeInstanceOf(PermanentMailError);
    expect(received).toHaveLength(0);
  });
});

describe('mailErrorCode', () => {
  it('keeps the reply code and enhanced status code, never the text', () => {
    const refusal = Object.assign(
      new Error(`Can't send mail - all recipients were rejected: 450 4.1.2 <${TO}>`),
      {
        responseCode: 450,
        response: `450 4.1.2 <${TO}>: Recipient address rejected`,
        code: 'EENVELOPE',
      },
    );
    expect(mailErrorCode(refusal)).toBe('SMTP 450 4.1.2');
    expect(
      mailErrorCode(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:25'), { code: 'ECONNECTION' })),
    ).toBe('ECONNECTION');
    expect(mailErrorCode(new TypeError(`bad ${TO}`))).toBe('TypeError');
    expect(mailErrorCode('text')).toBe('Error');
  });
});

describe('createMailer without an SMTP server', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-mail-'));
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes one .eml file to the outbox and says where', async () => {
    const outboxDir = path.join(dir, 'outbox'); // not there yet: the mailer makes it
    const onFileWritten = vi.fn();
    mailer = createMailer({ outboxDir, from: FROM, onFileWritten });
    const sent = message();

    const result = await mailer.send(sent);

    const files = await fs.readdir(outboxDir);
    expect(files).toHaveLength(1);
    const file = path.join(outboxDir, files[0] ?? '');
    expect(file).toMatch(/\.eml$/);
    expect(result.destination).toBe(file);
    expect(onFileWritten).toHaveBeenCalledTimes(1);
    expect(onFileWritten).toHaveBeenCalledWith(file, sent);
    // It holds live sign-in and survey links: readable by its owner only.
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);

    const mail = await simpleParser(await fs.readFile(file));
    expect(mail.subject).toBe(sent.subject);
    expect(mail.messageId).toBe(result.messageId);
    expect(mail.text).toBe(sent.text);
    expect(mail.html).toBe(sent.html);
    expect(addresses(mail.to)).toEqual([TO]);
  });
});
