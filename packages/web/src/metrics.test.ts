import path from 'node:path';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createWebApp } from './create-web-app.ts';
import { metrics, UNMATCHED_ROUTE } from './metrics.ts';

/** The value of one sample line of the text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => inside.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

const TOKEN = 'metrics-token-for-tests';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('metrics plugin', () => {
  it('serves nothing without a configured token, and 401 without the right one', async () => {
    const open = Fastify();
    await open.register(metrics, { processMetrics: false });
    expect((await open.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    await open.close();
    const guarded = Fastify();
    await guarded.register(metrics, { processMetrics: false, token: TOKEN });
    expect((await guarded.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const wrong = { authorization: 'Bearer not-the-token' };
    expect((await guarded.inject({ method: 'GET', url: '/metrics', headers: wrong })).statusCode).toBe(401);
    expect((await guarded.inject({ method: 'GET', url: '/metrics', headers: AUTH })).statusCode).toBe(200);
    await guarded.close();
  });

  it('times requests by route pattern, never by URL, and serves the text format', async () => {
    const app = Fastify();
    await app.register(metrics, { processMetrics: false, token: TOKEN });
    app.get('/s/:token/:step', async () => 'ok');
    app.post('/s/:token/:step', async (_request, reply) => reply.code(303).send());
    await app.ready();

    const token = 'tok_SECRET_do-not-log-me';
    await app.inject({ method: 'GET', url: `/s/${token}/1` });
    await app.inject({ method: 'GET', url: `/s/${token}/2?x=1` });
    await app.inject({ method: 'POST', url: `/s/${token}/2` });
    await app.inject({ method: 'GET', url: `/nowhere/${token}` });

    const response = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).not.toContain(token);
    const count = (labels: Record<string, string>) =>
      sample(text, 'http_request_duration_seconds_count', labels);
    expect(count({ route: '/s/:token/:step', method: 'GET', status_code: '200' })).toBe(2);
    expect(count({ route: '/s/:token/:step', method: 'POST', status_code: '303' })).toBe(1);
    expect(count({ route: UNMATCHED_ROUTE, method: 'GET', status_code: '404' })).toBe(1);
    const sum = sample(text, 'http_request_duration_seconds_sum', {
      route: '/s/:token/:step',
      method: 'GET',
    });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(5);
    // No process metrics were asked for.
    expect(text).not.toContain('process_cpu_user_seconds_total');
    await app.close();
  });

  it('keeps each app in a registry of its own, so two apps in one process do not collide', async () => {
    const registry = new Registry();
    const first = Fastify();
    await first.register(metrics, { registry, token: TOKEN });
    const second = Fastify();
    await second.register(metrics, { token: TOKEN });
    first.get('/a', async () => 'a');
    await first.ready();
    await second.ready();
    await first.inject({ method: 'GET', url: '/a' });
    expect(first.metricsRegistry).toBe(registry);
    expect(await registry.getSingleMetricAsString('http_request_duration_seconds')).toContain('route="/a"');
    const other = await second.inject({ method: 'GET', url: '/metrics', headers: AUTH });
    expect(other.body).not.toContain('route="/a"');
    expect(other.body).toContain('process_cpu_user_seconds_total');
    await first.close();
    await second.close();
  });

  it('is part of every web app, outside the rate limits and CSRF', async () => {
    const app = await createWebApp({
      viewsDir: path.resolve(import.meta.dirname, '../views'),
      logLevel: 'silent',
      cookieSecret: 'x'.repeat(32),
      secure: false,
      metricsToken: TOKEN,
    });
    await app.inject({ method: 'GET', url: '/healthz' });
    for (let i = 0; i < 3; i++) {
      const response = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBeUndefined();
    }
    const text = (await app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
    expect(sample(text, 'http_request_duration_seconds_count', { route: '/healthz', method: 'GET' })).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count', { route: '/metrics' })).toBe(3);
    await app.close();
  });
});
