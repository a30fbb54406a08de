/**
 * A service under load, in a process of its own so the load generator does not share its event loop:
 * `survey` (buildSurveyApp with Redis, producer and completions, as server.ts wires it), `noop` (a bare
 * Fastify POST with the survey's form parser: the ingest baseline) or `report` (buildReportApp). Started with
 * `fork`; sends `{ port }` once listening, answers `'stats'` with server times per route and peak RSS, and
 * exits on `'stop'`. Server time is Fastify's `reply.elapsedTime` (from the request arriving to the reply
 * being sent).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createDb } from '@panorama/db';
import { createCompletionSet, createProducer, createRedis } from '@panorama/jobs';
import { buildReportApp } from '@panorama/report';
import { buildSurveyApp } from '@panorama/survey';
import { parseFormBody } from '../../../services/survey/src/form-body.ts';
import { keys, TEST_SECRET } from '../../support/scenario.ts';
import { peakRssBytes } from '../support/stats.ts';

const kind = process.argv[2];
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const times = new Map<string, number[]>();
const release: (() => Promise<unknown> | void)[] = [];
let app: FastifyInstance;

if (kind === 'noop') {
  app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'buffer', bodyLimit: 64 * 1024 },
    (_request, body, done) => {
      try {
        done(null, parseFormBody(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
  app.post('/s/:token/:step', async (_request, reply) => reply.redirect('/thanks', 303));
} else if (kind === 'survey' || kind === 'report') {
  const db = createDb({ connectionString: env('DATABASE_URL'), max: 10, applicationName: kind });
  const redis = createRedis(env('REDIS_URL'), 'producer');
  const producer = createProducer({ connection: redis, prefix: env('QUEUE_PREFIX') });
  release.push(
    () => producer.close(),
    () => db.destroy(),
    () => redis.disconnect(),
  );
  const common = { LOG_LEVEL: 'silent', APP_SECRET: TEST_SECRET, TRUST_PROXY: false };
  app =
    kind === 'survey'
      ? await buildSurveyApp({
          db,
          redis,
          keys,
          producer,
          completions: createCompletionSet(redis, env('QUEUE_PREFIX')),
          config: { ...common, SURVEY_PUBLIC_URL: 'http://127.0.0.1' },
          // One client IP sends every request; the per-IP limits would measure the limiter, not the service.
          rateLimits: { readsPerIp: 1e9, writesPerIp: 1e9 },
        })
      : await buildReportApp({
          db,
          redis,
          producer,
          keys,
          config: {
            ...common,
            REPORT_PUBLIC_URL: 'http://127.0.0.1',
            SURVEY_PUBLIC_URL: 'http://127.0.0.1',
            SESSION_TTL_HOURS: 1,
          },
        });
} else {
  throw new Error(`usage: serve.ts survey|noop|report (got ${kind})`);
}

app.addHook('onResponse', async (request, reply) => {
  const route = `${request.method} ${request.routeOptions.url ?? '?'} ${reply.statusCode}`;
  let list = times.get(route);
  if (!list) times.set(route, (list = []));
  list.push(reply.elapsedTime);
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.send!({ port: typeof address === 'object' && address ? address.port : 0 });

// The bench died without stopping this server: do not outlive it.
process.on('disconnect', () => process.exit(1));
process.on('message', (message) => {
  if (message === 'stats') {
    process.send!({ times: Object.fromEntries(times), peakRssBytes: peakRssBytes() });
  } else if (message === 'reset') {
    times.clear();
  } else if (message === 'stop') {
    void (async () => {
      await app.close();
      for (const fn of release) await fn();
      process.exit(0);
    })();
  }
});
