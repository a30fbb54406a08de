export { buildSurveyApp, type SurveyAppDeps } from './app.ts';
export { createSurveyService, LinkUnusableError, type SurveyService, type OpenedSurvey } from './survey-service.ts';
