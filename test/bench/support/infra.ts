import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDb, migrateToLatest, type Db } from '@panorama/db';
import { startEmbeddedPostgres, type RunningPostgres } from '@panorama/db/embedded';
import { startRedisServer, type RunningRedis } from '@panorama/jobs';

const TEMPLATE = 'bench_template';

export interface BenchInfra {
  root: string;
  pg: RunningPostgres;
  redis: RunningRedis;
  /** A fresh migrated database cloned from the run's template; dropped by `stop`. */
  database(name: string, poolSize?: number): Promise<{ db: Db; url: string }>;
  stop(): Promise<void>;
}

/**
 * One ephemeral Postgres (fsync off) and one redis-server (no AOF) on loopback for the whole run, in a
 * temporary folder, with a migrated template database each scenario clones.
 */
export async function startBenchInfra(): Promise<BenchInfra> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'panorama-bench-'));
  // As root, Postgres runs as the `postgres` user, which must be able to reach its data folder.
  chmodSync(root, 0o755);
  const postgres = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), ephemeral: true });
  const redis = await startRedisServer({ dataDir: path.join(root, 'redis'), appendOnly: false });
  await postgres.createDatabase(TEMPLATE);
  const template = createDb({ connectionString: postgres.urlFor(TEMPLATE), max: 1 });
  await migrateToLatest(template);
  await template.destroy();

  const opened: Db[] = [];
  return {
    root,
    pg: postgres,
    redis,
    async database(name, poolSize = 8) {
      const admin = new pg.Client({ connectionString: postgres.adminUrl });
      await admin.connect();
      try {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.query(`create database ${name} template ${TEMPLATE}`);
      } finally {
        await admin.end();
      }
      const url = postgres.urlFor(name);
      const db = createDb({ connectionString: url, max: poolSize, applicationName: 'bench' });
      opened.push(db);
      return { db, url };
    },
    async stop() {
      await Promise.allSettled(opened.map((db) => db.destroy()));
      await redis.stop();
      await postgres.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
