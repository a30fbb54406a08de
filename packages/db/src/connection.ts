import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

// Keep `date` columns as the 'YYYY-MM-DD' text Postgres sends: a JS Date would invent a time and a zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
// Counts come back as bigint text; every count here fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Kysely<Database>;

export interface DbOptions {
  connectionString: string;
  max?: number;
  /** Optional name shown in pg_stat_activity. */
  applicationName?: string;
}

/** Opens a pooled connection. Errors on idle clients (a Postgres restart) are absorbed; the pool reconnects. */
export function createDb({ connectionString, max = 10, applicationName = 'panorama' }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => {
    // An idle client lost its connection; the next checkout opens a new one.
  });
  pool.on('connect', (client) => {
    // pg-pool listens for errors only on idle clients. A checked-out client whose connection drops between
    // two queries (inside a transaction, during a Postgres restart) emitted 'error' with no listener: an
    // uncaught exception that took the whole process down (found by test/faults/postgres-restart). The
    // query in flight, if any, still fails with the error; the client is then unqueryable and pg-pool
    // discards it on release.
    client.on('error', () => {});
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * What pg and pg-pool throw, with neither a SQLSTATE nor an errno, when a connection is lost or none can be
 * had in time. Matched by message because pg gives nothing else to match; each was a 500 during a
 * Postgres restart before it was listed here (test/faults/postgres-restart).
 */
const CONNECTION_LOST_MESSAGES = [
  /^Connection terminated/, // "... unexpectedly", "... due to connection timeout"
  /^Client has encountered a connection error and is not queryable$/,
  /^timeout exceeded when trying to connect$/,
];

/** True for errors that mean "the database is not reachable right now" (callers answer 503, not 500). */
export function isConnectionError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && code !== '') {
    return (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03'].includes(
        code,
      ) || code.startsWith('08')
    );
  }
  return typeof message === 'string' && CONNECTION_LOST_MESSAGES.some((pattern) => pattern.test(message));
}
