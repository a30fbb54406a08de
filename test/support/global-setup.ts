import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDb, migrateToLatest } from '@panorama/db';
import { startEmbeddedPostgres } from '@panorama/db/embedded';
import { startRedisServer } from '@panorama/jobs';

export const TEMPLATE_DB = 'panorama_template';

/**
 * One real Postgres and one real redis-server for the whole run, on free ports in a temporary folder.
 * A migrated template database lets each test file clone a fresh database in milliseconds.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'panorama-test-'));
  // As root, Postgres runs as the `postgres` user, which must be able to reach its data folder.
  chmodSync(root, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), ephemeral: true });
  await pg.createDatabase(TEMPLATE_DB);
  const db = createDb({ connectionString: pg.urlFor(TEMPLATE_DB), max: 1 });
  await migrateToLatest(db);
  await db.destroy();
  const redis = await startRedisServer({ dataDir: path.join(root, 'redis'), appendOnly: false });

  project.provide('pgPort', pg.port);
  project.provide('redisUrl', redis.url);

  return async () => {
    await redis.stop();
    await pg.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgPort: number;
    redisUrl: string;
  }
}
