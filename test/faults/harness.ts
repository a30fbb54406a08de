import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { SMTPServer } from 'smtp-server';
import { createDb, migrateToLatest, type Db } from '@panorama/db';
import { startEmbeddedPostgres, type RunningPostgres } from '@panorama/db/embedded';
import { deriveKeys } from '@panorama/domain';
import {
  createCompletionSet,
  createProducer,
  createRedis,
  startRedisServer,
  type Producer,
  type RunningRedis,
} from '@panorama/jobs';
import { buildSurveyApp } from '@panorama/survey';
import { TEST_SECRET } from '../support/scenario.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const keys = deriveKeys(TEST_SECRET);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something truthy; fails naming `what` after `ms`. */
export async function until<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false | null>,
  ms = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

/** A temporary folder the `postgres` system user can reach (Postgres runs as that user under root). */
export function tempRoot(name: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `panorama-fault-${name}-`));
  chmodSync(dir, 0o755);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A Postgres of the test's own, so restarting it disturbs no other test file. Durable settings (no
 * `ephemeral`): an acknowledged commit must survive the restart.
 */
export async function ownPostgres(dir: string) {
  const dataDir = path.join(dir, 'pg');
  let running: RunningPostgres = await startEmbeddedPostgres({ dataDir });
  const port = running.port;
  await running.createDatabase('panorama');
  const url = running.urlFor('panorama');
  const migrator = createDb({ connectionString: url, max: 1 });
  await migrateToLatest(migrator);
  await migrator.destroy();
  let up = true;
  return {
    url,
    port,
    /**
     * `fast`: a clean shutdown (open transactions aborted, clients cut off). `immediate`: a crash (SIGQUIT:
     * no checkpoint, so the next start replays the WAL).
     */
    async stop(mode: 'fast' | 'immediate' = 'fast') {
      if (!up) return;
      up = false;
      if (mode === 'fast') return running.stop();
      const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
      await until('the crashed postmaster to exit', async () => !processExists(pid), 30_000, 50);
    },
    async start() {
      if (!up) running = await startEmbeddedPostgres({ dataDir, port });
      up = true;
    },
  };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
export type OwnPostgres = Awaited<ReturnType<typeof ownPostgres>>;

/** A redis-server of the test's own with AOF on, restartable on the same port and data. */
export async function ownRedis(dir: string) {
  const dataDir = path.join(dir, 'redis');
  let running: RunningRedis | undefined = await startRedisServer({ dataDir, appendOnly: true });
  const { port, url } = running;
  return {
    url,
    port,
    /** SIGTERM: a clean shutdown (the AOF is flushed); SIGKILL: a crash. */
    async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
      const current = running;
      running = undefined;
      if (!current) return;
      if (signal === 'SIGTERM') return current.stop();
      const exited = new Promise((resolve) => current.process.once('exit', resolve));
      current.process.kill('SIGKILL');
      await exited;
    },
    async start() {
      running ??= await startRedisServer({ dataDir, port, appendOnly: true });
    },
  };
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  output(): string;
  alive(): boolean;
}

function spawnTs(entry: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    exited,
    output: () => output.join('').slice(-4_000),
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

/** The worker as production runs it: its own process, `services/worker/src/main.ts`. */
export function spawnWorker(env: {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  extra?: Record<string, string>;
}): Child {
  return spawnTs(path.join(ROOT, 'services/worker/src/main.ts'), {
    LOG_LEVEL: 'warn',
    DATABASE_URL: env.databaseUrl,
    DATABASE_POOL_SIZE: '4',
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.prefix,
    APP_SECRET: TEST_SECRET,
    OUTBOX_DIR: path.join(os.tmpdir(), 'panorama-fault-outbox'),
    // A job whose worker died is picked up again after about this long.
    WORKER_LOCK_MS: '3000',
    ...env.extra,
  });
}

/** The survey service as production runs it: `services/survey/src/server.ts` in its own process. */
export function spawnSurvey(env: {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  port: number;
}): Child {
  return spawnTs(path.join(ROOT, 'services/survey/src/server.ts'), {
    LOG_LEVEL: 'warn',
    DATABASE_URL: env.databaseUrl,
    DATABASE_POOL_SIZE: '5',
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.prefix,
    APP_SECRET: TEST_SECRET,
    HOST: '127.0.0.1',
    SURVEY_PORT: String(env.port),
    // Load comes from one loopback address; each simulated rater sends an X-Forwarded-For of its own.
    TRUST_PROXY: 'true',
  });
}

/** Sends SIGTERM and waits for the exit code. */
export async function terminate(child: Child, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.alive()) child.process.kill(signal);
  return child.exited;
}

/**
 * The survey app wired as `server.ts` wires it (own pool, fail-fast producer, completion set, Redis rate
 * limits), listening on 127.0.0.1:0 so load arrives over real HTTP.
 */
export async function listeningSurveyApp(options: { databaseUrl: string; redisUrl: string; prefix: string }) {
  const db = createDb({ connectionString: options.databaseUrl, max: 5, applicationName: 'survey' });
  const redis: Redis = createRedis(options.redisUrl, 'producer');
  const producer = createProducer({ connection: redis, prefix: options.prefix });
  // Request errors are kept (not printed), so a failing test can show what the app saw.
  const logs: string[] = [];
  const app: FastifyInstance = await buildSurveyApp({
    db,
    redis,
    keys,
    producer,
    completions: createCompletionSet(redis, options.prefix),
    logStream: { write: (line: string) => void logs.push(line) },
    config: {
      LOG_LEVEL: 'error',
      APP_SECRET: TEST_SECRET,
      SURVEY_PUBLIC_URL: 'http://survey.test',
      TRUST_PROXY: true,
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    db,
    /** Logged errors (the 5xx the app answered, with their cause). */
    errors: () => logs.filter((line) => /"level":(50|60)/.test(line)),
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await producer.close().catch(() => {});
      await db.destroy();
      redis.disconnect();
    },
  };
}

/** A producer on a waiting connection, for the test's own look at the queues. */
export function testProducer(
  redisUrl: string,
  prefix: string,
): { producer: Producer; redis: Redis; close(): Promise<void> } {
  const redis = createRedis(redisUrl, 'worker');
  const producer = createProducer({ connection: redis, prefix });
  return {
    producer,
    redis,
    async close() {
      await producer.close().catch(() => {});
      redis.disconnect();
    },
  };
}

/** An SMTP server that records every message it accepts; it can go down and come back on the same port. */
export function smtpSink() {
  const delivered: { to: string; subject: string; body: string }[] = [];
  let server: SMTPServer | undefined;
  let port = 0;
  const create = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          const subject = /^Subject: (.*)$/m.exec(body)?.[1] ?? '';
          for (const to of session.envelope.rcptTo) delivered.push({ to: to.address, subject, body });
          callback();
        });
      },
    });
  return {
    delivered,
    get port() {
      return port;
    },
    async start() {
      const next = create();
      await new Promise<void>((resolve, reject) => {
        next.server.once('error', reject);
        next.listen(port, '127.0.0.1', () => resolve());
      });
      port = (next.server.address() as AddressInfo).port;
      server = next;
    },
    async stop() {
      const current = server;
      server = undefined;
      if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    },
  };
}

/** Advisory locks held right now: an aggregation is inside its transaction (see `withProfileLock`). */
export async function advisoryLocksHeld(db: Db): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks
    where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`.execute(
    db,
  );
  return result.rows[0]?.n ?? 0;
}
