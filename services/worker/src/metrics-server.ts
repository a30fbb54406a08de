import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '@panorama/db';
import { bearerTokenMatches } from '@panorama/domain';
import { isJobName, QUEUES, type Producer } from '@panorama/jobs';
import { errorCode } from './logger.ts';

/** The queue states reported as `panorama_queue_jobs`; waiting is what autoscaling follows. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** How long a readiness check or a queue count may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 3_000;

function withTimeout<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let processRegistry: Registry | undefined;
/** Process metrics once per process: each collection starts observers that are never stopped. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface WorkerMetricsOptions {
  /** The running BullMQ workers, whose job events are timed and counted. */
  workers: readonly Worker[];
  /** Queues whose depth is counted on each scrape (any instance sees the whole queue: it lives in Redis). */
  queues: readonly Queue[];
  /** Also serve the process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
  logger?: Pick<Logger, 'warn'>;
}

export interface WorkerMetrics {
  registry: Registry;
  contentType: string;
  /** The text exposition of every metric, queue depths counted now. */
  text(): Promise<string>;
  /** Stops listening to the workers' events. */
  detach(): void;
}

/**
 * Job metrics of this process (durations and failed attempts per queue and job name) and the depth of each
 * queue, read from Redis when scraped. Job names outside the catalog are counted as `unknown`, so a stray job
 * cannot add series.
 */
export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const registry = new Registry();
  const duration = new Histogram({
    name: 'panorama_job_duration_seconds',
    help: 'Time a job attempt took in this worker process, by queue, job name and outcome.',
    labelNames: ['queue', 'job', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'panorama_job_failures_total',
    help: 'Failed job attempts in this worker process (retried or not), by queue and job name.',
    labelNames: ['queue', 'job'] as const,
    registers: [registry],
  });
  const queues = options.queues;
  // Registered for its collect(): no code sets it between scrapes.
  new Gauge({
    name: 'panorama_queue_jobs',
    help: 'Jobs in each queue by state, counted in Redis at scrape time (the same for every worker).',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      try {
        const counts = await withTimeout(
          'Redis',
          Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_STATES))),
        );
        this.reset();
        counts.forEach((count, i) => {
          for (const state of QUEUE_STATES) this.set({ queue: queues[i]!.name, state }, count[state] ?? 0);
        });
      } catch (error) {
        // No samples rather than stale ones: an alert on a missing series fires, a frozen number would not.
        this.reset();
        options.logger?.warn({ err: errorCode(error) }, 'queue depths not counted');
      }
    },
  });

  const nameOf = (job: Job) => (isJobName(job.name) ? job.name : 'unknown');
  const seconds = (job: Job) =>
    job.processedOn ? Math.max(0, (job.finishedOn ?? Date.now()) - job.processedOn) / 1000 : undefined;
  const detachers = options.workers.map((worker) => {
    const onCompleted = (job: Job) => {
      const s = seconds(job);
      if (s !== undefined)
        duration.observe({ queue: worker.name, job: nameOf(job), outcome: 'completed' }, s);
    };
    const onFailed = (job: Job | undefined) => {
      // A job that stalled too often fails without a job object of this attempt.
      const name = job ? nameOf(job) : 'unknown';
      failures.inc({ queue: worker.name, job: name });
      const s = job && seconds(job);
      if (s !== undefined) duration.observe({ queue: worker.name, job: name, outcome: 'failed' }, s);
    };
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
    return () => {
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
    };
  });

  const registries = options.processMetrics === false ? [registry] : [processMetrics(), registry];
  return {
    registry,
    contentType: registry.contentType,
    async text() {
      return (await Promise.all(registries.map((r) => r.metrics()))).join('\n');
    },
    detach() {
      for (const detach of detachers) detach();
    },
  };
}

export interface WorkerHttpOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Behind /readyz; throws when not ready. */
  readiness: () => Promise<void>;
  metrics: WorkerMetrics;
  /**
   * Bearer token a scraper must send for `/metrics`, as on the web apps (METRICS_TOKEN). Without one,
   * `/metrics` is not served: job durations and queue depths over time would tell when raters submitted.
   */
  metricsToken?: string | undefined;
  logger: Pick<Logger, 'info' | 'warn'>;
}

export interface WorkerHttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's HTTP face, for probes and Prometheus only: `/healthz` (the process answers), `/readyz` and
 * `/metrics` (only with `metricsToken`, and only to a scraper that sends it). Plain `node:http`: the worker
 * serves no pages.
 */
export async function startWorkerHttpServer(options: WorkerHttpOptions): Promise<WorkerHttpServer> {
  const { metrics, logger } = options;
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return json(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz':
        try {
          await options.readiness();
          return json(res, 200, { status: 'ready' });
        } catch (error) {
          return json(
            res,
            503,
            { status: 'not ready', reason: (error as Error).message },
            { 'retry-after': '5' },
          );
        }
      case '/metrics': {
        if (!options.metricsToken) return json(res, 404, { error: 'not found' });
        if (!bearerTokenMatches(req.headers.authorization, options.metricsToken))
          return json(res, 401, { error: 'metrics need a bearer token' }, { 'www-authenticate': 'Bearer' });
        const body = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        return res.end(body);
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.warn({ err: errorCode(error), path: req.url?.split('?')[0] }, 'worker http request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: options.host, port }, 'worker health and metrics listening');
  let closed: Promise<void> | undefined;
  return {
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        metrics.detach();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/**
 * What `startWorker` runs when WORKER_HTTP_PORT is set: metrics of these workers and of every queue, and
 * readiness meaning Postgres and Redis each answer within 3 s.
 */
export function startMetricsServer(deps: {
  host: string;
  port: number;
  db: Db;
  redis: Pick<Redis, 'ping'>;
  producer: Pick<Producer, 'queue'>;
  workers: readonly Worker[];
  metricsToken?: string | undefined;
  logger: Pick<Logger, 'info' | 'warn'>;
}): Promise<WorkerHttpServer> {
  const metrics = createWorkerMetrics({
    workers: deps.workers,
    queues: QUEUES.map((name) => deps.producer.queue(name)),
    logger: deps.logger,
  });
  return startWorkerHttpServer({
    host: deps.host,
    port: deps.port,
    metrics,
    metricsToken: deps.metricsToken,
    logger: deps.logger,
    readiness: async () => {
      await withTimeout('Postgres', sql`select 1`.execute(deps.db));
      await withTimeout('Redis', deps.redis.ping());
    },
  }).catch((error: unknown) => {
    metrics.detach();
    throw error;
  });
}
