import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // A cycle pins (id, version); the checksum catches an instrument edited without a version bump.
  await db.schema
    .createTable('instruments')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('checksum', 'text', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('instruments_pkey', ['id', 'version'])
    .execute();

  await db.schema
    .createTable('programmes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('organisation_id', 'uuid', (c) =>
      c.notNull().references('organisations.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('cycles')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('programme_id', 'uuid', (c) => c.notNull().references('programmes.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('baseline', 'follow_up')`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('instrument_id', 'text', (c) => c.notNull())
    .addColumn('instrument_version', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('draft')
        .check(sql`status in ('draft', 'open', 'closed', 'released')`),
    )
    .addColumn('closes_at', 'timestamptz', (c) => c.notNull())
    .addColumn('opened_at', 'timestamptz')
    .addColumn('closed_at', 'timestamptz')
    .addColumn('released_at', 'timestamptz')
    .addColumn('settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint(
      'cycles_instrument_fkey',
      ['instrument_id', 'instrument_version'],
      'instruments',
      ['id', 'version'],
    )
    .execute();
  await db.schema
    .createIndex('cycles_one_baseline_idx')
    .on('cycles')
    .column('programme_id')
    .unique()
    .where(sql.ref('kind'), '=', 'baseline')
    .execute();

  await db.schema
    .createTable('subjects')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('cycle_id', 'uuid', (c) => c.notNull().references('cycles.id').onDelete('cascade'))
    .addColumn('leader_id', 'uuid', (c) => c.notNull().references('people.id'))
    .addColumn('coach_id', 'uuid', (c) => c.references('people.id'))
    .addColumn('nomination', 'text', (c) =>
      c
        .notNull()
        .defaultTo('none')
        .check(sql`nomination in ('none', 'open', 'submitted', 'approved')`),
    )
    .addColumn('released_version', 'integer')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('subjects_cycle_leader_key', ['cycle_id', 'leader_id'])
    .execute();
  await db.schema.createIndex('subjects_coach_idx').on('subjects').column('coach_id').execute();
  await db.schema.createIndex('subjects_leader_idx').on('subjects').column('leader_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['subjects', 'cycles', 'programmes', 'instruments']) {
    await db.schema.dropTable(table).execute();
  }
}
