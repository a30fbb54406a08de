import { loadConfigOrExit, reportEnv } from '@panorama/config';
import { createDb } from '@panorama/db';
import { deriveKeys } from '@panorama/domain';
import { createCompletionSet, createProducer, createRedis } from '@panorama/jobs';
import { serve } from '@panorama/web';
import { buildReportApp } from './app.ts';

const config = loadConfigOrExit(reportEnv, 'report');
const db = createDb({
  connectionString: config.DATABASE_URL,
  max: config.DATABASE_POOL_SIZE,
  applicationName: 'report',
});
const redis = createRedis(config.REDIS_URL, 'producer');
const producer = createProducer({ connection: redis, prefix: config.QUEUE_PREFIX });
const completions = createCompletionSet(redis, config.QUEUE_PREFIX);
const app = await buildReportApp({
  db,
  redis,
  producer,
  completions,
  keys: deriveKeys(config.APP_SECRET),
  config,
});

await serve(app, {
  host: config.HOST,
  port: config.REPORT_PORT,
  release: async () => {
    await producer.close();
    await db.destroy();
    redis.disconnect();
  },
});
