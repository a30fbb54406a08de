import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import getPort from 'get-port';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, resultRepository, type Db, type Relationship } from '@panorama/db';
import {
  buildProfile,
  createSeededRandom,
  type AnonymityRules,
  type Instrument,
  type ScoringResponse,
} from '@panorama/domain';
import {
  createCompletionSet,
  createProducer,
  createRedis,
  QUEUES,
  type Producer,
  type QueueName,
} from '@panorama/jobs';
import { buildSurveyApp, type SurveyAppDeps } from '@panorama/survey';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { keys, SURVEY_URL, TEST_SECRET } from '../support/scenario.ts';

// Several survey instances behind a load balancer and several worker processes on one Postgres and one
// Redis: the proof that nothing a request or a job needs lives in one process (docs/scaling.md).

const METRICS_TOKEN = 'scraper-token-for-tests';
const ROOT = path.resolve(import.meta.dirname, '../..');
const WORKER_MAIN = path.join(ROOT, 'services/worker/src/main.ts');
const SUBJECTS = 4;
const PEERS = 3;
/** Raters running through the form at the same time. */
const PARALLEL = 6;

// ---- processes and instances ------------------------------------------------------------------------

interface WorkerChild {
  child: ChildProcess;
  port: number;
  output: string[];
}

function spawnWorker(t: TestDatabase, prefix: string, outboxDir: string, port: number): WorkerChild {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: t.url,
      DATABASE_POOL_SIZE: '3',
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      // The same secret as the survey instances: links, drafts and outbox payloads are keyed by it.
      APP_SECRET: TEST_SECRET,
      OUTBOX_DIR: outboxDir,
      HOST: '127.0.0.1',
      WORKER_HTTP_PORT: String(port),
      METRICS_TOKEN,
      // One job at a time per queue and a short pause inside each aggregation, so both processes get work
      // and their transactions on one subject overlap.
      WORKER_CONCURRENCY: '1',
      PANORAMA_TEST_JOB_DELAY_MS: '100',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return { child, port, output };
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

async function stopWorker(worker: WorkerChild): Promise<void> {
  const { child } = worker;
  if (!running(child)) return;
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 45_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

interface SurveyInstance {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** One survey instance as `services/survey/src/server.ts` starts it: its own pool, Redis and producer. */
async function startSurveyInstance(
  t: TestDatabase,
  prefix: string,
  extra: Partial<SurveyAppDeps> = {},
): Promise<SurveyInstance> {
  const db = createDb({ connectionString: t.url, max: 4, applicationName: 'survey' });
  const redis = createRedis(redisUrl(), 'producer');
  const producer = createProducer({ connection: redis, prefix });
  const completions = createCompletionSet(redis, prefix);
  const app = await buildSurveyApp({
    db,
    redis,
    keys,
    producer,
    completions,
    // Behind a load balancer: the client's address comes from X-Forwarded-For.
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: TEST_SECRET,
      SURVEY_PUBLIC_URL: SURVEY_URL,
      TRUST_PROXY: true,
      METRICS_TOKEN,
    },
    ...extra,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await producer.close();
      await db.destroy();
      redis.disconnect();
    },
  };
}

// ---- a rater's browser over real HTTP, alternating between instances -------------------------------

/** A client address of this run's own, so no other test file's rate-limit counters in this Redis count. */
const runOctet = randomInt(1, 250);
let ipCount = 0;
const freshIp = () => `10.${runOctet}.${Math.floor(++ipCount / 250)}.${(ipCount % 250) + 1}`;

class Browser {
  private cookie: string | undefined;
  csrf: string | undefined;
  readonly ip = freshIp();
  private turn: number;

  constructor(
    private readonly instances: SurveyInstance[],
    start: number,
  ) {
    this.turn = start;
  }

  /** Every request goes to the next instance, as a round-robin load balancer without affinity sends it. */
  private next(): SurveyInstance {
    return this.instances[this.turn++ % this.instances.length]!;
  }

  private async remember(response: Response) {
    for (const c of response.headers.getSetCookie())
      if (c.startsWith('panorama-csrf=')) this.cookie = c.split(';')[0];
    const body = await response.text();
    const csrf = /name=["']_csrf["'] value=["']([^"']+)["']/.exec(body);
    if (csrf) this.csrf = csrf[1];
    return { status: response.status, location: response.headers.get('location'), body };
  }

  private headers(): Record<string, string> {
    return { 'x-forwarded-for': this.ip, ...(this.cookie ? { cookie: this.cookie } : {}) };
  }

  async get(url: string, instance = this.next()) {
    return this.remember(await fetch(instance.url + url, { headers: this.headers(), redirect: 'manual' }));
  }

  async post(url: string, fields: [string, string][], instance = this.next()) {
    const body = new URLSearchParams([...fields, ['_csrf', this.csrf ?? '']]).toString();
    return this.remember(
      await fetch(instance.url + url, {
        method: 'POST',
        body,
        redirect: 'manual',
        headers: { ...this.headers(), 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
  }
}

// ---- what the database holds --------------------------------------------------------------------------

/** Raw responses straight from the tables, without the repository the worker uses. */
async function rawResponses(db: Db, subjectId: string): Promise<ScoringResponse[]> {
  const rows = await sql<{
    id: string;
    relationship: Relationship;
    item_id: string | null;
    value: number | null;
    question_id: string | null;
    body: string | null;
  }>`select r.id, r.relationship, rr.item_id, rr.value, null as question_id, null as body
     from responses r left join response_ratings rr on rr.response_id = r.id where r.subject_id = ${subjectId}
     union all
     select r.id, r.relationship, null, null, rc.question_id, rc.body
     from responses r join response_comments rc on rc.response_id = r.id where r.subject_id = ${subjectId}`.execute(
    db,
  );
  const byId = new Map<string, ScoringResponse>();
  for (const row of rows.rows) {
    const response = byId.get(row.id) ?? {
      id: row.id,
      relationship: row.relationship,
      ratings: {},
      comments: {},
    };
    byId.set(row.id, response);
    if (row.item_id !== null) response.ratings[row.item_id] = row.value;
    if (row.question_id !== null) response.comments[row.question_id] = row.body ?? '';
  }
  return [...byId.values()];
}

/** A response's answers as one string, to find a rater's submission among the anonymous rows. */
const fingerprint = (ratings: Record<string, number | null>, comments: Record<string, string>) =>
  JSON.stringify([
    Object.entries(ratings).sort(([a], [b]) => a.localeCompare(b)),
    Object.entries(comments).sort(([a], [b]) => a.localeCompare(b)),
  ]);

const itemsOfStep = (instrument: Instrument, step: number) =>
  instrument.competencies.slice((step - 1) * 2, step * 2).flatMap((c) => c.items.map((i) => i.id));

/** The anonymity rules the worker applies to this instrument (its own k; distributions from n = 4). */
const rulesOf = (instrument: Instrument): AnonymityRules => ({
  k: { ...instrument.anonymity!.k! },
  distributionMinN: 4,
});

interface Rater {
  token: string;
  subjectId: string;
  relationship: Relationship;
  ratings: Record<string, number | null>;
  comments: Record<string, string>;
  /** The final step is posted to both instances at once, as a double click behind a load balancer would. */
  doubleSubmit: boolean;
}

async function jobCounts(producer: Producer, queue: QueueName) {
  return producer.queue(queue).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
}

/** One sample of a Prometheus text exposition, summed over the series whose labels include `labels`. */
function sampleSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

// ---- the test -------------------------------------------------------------------------------------------

describe('scale-out: two survey instances and two worker processes on one Postgres and one Redis', () => {
  let t: TestDatabase;
  let outboxDir: string;
  const prefix = queuePrefix();
  const workers: WorkerChild[] = [];
  const instances: SurveyInstance[] = [];
  let observer: { redis: ReturnType<typeof createRedis>; producer: Producer } | undefined;
  let instrument: Instrument;
  const raters: Rater[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    outboxDir = mkdtempSync(path.join(os.tmpdir(), 'panorama-scale-out-'));
    // Cycles are opened (and their links read from the sealed outbox) before any worker could send them.
    const random = createSeededRandom('scale-out');
    for (let s = 0; s < SUBJECTS; s++) {
      const cycle = await openSurveyCycle(t.db, { peers: PEERS });
      instrument = cycle.instrument;
      const tokens: [string, Relationship][] = [
        [cycle.tokens.self, 'self'],
        [cycle.tokens.manager, 'manager'],
        ...cycle.tokens.peers.map((p): [string, Relationship] => [p, 'peer']),
      ];
      for (const [token, relationship] of tokens) {
        const n = raters.length;
        const ratings: Record<string, number | null> = {};
        for (const c of instrument.competencies)
          for (const item of c.items)
            ratings[item.id] = random() < 0.05 ? null : 1 + Math.floor(random() * 5);
        raters.push({
          token,
          subjectId: cycle.subjectId,
          relationship,
          ratings,
          comments: n % 2 === 0 ? { [instrument.questions[0]!.id]: `rater ${n} of the scale-out run` } : {},
          doubleSubmit: n % 3 === 0,
        });
      }
    }

    const ports = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
    for (const port of ports) workers.push(spawnWorker(t, prefix, outboxDir, port));
    for (let i = 0; i < 2; i++) instances.push(await startSurveyInstance(t, prefix));
    const redis = createRedis(redisUrl(), 'worker');
    observer = { redis, producer: createProducer({ connection: redis, prefix }) };

    for (const worker of workers) {
      await until(`worker on port ${worker.port} to be ready`, async () => {
        if (!running(worker.child))
          throw new Error(`a worker exited during start-up:\n${worker.output.join('')}`);
        try {
          return (await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status === 200;
        } catch {
          return false;
        }
      });
    }
  });

  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await Promise.all(instances.map((i) => i.close()));
    await observer?.producer.close();
    observer?.redis.disconnect();
    await t?.drop();
    if (outboxDir) rmSync(outboxDir, { recursive: true, force: true });
  });

  it('stores every acknowledged submission once and converges on the profiles a fresh recompute gives', async () => {
    const acknowledged: Rater[] = [];
    const fillIn = async (rater: Rater, index: number) => {
      const browser = new Browser(instances, index);
      const first = await browser.get(`/s/${rater.token}`);
      expect(first.status, first.body.slice(0, 300)).toBe(200);
      for (let step = 1; step <= 6; step++) {
        await browser.get(`/s/${rater.token}/${step}`);
        const fields = itemsOfStep(instrument, step).map((id): [string, string] => {
          const value = rater.ratings[id];
          return [`r.${id}`, value === null || value === undefined ? 'na' : String(value)];
        });
        const posted = await browser.post(`/s/${rater.token}/${step}`, [...fields, ['action', 'next']]);
        expect(posted.status, posted.body.slice(0, 300)).toBe(303);
        expect(posted.location).toBe(`/s/${rater.token}/${step + 1}`);
      }
      await browser.get(`/s/${rater.token}/7`);
      const final: [string, string][] = [
        ...Object.entries(rater.comments).map(([id, text]): [string, string] => [`c.${id}`, text]),
        ['action', 'submit'],
      ];
      const results = rater.doubleSubmit
        ? await Promise.all(instances.map((instance) => browser.post(`/s/${rater.token}/7`, final, instance)))
        : [await browser.post(`/s/${rater.token}/7`, final)];
      const accepted = results.filter((r) => r.status === 303 && r.location === '/thanks');
      expect(accepted.length, `rater ${index}: ${results.map((r) => r.status).join(', ')}`).toBe(1);
      for (const refused of results.filter((r) => r.status !== 303))
        expect([404, 409]).toContain(refused.status);
      acknowledged.push(rater);
    };

    let nextRater = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (nextRater < raters.length) {
          const index = nextRater++;
          await fillIn(raters[index]!, index);
        }
      }),
    );
    expect(acknowledged).toHaveLength(raters.length);

    // Every acknowledged submission is stored exactly once, under its subject and relationship.
    const subjectIds = [...new Set(raters.map((r) => r.subjectId))];
    const stored = new Map<string, number>();
    for (const subjectId of subjectIds) {
      for (const response of await rawResponses(t.db, subjectId)) {
        const key = `${subjectId}|${response.relationship}|${fingerprint(response.ratings, response.comments)}`;
        stored.set(key, (stored.get(key) ?? 0) + 1);
      }
    }
    const expected = new Map<string, number>();
    for (const r of acknowledged) {
      const key = `${r.subjectId}|${r.relationship}|${fingerprint(r.ratings, r.comments)}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    expect(stored).toEqual(expected);
    const spent = await t.db
      .selectFrom('spent_tokens')
      .select(t.db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(spent.n).toBe(acknowledged.length);

    // The workers catch up: nothing left to push or run, and each latest profile counts every response.
    const { producer } = observer!;
    let quiet = 0;
    await until('the workers to catch up', async () => {
      const outbox = await t.db
        .selectFrom('job_outbox')
        .select(t.db.fn.countAll<number>().as('n'))
        .where('queue', '=', 'aggregate')
        .executeTakeFirstOrThrow();
      const counts = await jobCounts(producer, 'aggregate');
      let behind = outbox.n + counts.waiting! + counts.active! + counts.delayed! + counts.prioritized!;
      for (const subjectId of subjectIds) {
        const latest = await resultRepository.latestProfile(t.db, subjectId);
        const total = Object.values(latest?.group_counts ?? {}).reduce((a: number, b) => a + (b ?? 0), 0);
        if (total !== raters.filter((r) => r.subjectId === subjectId).length) behind++;
      }
      quiet = behind === 0 ? quiet + 1 : 0;
      return quiet >= 3;
    });

    // Each subject's latest profile is what a fresh recompute from the stored responses gives.
    const rules = rulesOf(instrument);
    for (const subjectId of subjectIds) {
      const latest = await resultRepository.latestProfile(t.db, subjectId);
      const recomputed = buildProfile({
        instrument,
        responses: await rawResponses(t.db, subjectId),
        rules,
        seed: subjectId,
      });
      expect(latest?.data).toEqual(JSON.parse(JSON.stringify(recomputed)));
    }

    // No two profile versions of a subject were computed from the same sources, and versions have no gaps.
    const duplicates = await sql<{ subject_id: string; n: number }>`
      select subject_id, count(*)::int as n from profile_snapshots
      group by subject_id, source_digest having count(*) > 1`.execute(t.db);
    expect(duplicates.rows).toEqual([]);
    const versions = await sql<{ subject_id: string; n: number; top: number }>`
      select subject_id, count(*)::int as n, max(version)::int as top from profile_snapshots
      group by subject_id`.execute(t.db);
    for (const row of versions.rows) expect(row.top, row.subject_id).toBe(row.n);

    // Nothing is left waiting, running or failed in any queue (email deliveries and sweeps included).
    await until('email deliveries to finish', async () => {
      const email = await jobCounts(producer, 'email');
      return email.waiting === 0 && email.active === 0 && email.delayed === 0;
    });
    for (const queue of QUEUES) {
      const counts = await jobCounts(producer, queue);
      expect(counts.failed, `${queue} failed`).toBe(0);
      if (queue !== 'maintenance') {
        expect(counts.waiting, `${queue} waiting`).toBe(0);
        expect(counts.active, `${queue} active`).toBe(0);
      }
    }

    // Both worker processes did work, as their own /metrics say; both see the same, empty queue.
    for (const worker of workers) {
      expect((await fetch(`http://127.0.0.1:${worker.port}/metrics`)).status).toBe(401);
      const text = await (
        await fetch(`http://127.0.0.1:${worker.port}/metrics`, {
          headers: { authorization: `Bearer ${METRICS_TOKEN}` },
        })
      ).text();
      const done = sampleSum(text, 'panorama_job_duration_seconds_count', { outcome: 'completed' });
      expect(done, `jobs completed by the worker on port ${worker.port}`).toBeGreaterThan(0);
      expect(sampleSum(text, 'panorama_job_failures_total', {})).toBe(0);
      expect(text).toMatch(/panorama_queue_jobs\{queue="aggregate",state="waiting"\} 0/);
    }
    expect(workers.every((w) => running(w.child))).toBe(true);
  }, 120_000);

  it('shares rate limits across instances through Redis', async () => {
    const limited = [
      await startSurveyInstance(t, prefix, { rateLimits: { readsPerIp: 5 } }),
      await startSurveyInstance(t, prefix, { rateLimits: { readsPerIp: 5 } }),
    ];
    try {
      const browser = new Browser(limited, 0);
      const statuses: number[] = [];
      // Each instance alone sees 4 requests, under its limit of 5; together they are over it.
      for (let i = 0; i < 8; i++) statuses.push((await browser.get(`/s/${'A'.repeat(43)}`)).status);
      expect(statuses.slice(0, 5).every((s) => s === 404)).toBe(true);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
    } finally {
      await Promise.all(limited.map((i) => i.close()));
    }
  });

  it('serves /metrics on each survey instance with the route pattern, never a link', async () => {
    expect((await fetch(`${instances[0]!.url}/metrics`)).status).toBe(401);
    const text = await (
      await fetch(`${instances[0]!.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    expect(
      sampleSum(text, 'http_request_duration_seconds_count', {
        route: '/s/:token/:step',
        method: 'POST',
        status_code: '303',
      }),
    ).toBeGreaterThan(0);
    for (const rater of raters) expect(text).not.toContain(rater.token);
  });
});
