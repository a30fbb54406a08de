import { sql, type Kysely } from 'kysely';

const relationship = sql`relationship in ('self', 'manager', 'peer', 'direct_report', 'other')`;

export async function up(db: Kysely<any>): Promise<void> {
  // The rater side: who was asked. Nothing here points at a response, and nothing in the response tables
  // points back here (see packages/db/README.md).
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('subject_id', 'uuid', (c) => c.notNull().references('subjects.id').onDelete('cascade'))
    .addColumn('rater_id', 'uuid', (c) => c.notNull().references('people.id'))
    .addColumn('relationship', 'text', (c) => c.notNull().check(relationship))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(
          sql`status in ('nominated', 'pending', 'sent', 'completed', 'declined', 'bounced', 'cancelled')`,
        ),
    )
    .addColumn('sent_at', 'timestamptz')
    .addColumn('reminded_at', 'timestamptz')
    // Day only, and written by a later batch, so it cannot be matched to a response's commit.
    .addColumn('completed_on', 'date')
    .addColumn('declined_at', 'timestamptz')
    .addColumn('bounce_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('invitations_subject_rater_key', ['subject_id', 'rater_id'])
    .execute();
  await db.schema.createIndex('invitations_rater_idx').on('invitations').column('rater_id').execute();

  // One row per emailed link: the invitation and each reminder carry a link of their own, so no raw token
  // ever has to be kept to send a reminder. Only a MAC of the token is stored.
  await db.schema
    .createTable('invitation_links')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('invitation_id', 'uuid', (c) => c.notNull().references('invitations.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('invitation_links_invitation_idx')
    .on('invitation_links')
    .column('invitation_id')
    .execute();

  // Invitation ids whose token was spent; flushed into invitations.status by a periodic batch.
  await db.schema
    .createTable('pending_completions')
    .addColumn('invitation_id', 'uuid', (c) =>
      c.primaryKey().references('invitations.id').onDelete('cascade'),
    )
    .execute();

  // Keyed by a MAC of the token under a purpose-specific key: joinable to nothing without the token itself.
  await db.schema
    .createTable('spent_tokens')
    .addColumn('token_mac', 'bytea', (c) => c.primaryKey())
    .addColumn('spent_on', 'date', (c) => c.notNull().defaultTo(sql`current_date`))
    .execute();

  // Save-and-continue drafts, encrypted under a key derived from the rater's token, which the server does not keep.
  await db.schema
    .createTable('response_drafts')
    .addColumn('draft_mac', 'bytea', (c) => c.primaryKey())
    .addColumn('ciphertext', 'bytea', (c) => c.notNull())
    .addColumn('updated_on', 'date', (c) => c.notNull().defaultTo(sql`current_date`))
    .execute();

  await db.schema
    .createTable('responses')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('cycle_id', 'uuid', (c) => c.notNull().references('cycles.id').onDelete('cascade'))
    .addColumn('subject_id', 'uuid', (c) => c.notNull().references('subjects.id').onDelete('cascade'))
    .addColumn('relationship', 'text', (c) => c.notNull().check(relationship))
    .addColumn('submitted_on', 'date', (c) => c.notNull().defaultTo(sql`current_date`))
    .execute();
  await db.schema.createIndex('responses_subject_idx').on('responses').column('subject_id').execute();
  await db.schema.createIndex('responses_cycle_idx').on('responses').column('cycle_id').execute();

  await db.schema
    .createTable('response_ratings')
    .addColumn('response_id', 'uuid', (c) => c.notNull().references('responses.id').onDelete('cascade'))
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addColumn('competency_id', 'text', (c) => c.notNull())
    .addColumn('value', 'smallint', (c) => c.check(sql`value between 1 and 5`))
    .addPrimaryKeyConstraint('response_ratings_pkey', ['response_id', 'item_id'])
    .execute();

  await db.schema
    .createTable('response_comments')
    .addColumn('response_id', 'uuid', (c) => c.notNull().references('responses.id').onDelete('cascade'))
    .addColumn('question_id', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('response_comments_pkey', ['response_id', 'question_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'response_comments',
    'response_ratings',
    'responses',
    'response_drafts',
    'spent_tokens',
    'pending_completions',
    'invitation_links',
    'invitations',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
