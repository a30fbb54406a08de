import type { FastifyError, FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { AlreadySubmittedError } from '@panorama/db';
import { ValidationError } from '@panorama/domain';
import { parseFormBody } from '../form-body.ts';
import type { Locale } from '../locale.ts';
import { ipRule, linkLimiter, type RateLimits } from '../rate-limits.ts';
import { LinkUnusableError, type SurveyService } from '../survey-service.ts';
import { messagePageView, type MessagePage } from '../view-models/message-page.ts';
import { declineRoutes } from './decline-routes.ts';
import { formRoutes } from './form-routes.ts';

export interface SurveyRoutesOptions {
  service: SurveyService;
  locale: Locale;
  limits: RateLimits;
  /** Largest form post in bytes. */
  bodyLimit: number;
  redis?: Redis | undefined;
}

const CSRF_CODES = new Set(['FST_CSRF_INVALID_TOKEN', 'FST_CSRF_MISSING_SECRET']);

/**
 * Which rater-facing page an error gets. Anything not listed (database down, a bug) goes on to the shared
 * error handler, which logs it and masks the details.
 */
function pageFor(error: FastifyError): { status: number; page: MessagePage } | undefined {
  if (error instanceof LinkUnusableError) return { status: 404, page: 'linkUnusable' };
  if (error instanceof AlreadySubmittedError) return { status: 409, page: 'alreadySubmitted' };
  if (CSRF_CODES.has(error.code)) return { status: 403, page: 'formExpired' };
  if (error instanceof ValidationError) return { status: 400, page: 'badRequest' };
  switch (error.statusCode) {
    case 400:
    case 415:
      return { status: error.statusCode, page: 'badRequest' };
    case 413:
      return { status: 413, page: 'tooLarge' };
    case 429:
      return { status: 429, page: 'tooMany' };
    default:
      return undefined;
  }
}

/**
 * Everything a rater reaches, in one encapsulated scope: its own strict form parser, its own pages for
 * the errors a rater can meet (in the rater's language), and no caching of pages that carry answers.
 */
export async function surveyRoutes(app: FastifyInstance, options: SurveyRoutesOptions): Promise<void> {
  const { service, locale, limits } = options;
  const limitPerLink = linkLimiter(options.redis, (error) =>
    app.log.warn({ err: error }, 'rate-limit store unreachable; counting per-link limits in this process'),
  );

  // Only form posts are accepted here; JSON and the rest get 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'buffer', bodyLimit: options.bodyLimit },
    (_request, body, done) => {
      try {
        done(null, parseFormBody(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );

  app.addHook('onRequest', async (_request, reply) => {
    // Pages carry answers and links: never keep them in a shared or back-button cache.
    reply.header('cache-control', 'no-store');
    reply.header('x-robots-tag', 'noindex, nofollow');
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const found = pageFor(error);
    if (!found) throw error;
    request.log.info({ status: found.status, code: error.code }, 'request refused');
    reply.code(found.status);
    return reply.viewAsync('message.hbs', messagePageView(found.page, locale));
  });

  await formRoutes(app, { service, locale, limits, limitPerLink });
  await declineRoutes(app, { service, locale, limits, limitPerLink });

  // Any other address under /s/ is a link that cannot be used, and looks exactly like one.
  app.get('/s/*', { config: { rateLimit: ipRule(limits.readsPerIp, limits.windowMs) } }, async () => {
    throw new LinkUnusableError();
  });

  for (const [url, page] of [
    ['/', 'home'],
    ['/thanks', 'thanks'],
    ['/declined', 'declined'],
    ['/saved', 'saved'],
  ] as const) {
    app.get(url, async (_request, reply) => reply.viewAsync('message.hbs', messagePageView(page, locale)));
  }
}
