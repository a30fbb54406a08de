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

/** A permanent failure (5xx from the server, bad address): retrying will not help, record it as a bounce. */
export class PermanentMailError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentMailError';
  }
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
          const { responseCode: code, code: kind, command } = error as SmtpErrorFields;
          if (code !== undefined && code >= 500 && code < 600) {
            throw new PermanentMailError(`SMTP ${code}: ${(error as Error).message}`, { cause: error });
          }
          // nodemailer refused the envelope itself (no or malformed recipient) before asking the server.
          if (kind === 'EENVELOPE' && command === 'API') {
            throw new PermanentMailError(`Bad address: ${(error as Error).message}`, { cause: error });
          }
          throw error;
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const info = await transport.sendMail({ from: options.from, ...message });
      await fs.mkdir(options.outboxDir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const file = path.resolve(options.outboxDir, `${stamp}-${randomUUID().slice(0, 8)}.eml`);
      await fs.writeFile(file, info.message as Buffer, { mode: 0o600 });
      options.onFileWritten?.(file, message);
      return { messageId: info.messageId, destination: file };
    },
    close: () => transport.close(),
  };
}
