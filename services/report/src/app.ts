import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { DestinationStream } from 'pino';
import { outboxRepository, type Db } from '@panorama/db';
import type { SecretKeys } from '@panorama/domain';
import type { Producer } from '@panorama/jobs';
import { createWebApp } from '@panorama/web';
import multipart from '@fastify/multipart';
import { sessions } from './auth/session.ts';
import { adminRoutes } from './routes/admin.ts';
import { nominationRoutes } from './routes/nominations.ts';
import { signInRequiredPage, signInRoutes } from './routes/sign-in.ts';
import { apiRoutes } from './routes/api.ts';
import { hrRoutes } from './routes/hr.ts';
import { createInstrumentReader, reportRoutes } from './routes/reports.ts';
import { refuseUnreadableFields, refuseUnreadableQuery } from './input-guard.ts';
import { createReportCache, type ReportCache } from './report-cache.ts';

export interface ReportAppDeps {
  db: Db;
  keys: SecretKeys;
  /** Rate-limit store, readiness and job pushes; absent only in tests that do not need them. */
  redis?: Redis;
  producer?: Pick<Producer, 'add'>;
  /** The Redis set of used invitations (flushed before reminders). */
  completions?: { members(): Promise<string[]>; remove(ids: string[]): Promise<void> };
  /** Where request logs go instead of stdout; tests pass an in-memory stream to read them. */
  logStream?: DestinationStream;
  /** Where instrument folders live (default: the repository's surveys/). */
  instrumentsDir?: string;
  /**
   * Rendered leader report bodies. Default: a cache bounded by `config.REPORT_CACHE_MB` (64 MiB when unset;
   * 0 turns it off); `false`: none; tests pass their own to read its counters.
   */
  reportCache?: ReportCache | false;
  config: {
    LOG_LEVEL: string;
    APP_SECRET: string;
    REPORT_PUBLIC_URL: string;
    SURVEY_PUBLIC_URL: string;
    TRUST_PROXY: boolean;
    METRICS_TOKEN?: string | undefined;
    SESSION_TTL_HOURS: number;
    REPORT_CACHE_MB?: number | undefined;
  };
}

/** Builds the coach / leader / HR app. Never listens, never reads the environment (see server.ts). */
export async function buildReportApp(deps: ReportAppDeps): Promise<FastifyInstance> {
  const secure = deps.config.REPORT_PUBLIC_URL.startsWith('https:');
  const app = await createWebApp({
    viewsDir: path.resolve(import.meta.dirname, '../views'),
    logLevel: deps.config.LOG_LEVEL,
    cookieSecret: deps.config.APP_SECRET,
    secure,
    trustProxy: deps.config.TRUST_PROXY,
    metricsToken: deps.config.METRICS_TOKEN,
    logStream: deps.logStream,
    redis: deps.redis,
    bodyLimit: 2 * 1024 * 1024,
    signInRequired: signInRequiredPage,
    readiness: async () => {
      await deps.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      if (deps.redis) await deps.redis.ping();
    },
  });

  // Before any route: a NUL character or a repeated field is a 400 here, not a 500 in a handler.
  refuseUnreadableFields(app);
  refuseUnreadableQuery(app);

  const pushJobs = () =>
    outboxRepository.tryDrainJobs(deps.db, deps.producer?.add, (error) =>
      app.log.warn({ err: (error as Error).message }, 'job push deferred to the sweeper'),
    );

  await app.register(sessions, {
    db: deps.db,
    keys: deps.keys,
    secure,
    ttlHours: deps.config.SESSION_TTL_HOURS,
  });
  await app.register(
    signInRoutes({ db: deps.db, keys: deps.keys, reportBaseUrl: deps.config.REPORT_PUBLIC_URL, pushJobs }),
  );
  const instruments = createInstrumentReader(deps.db);
  const cacheMb = deps.config.REPORT_CACHE_MB;
  const reportCache =
    deps.reportCache ??
    (cacheMb === 0
      ? false
      : createReportCache(cacheMb === undefined ? {} : { maxBytes: Math.round(cacheMb * 1024 * 1024) }));
  await app.register(
    reportRoutes({
      db: deps.db,
      instruments,
      ...(reportCache ? { cache: reportCache } : {}),
      notify: { keys: deps.keys, reportBaseUrl: deps.config.REPORT_PUBLIC_URL, pushJobs },
    }),
  );
  await app.register(hrRoutes({ db: deps.db, instruments }));
  await app.register(apiRoutes({ db: deps.db, instruments }));
  // Roster uploads: one CSV of at most 2 MiB, fields parsed before the CSRF check sees the body.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: 2 * 1024 * 1024, files: 1, fields: 10, parts: 12 },
  });
  await app.register(
    adminRoutes({
      db: deps.db,
      keys: deps.keys,
      surveyBaseUrl: deps.config.SURVEY_PUBLIC_URL,
      instrumentsDir: deps.instrumentsDir ?? path.resolve(import.meta.dirname, '../../../surveys'),
      pushJobs,
      completions: deps.completions,
    }),
  );
  await app.register(
    nominationRoutes({
      db: deps.db,
      keys: deps.keys,
      reportBaseUrl: deps.config.REPORT_PUBLIC_URL,
      surveyBaseUrl: deps.config.SURVEY_PUBLIC_URL,
      pushJobs,
    }),
  );
  return app;
}
