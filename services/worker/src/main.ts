import closeWithGrace from 'close-with-grace';
import { loadConfigOrExit } from '@panorama/config';
import { workerProcessEnv } from './config.ts';
import { createWorkerLogger, errorCode } from './logger.ts';
import { startWorker } from './start-worker.ts';

const config = loadConfigOrExit(workerProcessEnv, 'worker');
const logger = createWorkerLogger(config.LOG_LEVEL);
const starting = startWorker(config, { logger });

// Registered before start-up finishes: workers take jobs as soon as they exist, and a SIGTERM from then
// on must wait for those jobs rather than kill them.
closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
  if (err) logger.error({ err: errorCode(err) }, 'worker stopping after an error');
  else logger.info({ signal }, 'worker stopping');
  await (await starting).close();
});

await starting;
logger.info({ concurrency: config.WORKER_CONCURRENCY, prefix: config.QUEUE_PREFIX }, 'worker started');
