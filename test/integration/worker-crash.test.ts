import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  personRepository,
  responseRepository,
  rosterRepository,
  type Db,
  type Relationship,
} from '@panorama/db';
import { buildProfile, createSeededRandom } from '@panorama/domain';
import { createProducer, createRedis } from '@panorama/jobs';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'services/worker/src/main.ts');

async function seedSubject(db: Db) {
  const { instrument, organisation, baseline: cycle } = await createProgramme(db, { slug: 'acme' });
  const leader = await personRepository.upsert(db, {
    organisationId: organisation.id,
    email: 'leader@acme.test',
    name: 'Lee',
  });
  const subject = await rosterRepository.addSubject(db, {
    cycleId: cycle.id,
    leaderId: leader.id,
    coachId: null,
  });
  const itemCompetency = new Map(
    instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
  );
  const random = createSeededRandom('crash');
  const groups: Relationship[] = [
    'self',
    'manager',
    'peer',
    'peer',
    'peer',
    'peer',
    'direct_report',
    'direct_report',
    'direct_report',
  ];
  for (const relationship of groups) {
    const ratings = Object.fromEntries(
      [...itemCompetency.keys()].map((id) => [id, 1 + Math.floor(random() * 5)]),
    );
    await responseRepository.submit(db, {
      spentMac: randomBytes(32),
      response: { cycleId: cycle.id, subjectId: subject.id, relationship, ratings, comments: {} },
      itemCompetency,
      jobs: [],
    });
  }
  return { instrument, subjectId: subject.id };
}

function spawnWorker(t: TestDatabase, prefix: string, extra: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: t.url,
      DATABASE_POOL_SIZE: '3',
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      APP_SECRET: 'worker-crash-secret-'.padEnd(48, 'x'),
      OUTBOX_DIR: path.join(ROOT, '.data', 'test-outbox'),
      WORKER_LOCK_MS: '3000',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 40_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

describe('worker process killed mid-job', () => {
  let t: TestDatabase;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await t?.drop();
  });

  it('leaves nothing half-written, and a restarted worker stores the same profile a clean run does', async () => {
    const { instrument, subjectId } = await seedSubject(t.db);
    const prefix = queuePrefix();
    const redis = createRedis(redisUrl(), 'worker');
    const producer = createProducer({ connection: redis, prefix });
    try {
      await producer.enqueue('aggregate-subject', { subjectId });

      // The first worker computes the profile, then sleeps inside its transaction (holding the subject's lock).
      const first = spawnWorker(t, prefix, { PANORAMA_TEST_JOB_DELAY_MS: '20000' });
      children.push(first);
      await until('the job to hold its lock', async () => {
        const locks = await sql<{ n: number }>`
          select count(*)::int as n from pg_locks where locktype = 'advisory' and granted`.execute(t.db);
        return locks.rows[0]!.n > 0;
      });
      first.kill('SIGKILL');
      await exited(first);
      // Postgres rolls the open transaction back when the connection drops.
      await until('the killed connection to go', async () => {
        const locks = await sql<{ n: number }>`
          select count(*)::int as n from pg_locks where locktype = 'advisory'`.execute(t.db);
        return locks.rows[0]!.n === 0;
      });
      expect(await t.db.selectFrom('profile_snapshots').selectAll().execute()).toEqual([]);

      const second = spawnWorker(t, prefix, {});
      children.push(second);
      const rows = await until('the restarted worker to store the profile', async () => {
        const found = await sql<{ version: number; data: string }>`
          select version, data::text from profile_snapshots where subject_id = ${subjectId}`.execute(t.db);
        return found.rows.length > 0 && found.rows;
      });
      second.kill('SIGTERM');
      await exited(second);
      expect(second.exitCode).toBe(0);

      expect(rows.map((r) => r.version)).toEqual([1]);
      const responses = await responseRepository.forSubject(t.db, subjectId);
      const clean = buildProfile({
        instrument,
        responses,
        rules: { k: instrument.anonymity!.k, distributionMinN: 4 },
        seed: subjectId,
      });
      expect(JSON.parse(rows[0]!.data)).toEqual(JSON.parse(JSON.stringify(clean)));
      const again = await sql<{ n: number }>`select count(*)::int as n from profile_snapshots`.execute(t.db);
      expect(again.rows[0]!.n).toBe(1);
    } finally {
      await producer.close();
      redis.disconnect();
    }
  });
});
