export { buildReportApp, type ReportAppDeps } from './app.ts';
export {
  importRoster,
  parseRosterCsv,
  ROSTER_COLUMNS,
  RELATIONSHIPS,
  type RosterRow,
} from './admin/roster-import.ts';
export { openCycle, sendReminders, closeCycle, type LifecycleDeps } from './admin/cycle-lifecycle.ts';
export { createProgrammeWithCycles, registerInstrument } from './admin/programmes.ts';
export {
  importResponses,
  RESPONSE_COLUMNS,
  COMMENT_COLUMNS,
  type ImportResponsesInput,
  type ImportResponsesResult,
} from './bulk/import-responses.ts';
export { exportProgramme, type ProgrammeExport } from './bulk/export.ts';
export {
  createReportCache,
  DEFAULT_REPORT_CACHE_BYTES,
  type ReportCache,
  type RenderedReport,
} from './report-cache.ts';
export { safeReturnPath } from './routes/sign-in.ts';
