import { loadConfigOrExit, reportEnv } from '@panorama/config';
import { createDb } from '@panorama/db';
import { createRedis } from '@panorama/jobs';
import { serve } from '@panorama/web';
import { buildReportApp } from './app.ts';

const config = loadConfigOrExit(reportEnv, 'report');
const db = createDb({
  connectionString: config.DATABASE_URL,
  max: config.DATABASE_POOL_SIZE,
  applicationName: 'report',
});
const redis = createRedis(config.REDIS_URL, 'producer');
const app = await buildReportApp({ db, redis, config });

await serve(app, {
  host: config.HOST,
  port: config.REPORT_PORT,
  release: async () => {
    await db.destroy();
    redis.disconnect();
  },
});
