import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { loadConfig, localEnv } from '@panorama/config';
import { startEmbeddedPostgres } from '@panorama/db/embedded';
import { startRedisServer } from '@panorama/jobs';

export interface LocalInfrastructure {
  /** Environment for the services: the caller's own, plus whatever was started here. */
  env: Record<string, string>;
  /** What was started here rather than taken from the environment. */
  started: string[];
  stop(): Promise<void>;
}

export const dataDir = path.resolve(loadConfig(localEnv, process.env, 'panorama').PANORAMA_DATA_DIR);
/** A folder as the user would type it: relative when it is under the current folder, else absolute. */
export function shownPath(folder: string): string {
  const relative = path.relative(process.cwd(), folder);
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.resolve(folder) : relative || '.';
}
const shownDataDir = shownPath(dataDir);
const runtimeFile = path.join(dataDir, 'runtime.json');

/** APP_SECRET for local runs: kept in .data so sessions and drafts survive a restart. */
async function localSecret(): Promise<string> {
  const file = path.join(dataDir, 'secret');
  if (existsSync(file)) return (await fs.readFile(file, 'utf8')).trim();
  const secret = randomBytes(48).toString('base64url');
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(file, secret + '\n', { mode: 0o600 });
  return secret;
}

/** The URLs of a `pnpm start` that is running now, so the CLI joins it instead of starting a second Postgres. */
export async function runningStack(): Promise<Record<string, string> | null> {
  try {
    const runtime = JSON.parse(await fs.readFile(runtimeFile, 'utf8')) as {
      pid: number;
      env: Record<string, string>;
    };
    process.kill(runtime.pid, 0);
    return runtime.env;
  } catch {
    return null;
  }
}

/**
 * Uses DATABASE_URL / REDIS_URL when set; otherwise starts an embedded Postgres and a private redis-server
 * with their data in .data/. `publish` records the URLs for other local commands while this process lives.
 */
export async function startLocalInfrastructure(options: {
  needRedis: boolean;
  publish: boolean;
  log: (line: string) => void;
}): Promise<LocalInfrastructure> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const started: string[] = [];
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    if (options.publish) await fs.rm(runtimeFile, { force: true });
  };

  try {
    env.APP_SECRET ||= await localSecret();
    // Redis first: it is the one that may be missing from PATH, and a failure must not leave a Postgres behind.
    if (options.needRedis && !env.REDIS_URL) {
      options.log(`starting redis-server (data in ${shownDataDir}/redis)…`);
      const redis = await startRedisServer({ dataDir: path.join(dataDir, 'redis') });
      stops.push(() => redis.stop());
      env.REDIS_URL = redis.url;
      started.push(`Redis on 127.0.0.1:${redis.port}`);
    }
    if (!env.DATABASE_URL) {
      options.log(`starting embedded PostgreSQL (data in ${shownDataDir}/pg)…`);
      const pg = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg') });
      stops.push(() => pg.stop());
      await pg.createDatabase('panorama');
      env.DATABASE_URL = pg.urlFor('panorama');
      started.push(`PostgreSQL on 127.0.0.1:${pg.port}`);
    }
    env.OUTBOX_DIR ||= path.join(dataDir, 'outbox');
    if (options.publish) {
      const shared = {
        DATABASE_URL: env.DATABASE_URL,
        REDIS_URL: env.REDIS_URL ?? '',
        APP_SECRET: env.APP_SECRET,
      };
      await fs.writeFile(runtimeFile, JSON.stringify({ pid: process.pid, env: shared }), { mode: 0o600 });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { env, started, stop };
}
