import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // What an email carried, so a permanent failure bounces only those invitations (none for a sign-in or a
  // report email), and the admin sees a cycle's undelivered emails only. A temporary failure that outlasts
  // the job's retries keeps the email queued: `rounds` counts those spells, and the sweeper enqueues the
  // next one at `retry_at`.
  await db.schema
    .alterTable('email_outbox')
    .addColumn('cycle_id', 'uuid', (c) => c.references('cycles.id').onDelete('set null'))
    .addColumn('invitation_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'::uuid[]`))
    .addColumn('rounds', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('email_outbox_cycle_idx').on('email_outbox').column('cycle_id').execute();
  await db.schema
    .createIndex('email_outbox_retry_idx')
    .on('email_outbox')
    .column('retry_at')
    .where(sql.ref('status'), '=', 'queued')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_outbox_retry_idx').execute();
  await db.schema.dropIndex('email_outbox_cycle_idx').execute();
  await db.schema
    .alterTable('email_outbox')
    .dropColumn('retry_at')
    .dropColumn('rounds')
    .dropColumn('invitation_ids')
    .dropColumn('cycle_id')
    .execute();
}
