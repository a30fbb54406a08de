import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '@panorama/db';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const tables = async () =>
  (
    await sql<{
      tablename: string;
    }>`select tablename from pg_tables where schemaname = 'public' order by 1`.execute(t.db)
  ).rows.map((r) => r.tablename);

describe('migrations', () => {
  it('every table they create is documented in packages/db/README.md, and no other', async () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../packages/db/README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([a-z_]+)` +\|/gm)].map((m) => m[1]!).sort();
    const created = (await tables()).filter((n) => !n.startsWith('kysely_'));
    expect(documented).toEqual(created);
  });

  it('round-trip: all the way down leaves only the bookkeeping, and back up restores every table', async () => {
    const before = await tables();
    expect(before).toContain('responses');
    expect(before).toContain('invitations');
    const reverted = await migrateDown(t.db, Infinity);
    expect(reverted.length).toBeGreaterThanOrEqual(4);
    expect((await tables()).filter((n) => !n.startsWith('kysely_'))).toEqual([]);
    await migrateToLatest(t.db);
    expect(await tables()).toEqual(before);
  });

  it('response tables hold nothing that could name a rater or pin a moment', async () => {
    const columns = (
      await sql<{ table_name: string; column_name: string; data_type: string }>`
        select table_name, column_name, data_type from information_schema.columns
        where table_schema = 'public' and table_name in ('responses', 'response_ratings', 'response_comments', 'spent_tokens', 'response_drafts')`.execute(
        t.db,
      )
    ).rows;
    for (const c of columns) {
      // spent_tokens / response_drafts are keyed by a MAC of the token under their own key: no join without it.
      if (c.table_name.startsWith('response'))
        expect(c.column_name).not.toMatch(/(^|_)(rater|invitation|token|email|ip|agent|person|user)(_|$)/);
      expect(c.data_type).not.toMatch(/timestamp|time with/);
      expect(c.data_type).not.toMatch(/serial/);
    }
    // No foreign key from a response table to invitations or people.
    const fks = (
      await sql<{ from_table: string; to_table: string }>`
        select tc.table_name as from_table, ccu.table_name as to_table
        from information_schema.table_constraints tc
        join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name
        where tc.constraint_type = 'FOREIGN KEY'
          and tc.table_name in ('responses', 'response_ratings', 'response_comments', 'spent_tokens', 'response_drafts')`.execute(
        t.db,
      )
    ).rows;
    expect(fks.map((f) => f.to_table)).not.toContain('invitations');
    expect(fks.map((f) => f.to_table)).not.toContain('people');
  });
});
