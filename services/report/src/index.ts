export { buildReportApp, type ReportAppDeps } from './app.ts';
