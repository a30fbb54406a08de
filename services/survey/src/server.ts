import { loadConfigOrExit, surveyEnv } from '@panorama/config';
import { createDb } from '@panorama/db';
import { createRedis } from '@panorama/jobs';
import { serve } from '@panorama/web';
import { buildSurveyApp } from './app.ts';

const config = loadConfigOrExit(surveyEnv, 'survey');
const db = createDb({
  connectionString: config.DATABASE_URL,
  max: config.DATABASE_POOL_SIZE,
  applicationName: 'survey',
});
const redis = createRedis(config.REDIS_URL, 'producer');
const app = await buildSurveyApp({ db, redis, config });

await serve(app, {
  host: config.HOST,
  port: config.SURVEY_PORT,
  release: async () => {
    await db.destroy();
    redis.disconnect();
  },
});
