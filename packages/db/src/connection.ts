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
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** True for errors that mean "the database is not reachable right now" (callers answer 503, not 500). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (!code) return false;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03'].includes(
      code,
    ) || code.startsWith('08')
  );
}
