import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
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

/** Marks a statement to be prepared once per connection (see {@link PREPARED}). */
const PREPARE_MARK = '/* prepared */';

/**
 * Put first in a hot query of fixed text (`sql` template: at the very start; query builder:
 * `.modifyFront(PREPARED)`, which puts it right after `select`) to run it as a named server-side prepared
 * statement: Postgres parses and plans it once per connection instead of on every request. Only for queries
 * whose text does not vary with their input (an `in (...)` list of varying length would prepare a statement
 * per length), since each distinct text stays prepared for the life of the connection.
 */
export const PREPARED = sql.raw(PREPARE_MARK);

/**
 * A pg client that sends marked queries as named prepared statements, named by a hash of their text (pg
 * requires one text per name; the same text always gets the same name, on every connection).
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values, callback] = args;
    if (
      typeof text === 'string' &&
      callback === undefined &&
      (values === undefined || Array.isArray(values)) &&
      text.lastIndexOf(PREPARE_MARK, 16) !== -1
    ) {
      const name = `p_${createHash('sha1').update(text).digest('base64url')}`;
      return (super.query as unknown as (config: pg.QueryConfig) => never)({
        name,
        text,
        values: values as unknown[],
      });
    }
    return (super.query as unknown as (...a: unknown[]) => never)(...args);
  }
}

/** Opens a pooled connection. Errors on idle clients (a Postgres restart) are absorbed; the pool reconnects. */
export function createDb({ connectionString, max = 10, applicationName = 'panorama' }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    Client: PreparingClient,
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
