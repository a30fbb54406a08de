import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, PREPARED, type Db } from '@panorama/db';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';

let t: TestDatabase;
let db: Db;
beforeAll(async () => {
  t = await createTestDatabase();
  // One connection, so every query below sees the same session's prepared statements.
  db = createDb({ connectionString: t.url, max: 1 });
});
afterAll(async () => {
  await db?.destroy();
  await t?.drop();
});

const prepared = async () =>
  (
    await sql<{ statement: string }>`select statement from pg_prepared_statements order by statement`.execute(
      db,
    )
  ).rows.map((r) => r.statement);

describe('prepared statements', () => {
  it('prepares marked queries once per connection, by text, and leaves unmarked ones alone', async () => {
    for (const n of [1, 2, 3]) {
      const row = await db
        .selectFrom('organisations')
        .modifyFront(PREPARED)
        .select(sql<number>`${n}::int`.as('n'))
        .execute();
      expect(row).toEqual([]);
      const { rows } = await sql<{ n: number }>`${PREPARED} select ${n}::int + 1 as n`.execute(db);
      expect(rows).toEqual([{ n: n + 1 }]);
      await sql`select ${n}::int as unmarked`.execute(db);
    }
    const statements = await prepared();
    expect(statements).toHaveLength(2);
    expect(statements.every((s) => s.includes('/* prepared */'))).toBe(true);
    // A failing prepared query fails like any other, and the connection stays usable.
    await expect(sql`${PREPARED} select 1 / ${0}::int`.execute(db)).rejects.toThrow(/division by zero/);
    expect((await sql<{ n: number }>`${PREPARED} select ${4}::int + 1 as n`.execute(db)).rows).toEqual([
      { n: 5 },
    ]);
  });
});
