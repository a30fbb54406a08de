import { sql, type Kysely } from 'kysely';
import { PREPARED } from '../connection.ts';
import type { Database, Role } from '../schema.ts';

type Db = Kysely<Database>;

export interface Viewer {
  personId: string;
  organisationId: string;
  name: string;
  email: string;
  roles: Role[];
}

export const sessionRepository = {
  /** People who may sign in with this email: anyone holding a staff role. */
  async staffByEmail(db: Db, email: string) {
    return db
      .selectFrom('people')
      .innerJoin('user_roles', 'user_roles.person_id', 'people.id')
      .select(['people.id', 'people.name', 'people.organisation_id'])
      .distinct()
      .where('people.email', '=', email.trim().toLowerCase())
      .execute();
  },

  async createSignInToken(db: Db, input: { tokenHash: Buffer; personId: string; expiresAt: Date }) {
    await db
      .insertInto('sign_in_tokens')
      .values({ token_hash: input.tokenHash, person_id: input.personId, expires_at: input.expiresAt })
      .execute();
  },

  /** Spends a sign-in token atomically: the first caller gets the person id, every later one null. */
  async spendSignInToken(db: Db, tokenHash: Buffer): Promise<string | null> {
    const row = await db
      .updateTable('sign_in_tokens')
      .set({ used_at: new Date() })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .returning('person_id')
      .executeTakeFirst();
    return row?.person_id ?? null;
  },

  async isSignInTokenLive(db: Db, tokenHash: Buffer): Promise<boolean> {
    const row = await db
      .selectFrom('sign_in_tokens')
      .select('person_id')
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    return row !== undefined;
  },

  async createSession(db: Db, input: { idHash: Buffer; personId: string; expiresAt: Date }) {
    await db
      .insertInto('sessions')
      .values({ id_hash: input.idHash, person_id: input.personId, expires_at: input.expiresAt })
      .execute();
  },

  /** The signed-in person behind a live session, with their roles; undefined when expired or unknown. */
  async viewer(db: Db, idHash: Buffer): Promise<Viewer | undefined> {
    const row = await db
      .selectFrom('sessions')
      .modifyFront(PREPARED)
      .innerJoin('people', 'people.id', 'sessions.person_id')
      .select((eb) => [
        'people.id',
        'people.organisation_id',
        'people.name',
        'people.email',
        eb
          .selectFrom('user_roles')
          .select(sql<Role[]>`coalesce(array_agg(role order by role), '{}')`.as('roles'))
          .whereRef('user_roles.person_id', '=', 'people.id')
          .as('roles'),
      ])
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      personId: row.id,
      organisationId: row.organisation_id,
      name: row.name,
      email: row.email,
      roles: row.roles ?? [],
    };
  },

  async deleteSession(db: Db, idHash: Buffer) {
    await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  },

  async deleteExpired(db: Db) {
    await db
      .deleteFrom('sessions')
      .where('expires_at', '<', sql<Date>`now()`)
      .execute();
    await db
      .deleteFrom('sign_in_tokens')
      .where('expires_at', '<', sql<Date>`now() - interval '1 day'`)
      .execute();
  },
};
