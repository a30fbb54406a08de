export { buildSurveyApp, type SurveyAppDeps } from './app.ts';
