import type { Kysely } from 'kysely';
import type { Database, Role } from '../schema.ts';

type Db = Kysely<Database>;

export const organisationRepository = {
  async create(db: Db, input: { name: string; slug: string }) {
    return db.insertInto('organisations').values(input).returningAll().executeTakeFirstOrThrow();
  },

  async findBySlug(db: Db, slug: string) {
    return db.selectFrom('organisations').selectAll().where('slug', '=', slug).executeTakeFirst();
  },

  async audit(
    db: Db,
    entry: {
      organisationId: string;
      actorId: string | null;
      action: string;
      targetId?: string;
      details?: object;
    },
  ) {
    await db
      .insertInto('audit_log')
      .values({
        organisation_id: entry.organisationId,
        actor_id: entry.actorId,
        action: entry.action,
        target_id: entry.targetId ?? null,
        details: JSON.stringify(entry.details ?? {}),
      })
      .execute();
  },
};

export const personRepository = {
  /** Finds or creates a person by email within an organisation; a given name replaces the stored one. */
  async upsert(db: Db, input: { organisationId: string; email: string; name: string }) {
    return db
      .insertInto('people')
      .values({
        organisation_id: input.organisationId,
        email: input.email.trim().toLowerCase(),
        name: input.name.trim(),
      })
      .onConflict((oc) =>
        oc.constraint('people_org_email_key').doUpdateSet((eb) => ({ name: eb.ref('excluded.name') })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async findById(db: Db, id: string) {
    return db.selectFrom('people').selectAll().where('id', '=', id).executeTakeFirst();
  },

  async findByEmail(db: Db, email: string) {
    return db.selectFrom('people').selectAll().where('email', '=', email.trim().toLowerCase()).execute();
  },

  async grantRole(db: Db, personId: string, role: Role) {
    await db
      .insertInto('user_roles')
      .values({ person_id: personId, role })
      .onConflict((oc) => oc.doNothing())
      .execute();
  },

  async roles(db: Db, personId: string): Promise<Role[]> {
    const rows = await db.selectFrom('user_roles').select('role').where('person_id', '=', personId).execute();
    return rows.map((r) => r.role);
  },
};
