import { pino, type Level, type Logger } from 'pino';

/** The worker's logger. Log objects carry ids and counts only: never addresses, links or payloads. */
export function createWorkerLogger(level: Level | 'silent'): Logger {
  return pino({ name: 'worker', level });
}
