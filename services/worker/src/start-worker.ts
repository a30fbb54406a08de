import { createDb, type Db } from '@panorama/db';
import { deriveKeys } from '@panorama/domain';
import { createCompletionSet, createProducer, createRedis, jobCatalog, type Producer } from '@panorama/jobs';
import { createMailer, type Mailer } from '@panorama/mail';
import type { Logger } from 'pino';
import type { WorkerProcessConfig } from './config.ts';
import { createHandlers, type HandlerDeps } from './handlers/index.ts';
import { createWorkerLogger } from './logger.ts';
import { startMetricsServer } from './metrics-server.ts';
import { runWorkers, type RunningWorkers } from './run-workers.ts';

/** How often the maintenance jobs run. */
export const MAINTENANCE_EVERY_MS = { 'sweep-outboxes': 20_000, 'flush-completions': 30_000 } as const;

export interface StartWorkerOptions {
  logger?: Logger;
  /** Replaces the mailer built from SMTP_URL / OUTBOX_DIR (tests). */
  mailer?: Mailer;
  /** Register the repeatable maintenance jobs (default true). */
  schedule?: boolean;
  /** Shorter email retry budgets (tests); see `createDeliverEmail`. */
  email?: HandlerDeps['email'];
}

export interface RunningWorker {
  db: Db;
  producer: Producer;
  workers: RunningWorkers;
  /** Lets active jobs finish, then closes the queues, the mailer, the database pool and Redis. */
  close(): Promise<void>;
}

/**
 * Opens the connections, starts one BullMQ worker per queue and schedules the maintenance jobs. Never reads
 * the environment: `main.ts` does, and tests pass a config of their own.
 */
export async function startWorker(
  config: WorkerProcessConfig,
  options: StartWorkerOptions = {},
): Promise<RunningWorker> {
  const logger = options.logger ?? createWorkerLogger(config.LOG_LEVEL);
  const db = createDb({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    applicationName: 'panorama-worker',
  });
  // One waiting connection for queues and workers: inside the worker, a push that waits out a Redis blip
  // beats one that fails fast (BullMQ duplicates it for its blocking commands).
  const redis = createRedis(config.REDIS_URL, 'worker');
  const mailer =
    options.mailer ??
    createMailer({
      smtpUrl: config.SMTP_URL,
      outboxDir: config.OUTBOX_DIR,
      from: config.MAIL_FROM,
      // File mode is the local quick start (no SMTP): the developer finds the link here. With SMTP, links
      // never reach a log.
      onFileWritten: (file, message) => {
        const links = message.text.match(/https?:\/\/\S+/g) ?? [];
        logger.info(
          { file },
          `email "${message.subject}" written to ${file}${links.length ? `; link: ${links.join(' ')}` : ''}`,
        );
      },
    });
  const producer = createProducer({ connection: redis, prefix: config.QUEUE_PREFIX });
  const handlers = createHandlers({
    db,
    producer,
    mailer,
    keys: deriveKeys(config.APP_SECRET),
    anonymityK: config.ANONYMITY_K,
    logger,
    testJobDelayMs: config.PANORAMA_TEST_JOB_DELAY_MS,
    completions: createCompletionSet(redis, config.QUEUE_PREFIX),
    email: {
      ...(config.PANORAMA_TEST_EMAIL_ATTEMPTS !== undefined
        ? { maxAttempts: config.PANORAMA_TEST_EMAIL_ATTEMPTS }
        : {}),
      ...(config.PANORAMA_TEST_EMAIL_RETRY_MS !== undefined
        ? { retryDelayMs: () => config.PANORAMA_TEST_EMAIL_RETRY_MS! }
        : {}),
      ...options.email,
    },
  });
  const workers = runWorkers({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    handlers,
    logger,
    concurrency: {
      aggregate: config.WORKER_CONCURRENCY,
      email: config.WORKER_CONCURRENCY,
      maintenance: 1,
    },
    lockDurationMs: config.WORKER_LOCK_MS,
  });
  const http = config.WORKER_HTTP_PORT
    ? await startMetricsServer({
        host: config.HOST,
        port: config.WORKER_HTTP_PORT,
        db,
        redis,
        producer,
        workers: workers.workers,
        metricsToken: config.METRICS_TOKEN,
        logger,
      })
    : undefined;

  if (options.schedule !== false) {
    const maintenance = producer.queue('maintenance');
    for (const [name, every] of Object.entries(MAINTENANCE_EVERY_MS) as [
      keyof typeof MAINTENANCE_EVERY_MS,
      number,
    ][]) {
      const { attempts, removeOnComplete, removeOnFail } = jobCatalog[name].options;
      await maintenance.upsertJobScheduler(
        name,
        { every },
        { name, data: {}, opts: { attempts, removeOnComplete, removeOnFail } },
      );
    }
  }

  let closed: Promise<void> | undefined;
  return {
    db,
    producer,
    workers,
    close() {
      closed ??= (async () => {
        await http?.close();
        await workers.close();
        await producer.close();
        mailer.close();
        await db.destroy();
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closed;
    },
  };
}
