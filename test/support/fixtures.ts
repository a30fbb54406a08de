import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '@panorama/db';

const TEMPLATE_DB = 'panorama_template';
const urlFor = (database: string) =>
  `postgres://panorama:panorama-local@127.0.0.1:${inject('pgPort')}/${database}`;

export interface TestDatabase {
  db: Db;
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: urlFor('postgres') });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const db = createDb({ connectionString: url, max: 5 });
  return {
    db,
    url,
    name,
    async drop() {
      await db.destroy();
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

export const redisUrl = () => inject('redisUrl');
/** A queue prefix of its own per test, so tests sharing one Redis never see each other's jobs. */
export const queuePrefix = () => `test-${randomUUID()}`;
export const adminDatabaseUrl = () => urlFor('postgres');
export const testDatabaseUrl = urlFor;
