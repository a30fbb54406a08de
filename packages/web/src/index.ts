export { createWebApp, type WebAppOptions } from './create-web-app.ts';
export { redactUrl, loggerOptions } from './logging.ts';
export { errorPages } from './errors.ts';
export { serve } from './serve.ts';
