import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorCode } from './logger.ts';
import {
  isJobName,
  parsePayload,
  QUEUES,
  type JobHandlers,
  type JobName,
  type QueueName,
} from '@panorama/jobs';

export interface RunningWorkers {
  workers: Worker[];
  /** Waits for active jobs to finish (or the timeout), then disconnects. */
  close(): Promise<void>;
}

export interface RunWorkersOptions {
  connection: Redis;
  prefix: string;
  handlers: JobHandlers;
  logger: Logger;
  concurrency?: Partial<Record<QueueName, number>>;
  queues?: readonly QueueName[];
  /**
   * How long a job's lock lasts (default 30 s); a job whose worker died is picked up again after about this
   * long. Stalled jobs are looked for every half of it, at most every 15 s.
   */
  lockDurationMs?: number;
}

/**
 * One BullMQ worker per queue, dispatching by job name to the catalog's handlers. Payloads are validated on
 * the way in; a job name outside the catalog fails loudly rather than being acknowledged.
 */
export function runWorkers(options: RunWorkersOptions): RunningWorkers {
  const { logger } = options;
  const lockDuration = options.lockDurationMs ?? 30_000;
  const workers = (options.queues ?? QUEUES).map((queue) => {
    const worker = new Worker(
      queue,
      async (job: Job) => {
        if (!isJobName(job.name)) throw new Error(`unknown job name ${JSON.stringify(job.name)}`);
        const name: JobName = job.name;
        const payload = parsePayload(name, job.data);
        const handler = options.handlers[name] as (p: typeof payload, c: unknown) => Promise<void>;
        const started = performance.now();
        await handler(payload, {
          jobId: job.id ?? '',
          attempt: job.attemptsMade + 1,
          log: (m: string) => job.log(m),
        });
        logger.debug({ queue, job: name, ms: Math.round(performance.now() - started) }, 'job done');
      },
      {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: options.concurrency?.[queue] ?? 4,
        // A worker that dies mid-job has its job picked up again once its lock runs out.
        lockDuration,
        stalledInterval: Math.min(15_000, Math.round(lockDuration / 2)),
        maxStalledCount: 5,
        autorun: true,
      },
    );
    worker.on('error', (err) => logger.error({ queue, err: errorCode(err) }, 'worker error'));
    worker.on('failed', (job, err) =>
      logger.warn(
        { queue, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: errorCode(err) },
        'job failed',
      ),
    );
    return worker;
  });
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
