export { buildReportApp, type ReportAppDeps } from './app.ts';
export {
  importRoster,
  parseRosterCsv,
  ROSTER_COLUMNS,
  RELATIONSHIPS,
  type RosterRow,
} from './admin/roster-import.ts';
export { openCycle, sendReminders, closeCycle, type LifecycleDeps } from './admin/cycle-lifecycle.ts';
