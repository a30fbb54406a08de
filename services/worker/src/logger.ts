import { pino, type Level, type Logger } from 'pino';

/** The worker's logger. Log objects carry ids and counts only: never addresses, links or payloads. */
export function createWorkerLogger(level: Level | 'silent'): Logger {
  return pino({ name: 'worker', level });
}

/**
 * What a log line says about an error: its class and code (`TemporaryMailError: SMTP 450 4.1.2`,
 * `Error: ECONNREFUSED`), never its message. Messages quote what failed: nodemailer's the recipient's
 * address, a connection error the host and port, a database error the offending value.
 */
export function errorCode(error: unknown): string {
  if (!(error instanceof Error)) return 'non-error thrown';
  const name = /^\w{1,60}$/.test(error.name) ? error.name : 'Error';
  const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
  const label =
    typeof code === 'string' && /^[\w .-]{1,60}$/.test(code)
      ? code
      : typeof code === 'number' || typeof responseCode === 'number'
        ? String(responseCode ?? code)
        : undefined;
  return label ? `${name}: ${label}` : name;
}
