import { loadConfigOrExit, surveyEnv } from '@panorama/config';
import { createDb } from '@panorama/db';
import { deriveKeys } from '@panorama/domain';
import { createCompletionSet, createProducer, createRedis } from '@panorama/jobs';
import { serve } from '@panorama/web';
import { buildSurveyApp } from './app.ts';

const config = loadConfigOrExit(surveyEnv, 'survey');
const db = createDb({
  connectionString: config.DATABASE_URL,
  max: config.DATABASE_POOL_SIZE,
  applicationName: 'survey',
});
const redis = createRedis(config.REDIS_URL, 'producer');
const producer = createProducer({ connection: redis, prefix: config.QUEUE_PREFIX });
const completions = createCompletionSet(redis, config.QUEUE_PREFIX);
const app = await buildSurveyApp({
  db,
  redis,
  keys: deriveKeys(config.APP_SECRET),
  producer,
  completions,
  config,
});

await serve(app, {
  host: config.HOST,
  port: config.SURVEY_PORT,
  release: async () => {
    await producer.close();
    await db.destroy();
    redis.disconnect();
  },
});
