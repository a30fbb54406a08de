import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // A leader's link to nominate their own raters; only a MAC of the token is stored.
  await db.schema
    .createTable('nomination_links')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('subject_id', 'uuid', (c) => c.notNull().references('subjects.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('nomination_links_subject_idx')
    .on('nomination_links')
    .column('subject_id')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('nomination_links').execute();
}
