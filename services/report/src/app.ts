import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Db } from '@panorama/db';
import { createWebApp } from '@panorama/web';

export interface ReportAppDeps {
  db: Db;
  redis?: Redis;
  config: {
    LOG_LEVEL: string;
    APP_SECRET: string;
    REPORT_PUBLIC_URL: string;
    TRUST_PROXY: boolean;
  };
}

/** Builds the coach / leader / HR app. Never listens, never reads the environment (see server.ts). */
export async function buildReportApp(deps: ReportAppDeps): Promise<FastifyInstance> {
  const app = await createWebApp({
    viewsDir: path.resolve(import.meta.dirname, '../views'),
    logLevel: deps.config.LOG_LEVEL,
    cookieSecret: deps.config.APP_SECRET,
    secure: deps.config.REPORT_PUBLIC_URL.startsWith('https:'),
    trustProxy: deps.config.TRUST_PROXY,
    redis: deps.redis,
    bodyLimit: 2 * 1024 * 1024,
    readiness: async () => {
      await deps.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      if (deps.redis) await deps.redis.ping();
    },
  });

  app.get('/', async (_request, reply) => reply.viewAsync('home.hbs', { pageTitle: 'Reports' }));
  return app;
}
