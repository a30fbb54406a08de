export { createWebApp, type WebAppOptions } from './create-web-app.ts';
export { redactUrl, loggerOptions } from './logging.ts';
export { DEFAULT_WEB_TEXT, errorPages, type WebText } from './errors.ts';
export { serve } from './serve.ts';
