import { EventEmitter } from 'node:events';
import type { Job, Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorkerMetrics, startWorkerHttpServer, type WorkerHttpServer } from './metrics-server.ts';

/** A stand-in for a BullMQ worker: only its name and its events are used. */
function fakeWorker(name: string) {
  return Object.assign(new EventEmitter(), { name }) as unknown as Worker & EventEmitter;
}

function fakeQueue(name: string, counts: () => Promise<Record<string, number>>) {
  return { name, getJobCounts: counts } as unknown as Queue;
}

const job = (name: string, processedOn: number, finishedOn?: number) =>
  ({ name, processedOn, finishedOn }) as unknown as Job;

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const silent = { info: () => {}, warn: () => {} };
const TOKEN = 'scraper-token-0123456789';
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const servers: WorkerHttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('worker metrics', () => {
  it('times completed and failed jobs per queue and job name, and counts queue depths on scrape', async () => {
    const aggregate = fakeWorker('aggregate');
    let waiting = 7;
    const metrics = createWorkerMetrics({
      workers: [aggregate],
      queues: [fakeQueue('aggregate', async () => ({ waiting, active: 2, delayed: 1, failed: 0 }))],
      processMetrics: false,
    });
    aggregate.emit('completed', job('aggregate-subject', 1_000, 1_250));
    aggregate.emit('completed', job('aggregate-subject', 2_000, 2_500));
    aggregate.emit('failed', job('rollup-cohort', 3_000, 3_100), new Error('boom'));
    aggregate.emit('failed', undefined, new Error('stalled'));
    aggregate.emit('completed', job('not-in-the-catalog', 1, 2));

    let text = await metrics.text();
    const labels = { queue: 'aggregate', job: 'aggregate-subject', outcome: 'completed' };
    expect(sample(text, 'panorama_job_duration_seconds_count', labels)).toBe(2);
    expect(sample(text, 'panorama_job_duration_seconds_sum', labels)).toBeCloseTo(0.75, 9);
    expect(sample(text, 'panorama_job_duration_seconds_bucket', { ...labels, le: '0.25' })).toBe(1);
    expect(sample(text, 'panorama_job_failures_total', { queue: 'aggregate', job: 'rollup-cohort' })).toBe(1);
    expect(sample(text, 'panorama_job_failures_total', { queue: 'aggregate', job: 'unknown' })).toBe(1);
    expect(text).not.toContain('not-in-the-catalog');
    expect(sample(text, 'panorama_queue_jobs', { queue: 'aggregate', state: 'waiting' })).toBe(7);
    expect(sample(text, 'panorama_queue_jobs', { queue: 'aggregate', state: 'active' })).toBe(2);

    waiting = 0;
    text = await metrics.text();
    expect(sample(text, 'panorama_queue_jobs', { queue: 'aggregate', state: 'waiting' })).toBe(0);

    metrics.detach();
    aggregate.emit('completed', job('aggregate-subject', 1, 2));
    text = await metrics.text();
    expect(sample(text, 'panorama_job_duration_seconds_count', labels)).toBe(2);
  });

  it('leaves queue depths out rather than report stale ones when Redis does not answer', async () => {
    const metrics = createWorkerMetrics({
      workers: [],
      queues: [fakeQueue('email', () => Promise.reject(new Error('connection refused')))],
      processMetrics: false,
      logger: silent,
    });
    const text = await metrics.text();
    expect(text).toContain('# TYPE panorama_queue_jobs gauge');
    expect(sample(text, 'panorama_queue_jobs', { queue: 'email' })).toBeUndefined();
  });
});

describe('worker HTTP server', () => {
  it('answers /healthz, /readyz (503 while a dependency is down) and /metrics', async () => {
    let ready = true;
    const worker = fakeWorker('email');
    const server = await startWorkerHttpServer({
      host: '127.0.0.1',
      port: 0,
      logger: silent,
      metricsToken: TOKEN,
      readiness: async () => {
        if (!ready) throw new Error('Redis did not answer within 3000 ms');
      },
      metrics: createWorkerMetrics({
        workers: [worker],
        queues: [fakeQueue('email', async () => ({ waiting: 3, active: 0, delayed: 0, failed: 1 }))],
      }),
    });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;

    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const readyResponse = await fetch(`${base}/readyz`);
    expect(readyResponse.status).toBe(200);
    ready = false;
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      status: 'not ready',
      reason: 'Redis did not answer within 3000 ms',
    });

    worker.emit('completed', job('deliver-email', 10, 60));
    const scrape = await fetch(`${base}/metrics`, bearer(TOKEN));
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    expect(sample(text, 'panorama_queue_jobs', { queue: 'email', state: 'waiting' })).toBe(3);
    expect(sample(text, 'panorama_queue_jobs', { queue: 'email', state: 'failed' })).toBe(1);
    expect(
      sample(text, 'panorama_job_duration_seconds_count', { queue: 'email', job: 'deliver-email' }),
    ).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');

    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('serves /metrics only with the bearer token, and not at all without METRICS_TOKEN', async () => {
    const worker = fakeWorker('aggregate');
    const start = (metricsToken?: string) =>
      startWorkerHttpServer({
        host: '127.0.0.1',
        port: 0,
        logger: silent,
        metricsToken,
        readiness: async () => {},
        metrics: createWorkerMetrics({ workers: [worker], queues: [], processMetrics: false }),
      });
    const guarded = await start(TOKEN);
    servers.push(guarded);
    worker.emit('completed', job('aggregate-subject', 10, 60));
    const url = `http://127.0.0.1:${guarded.port}/metrics`;
    for (const init of [
      {},
      bearer(''),
      bearer('wrong'),
      bearer(TOKEN.slice(0, -1)),
      bearer(`${TOKEN}x`),
      { headers: { authorization: TOKEN } },
      { headers: { authorization: `Basic ${TOKEN}` } },
    ]) {
      const refused = await fetch(url, init);
      expect(refused.status, JSON.stringify(init)).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      const body = await refused.text();
      // Nothing about jobs leaks to a scraper without the token.
      expect(body).not.toContain('panorama_job');
    }
    const scrape = await fetch(url, bearer(TOKEN));
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('panorama_job_duration_seconds_count');

    const open = await start(undefined);
    servers.push(open);
    const base = `http://127.0.0.1:${open.port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, bearer(TOKEN))).status).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('refuses to start on a port in use, saying so', async () => {
    const metrics = () => createWorkerMetrics({ workers: [], queues: [], processMetrics: false });
    const first = await startWorkerHttpServer({
      host: '127.0.0.1',
      port: 0,
      logger: silent,
      readiness: async () => {},
      metrics: metrics(),
    });
    servers.push(first);
    await expect(
      startWorkerHttpServer({
        host: '127.0.0.1',
        port: first.port,
        logger: silent,
        readiness: async () => {},
        metrics: metrics(),
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
