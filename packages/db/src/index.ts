export * from './schema.ts';
export { createDb, isConnectionError, PREPARED, type Db, type DbOptions } from './connection.ts';
export { migrateToLatest, migrateDown, MigrationError } from './migrate.ts';
export { organisationRepository, personRepository } from './repositories/organisations.ts';
export { programmeRepository } from './repositories/programmes.ts';
export { rosterRepository } from './repositories/roster.ts';
export {
  responseRepository,
  AlreadySubmittedError,
  DEFAULT_MIN_BATCH,
  type NewResponse,
  type JobToEnqueue,
} from './repositories/responses.ts';
export { outboxRepository } from './repositories/outboxes.ts';
export {
  resultRepository,
  responseImportRepository,
  bounceRepository,
  type ComputedResult,
  type WriteOutcome,
  type CycleResponseRatings,
  type ImportedResponse,
  type StaffPublication,
} from './repositories/results.ts';
export { sessionRepository, type Viewer } from './repositories/sessions.ts';
export { reportReadRepository } from './repositories/report-reads.ts';
