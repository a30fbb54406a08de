import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { bearerTokenMatches } from '@panorama/domain';

export interface MetricsOptions {
  /** Where the app's metrics are kept; a registry of its own by default, so several apps share a process. */
  registry?: Registry;
  /** Also serve the process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
  /**
   * Bearer token a scraper must send. Without one, `/metrics` is not served at all: request counts over
   * time would tell an outsider when raters submitted, which the batched completions exist to hide.
   */
  token?: string | undefined;
}

let processRegistry: Registry | undefined;
/**
 * Process metrics are collected once per process however many apps it builds (tests build hundreds): each
 * collection starts GC and event-loop observers that are never stopped.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Label of requests that matched no route: 404s for any address share one series. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Prometheus metrics for a web service: `http_request_duration_seconds` by route pattern, method and status,
 * served as text at `GET /metrics`. Labels come from the matched route's pattern (`/s/:token/:step`), never
 * from the URL, so no link token reaches a metric and the series stay few. Not rate-limited: limits apply only
 * to routes that ask for one. Served only to a scraper with the bearer token (METRICS_TOKEN); keep it off the
 * public load balancer anyway (docs/scaling.md).
 */
export const metrics = fp(
  async (app: FastifyInstance, options: MetricsOptions) => {
    const registry = options.registry ?? new Registry();
    const registries = options.processMetrics === false ? [registry] : [processMetrics(), registry];
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    app.decorate('metricsRegistry', registry);

    app.addHook('onResponse', async (request, reply) => {
      duration.observe(
        {
          route: request.routeOptions.url ?? UNMATCHED_ROUTE,
          method: request.method,
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    });

    const token = options.token;
    if (!token) return;
    app.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
      if (!bearerTokenMatches(request.headers.authorization, token)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'metrics need a bearer token' });
      }
      reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
      return (await Promise.all(registries.map((r) => r.metrics()))).join('\n');
    });
  },
  { name: 'panorama-metrics' },
);

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's Prometheus registry, for services that add metrics of their own. */
    metricsRegistry: Registry;
  }
}
