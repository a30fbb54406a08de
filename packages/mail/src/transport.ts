import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  html: string;
  text: string;
}

export interface SendResult {
  messageId: string;
  /** Where the message went: 'smtp' or the file it was written to. */
  destination: string;
}

/**
 * A failed send, described by a short code only (`SMTP 450 4.2.1`, `ECONNECTION`). The server's own text
 * quotes the recipient ("<rater@…>: mailbox full"), so it is dropped here and is neither the message nor
 * the cause: whatever stores or logs this error cannot leak the address.
 */
export class MailError extends Error {
  readonly code: string;
  /** The SMTP reply code, when the server answered. */
  readonly responseCode: number | undefined;
  constructor(code: string, responseCode?: number) {
    super(code);
    this.name = 'MailError';
    this.code = code;
    this.responseCode = responseCode;
  }
}

/** A permanent failure (5xx from the server, bad address): retrying will not help, record it as a bounce. */
export class PermanentMailError extends MailError {
  constructor(code: string, responseCode?: number) {
    super(code, responseCode);
    this.name = 'PermanentMailError';
  }
}

/** A temporary failure (4xx, no connection, a timeout): worth trying again later. */
export class TemporaryMailError extends MailError {
  constructor(code: string, responseCode?: number) {
    super(code, responseCode);
    this.name = 'TemporaryMailError';
  }
}

/**
 * The loggable code of any error a send may throw: the SMTP reply code with its enhanced status code, or
 * nodemailer's / Node's error code, or the error's class name. Never the message.
 */
export function mailErrorCode(error: unknown): string {
  if (error instanceof MailError) return error.code;
  const { responseCode, response, code } = (error ?? {}) as SmtpErrorFields;
  if (typeof responseCode === 'number' && Number.isInteger(responseCode)) {
    const enhanced =
      typeof response === 'string' ? /^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})(?!\S)/.exec(response)?.[1] : undefined;
    return `SMTP ${responseCode}${enhanced ? ` ${enhanced}` : ''}`;
  }
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  const name = error instanceof Error ? error.name : '';
  return /^\w{1,60}$/.test(name) ? name : 'Error';
}

export interface Mailer {
  send(message: MailMessage): Promise<SendResult>;
  close(): void;
}

export interface MailerOptions {
  /** smtp(s)://user:pass@host:port; unset = write .eml files to `outboxDir`. */
  smtpUrl?: string | undefined;
  outboxDir: string;
  from: string;
  /** Told about each file written when there is no SMTP server (the local quick start shows links this way). */
  onFileWritten?: (file: string, message: MailMessage) => void;
}

/** What nodemailer adds to the errors it throws. */
interface SmtpErrorFields {
  responseCode?: number;
  /** The server's reply line, e.g. "450 4.2.1 <rater@…>: mailbox busy". */
  response?: string;
  code?: string;
  command?: string;
}

export function createMailer(options: MailerOptions): Mailer {
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport(options.smtpUrl, { from: options.from });
    return {
      async send(message) {
        try {
          const info = await transport.sendMail({ from: options.from, ...message });
          return { messageId: info.messageId, destination: 'smtp' };
        } catch (error) {
          const { responseCode, code: kind, command } = error as SmtpErrorFields;
          const code = mailErrorCode(error);
          if (responseCode !== undefined && responseCode >= 500 && responseCode < 600) {
            throw new PermanentMailError(code, responseCode);
          }
          // nodemailer refused the envelope itself (no or malformed recipient) before asking the server.
          if (kind === 'EENVELOPE' && command === 'API') throw new PermanentMailError('bad address');
          throw new TemporaryMailError(code, responseCode);
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      try {
        return await writeFile(message);
      } catch (error) {
        throw new TemporaryMailError(mailErrorCode(error));
      }
    },
    close: () => transport.close(),
  };
  async function writeFile(message: MailMessage): Promise<SendResult> {
    const info = await transport.sendMail({ from: options.from, ...message });
    await fs.mkdir(options.outboxDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.resolve(options.outboxDir, `${stamp}-${randomUUID().slice(0, 8)}.eml`);
    await fs.writeFile(file, info.message as Buffer, { mode: 0o600 });
    options.onFileWritten?.(file, message);
    return { messageId: info.messageId, destination: file };
  }
}
