import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // The profile version last shown to staff or released (METHODS §2, publication): a later version is shown
  // only when the re-release rule holds from this one. Reports released before this column existed were
  // published at their released version.
  await db.schema
    .alterTable('subjects')
    .addColumn('published_version', 'integer', (c) => c.check(sql`published_version > 0`))
    .execute();
  await db
    .updateTable('subjects')
    .set({ published_version: sql`released_version` })
    .where('released_version', 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('subjects').dropColumn('published_version').execute();
}
