import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
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
export default async function setup(project: Pick<TestProject, 'provide'>) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'panorama-test-'));
  // As root, Postgres runs as the `postgres` user, which must be able to reach its data folder.
  chmodSync(root, 0o755);
  const stops: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    // PANORAMA_KEEP_TEST_DATA=1 keeps the databases and logs of the run for a post-mortem.
    if (process.env.PANORAMA_KEEP_TEST_DATA === '1') console.log(`test data kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  };
  try {
    // Redis first: it is the one that may be missing from PATH, and nothing is left running when it is.
    const redis = await startRedisServer({ dataDir: path.join(root, 'redis'), appendOnly: false });
    stops.push(() => redis.stop());
    const pg = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), ephemeral: true });
    stops.push(() => pg.stop());
    await pg.createDatabase(TEMPLATE_DB);
    const db = createDb({ connectionString: pg.urlFor(TEMPLATE_DB), max: 1 });
    await migrateToLatest(db);
    await db.destroy();

    project.provide('pgPort', pg.port);
    project.provide('redisUrl', redis.url);
    project.provide('testRoot', root);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgPort: number;
    redisUrl: string;
    /** The run's temporary folder, deleted at teardown unless PANORAMA_KEEP_TEST_DATA=1. */
    testRoot: string;
  }
}
