import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { DestinationStream } from 'pino';
import type { Db } from '@panorama/db';
import type { SecretKeys } from '@panorama/domain';
import type { CompletionSet, Producer } from '@panorama/jobs';
import { createWebApp } from '@panorama/web';
import { loadLocale, webText } from './locale.ts';
import { DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limits.ts';
import { surveyRoutes } from './routes/survey-routes.ts';
import { createSurveyService } from './survey-service.ts';

/**
 * The largest form post. The biggest step is the last: 3 questions of at most 2,000 characters, which a
 * browser sends as at most 9 bytes each (a 3-byte character, percent-encoded), so about 54 KB.
 */
export const FORM_BODY_LIMIT = 64 * 1024;

export interface SurveyAppDeps {
  db: Db;
  /** Rate-limit store and readiness; absent only in unit tests. */
  redis?: Redis;
  keys: SecretKeys;
  /** Pushes a submission's aggregation job to Redis at once; without it the worker's sweeper does. */
  producer?: Pick<Producer, 'add'> | undefined;
  completions?: Pick<CompletionSet, 'add' | 'has'> | undefined;
  config: {
    LOG_LEVEL: string;
    APP_SECRET: string;
    SURVEY_PUBLIC_URL: string;
    TRUST_PROXY: boolean;
    METRICS_TOKEN?: string | undefined;
  };
  /** Where request logs go instead of stdout; tests pass an in-memory stream to read them. */
  logStream?: DestinationStream;
  rateLimits?: Partial<RateLimits>;
}

/** Builds the rater-facing app. Never listens, never reads the environment (see server.ts). */
export async function buildSurveyApp(deps: SurveyAppDeps): Promise<FastifyInstance> {
  const locale = loadLocale('en');
  const app = await createWebApp({
    viewsDir: path.resolve(import.meta.dirname, '../views'),
    logLevel: deps.config.LOG_LEVEL,
    cookieSecret: deps.config.APP_SECRET,
    secure: deps.config.SURVEY_PUBLIC_URL.startsWith('https:'),
    trustProxy: deps.config.TRUST_PROXY,
    metricsToken: deps.config.METRICS_TOKEN,
    redis: deps.redis,
    referrerPolicy: 'no-referrer',
    logStream: deps.logStream,
    bodyLimit: FORM_BODY_LIMIT,
    text: webText(locale),
    readiness: async () => {
      await deps.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      if (deps.redis) await deps.redis.ping();
    },
  });

  const service = createSurveyService({
    db: deps.db,
    keys: deps.keys,
    producer: deps.producer,
    completions: deps.completions,
    onEnqueueError: (error) =>
      app.log.warn({ err: error }, 'aggregation job not pushed to Redis; the outbox sweeper will push it'),
  });
  // Completions held while Redis was down are written before the pools close (serve closes the app first).
  app.addHook('onClose', async () => service.close());
  await app.register(surveyRoutes, {
    service,
    locale,
    limits: { ...DEFAULT_RATE_LIMITS, ...deps.rateLimits },
    bodyLimit: FORM_BODY_LIMIT,
    redis: deps.redis,
  });
  return app;
}
