export { buildSurveyApp, FORM_BODY_LIMIT, type SurveyAppDeps } from './app.ts';
export { DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limits.ts';
export {
  createSurveyService,
  CompletionStateUnavailableError,
  LinkUnusableError,
  type OpenedSurvey,
  type SurveyService,
} from './survey-service.ts';
