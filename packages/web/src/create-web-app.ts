import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import Handlebars from 'handlebars';
import type { Redis } from 'ioredis';
import { ValidationError } from '@panorama/domain';
import { DEFAULT_WEB_TEXT, errorPages, type SignInRequiredHandler, type WebText } from './errors.ts';
import { registerHelpers } from './helpers.ts';
import { loggerOptions } from './logging.ts';
import { pino, type DestinationStream, type LoggerOptions } from 'pino';
import { metrics } from './metrics.ts';

const webRoot = path.resolve(import.meta.dirname, '..');

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Form posts, read strictly: bytes that are not UTF-8 are refused (400) instead of being turned into U+FFFD
 * as a lenient parser would, so nothing a form stores ever held them. Repeated names become arrays and the
 * result has no prototype, as with @fastify/formbody, whose parser this replaces.
 */
export function parseFormBody(body: Buffer): Record<string, string | string[]> {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw new ValidationError('The form could not be read: it is not valid UTF-8 form data.');
  }
  const fields: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    const existing = fields[name];
    if (existing === undefined) fields[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[name] = [existing, value];
  }
  return fields;
}

export interface WebAppOptions {
  /** Folder of the service's own templates. */
  viewsDir: string;
  logLevel: string;
  cookieSecret: string;
  /** Cookies get `Secure` and HSTS is sent when the public URL is https. */
  secure: boolean;
  trustProxy?: boolean;
  /** Shared store for rate limits, so limits hold across instances. Memory when absent (tests only). */
  redis?: Redis | undefined;
  /** Checks behind /readyz; throw when not ready. */
  readiness?: () => Promise<void>;
  /** Largest request body in bytes. */
  bodyLimit?: number;
  /** Where request logs go instead of stdout (tests read them to prove no token or address is logged). */
  logStream?: DestinationStream | undefined;
  /** Bearer token for `GET /metrics`; unset, the endpoint is not served. */
  metricsToken?: string | undefined;
  /** Referrer-Policy; survey pages use no-referrer so a link never leaks through a Referer header. */
  referrerPolicy?: 'no-referrer' | 'same-origin';
  /** Words of the layout and error pages; English when absent (the survey passes its locale's). */
  text?: WebText;
  /**
   * Answers a page (not /api/) that needs a signed-in viewer (a 401 error); by default a 303 to /sign-in.
   * The report service uses it to say a session has expired and where to come back to.
   */
  signInRequired?: SignInRequiredHandler;
}

/**
 * The Fastify instance every web service starts from: security headers, cookies, CSRF on every
 * state-changing request, rate limiting, templates compiled once, static assets, error pages and health
 * routes. It never listens and never reads the environment.
 */
export async function createWebApp(options: WebAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(options.logLevel),
    trustProxy: options.trustProxy ?? false,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    // While closing, requests on open keep-alive connections still finish (Node answers them with
    // Connection: close) instead of getting a bare 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Never log a request id derived from a client header.
    requestIdHeader: false,
  });
  // First, so its timing hook and `GET /metrics` cover every route registered after it.
  await app.register(metrics, { token: options.metricsToken });

  if (options.logStream) {
    // Request logs come from per-request child loggers; these are made from a logger with the same options
    // (and redacting serializers) as the app's own, writing to the given stream.
    const logger = pino(
      (loggerOptions(options.logLevel) || { level: 'silent' }) as LoggerOptions,
      options.logStream,
    );
    app.setChildLoggerFactory((_parent, bindings, childOptions) => logger.child(bindings, childOptions));
  }

  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    referrerPolicy: { policy: options.referrerPolicy ?? 'same-origin' },
    strictTransportSecurity: options.secure ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
  });
  await app.register(cookie, { secret: options.cookieSecret });
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'panorama-csrf',
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'strict', secure: options.secure, signed: true },
    getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf,
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'buffer', bodyLimit: options.bodyLimit ?? 256 * 1024 },
    (_request, body, done) => {
      try {
        done(null, parseFormBody(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
  await app.register(rateLimit, {
    global: false,
    ...(options.redis ? { redis: options.redis, nameSpace: 'panorama-rl:' } : {}),
    // Counters live in Redis with a TTL and are never logged. When Redis is down the limits are skipped
    // rather than failing requests: a rater's submission matters more than a counter.
    skipOnError: true,
  });
  await app.register(fastifyStatic, {
    root: path.join(webRoot, 'public'),
    prefix: '/assets/',
    maxAge: '1h',
  });

  const handlebars = Handlebars.create();
  registerHelpers(handlebars);
  const rel = (p: string) => path.relative(options.viewsDir, path.join(webRoot, 'views', p));
  await app.register(view, {
    engine: { handlebars },
    root: options.viewsDir,
    layout: rel('layout.hbs'),
    production: true,
    options: {
      partials: {
        field_errors: rel('partials/field-errors.hbs'),
        csrf: rel('partials/csrf.hbs'),
      },
    },
    defaultContext: { year: new Date().getFullYear(), chrome: options.text ?? DEFAULT_WEB_TEXT },
  });
  // Shared templates (error page) are looked up by a path relative to the service's views.
  app.decorate('sharedView', rel);
  await app.register(errorPages, {
    text: options.text ?? DEFAULT_WEB_TEXT,
    signInRequired: options.signInRequired,
  });

  // Every state-changing request carries a CSRF token, whatever route it reaches.
  app.addHook('preHandler', (request, reply, done) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(request.method)) return done();
    app.csrfProtection(request, reply, done);
  });

  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    try {
      await options.readiness?.();
      return { status: 'ready' };
    } catch (error) {
      reply.code(503).header('retry-after', '5');
      return { status: 'not ready', reason: (error as Error).message };
    }
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    sharedView: (template: string) => string;
  }
}
