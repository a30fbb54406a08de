export * from './schema.ts';
export { createDb, isConnectionError, type Db, type DbOptions } from './connection.ts';
export { migrateToLatest, migrateDown, MigrationError } from './migrate.ts';
export {
  startEmbeddedPostgres,
  type RunningPostgres,
  type EmbeddedPostgresOptions,
} from './embedded-postgres.ts';
