import { sql, type Kysely } from 'kysely';
import { PREPARED } from '../connection.ts';
import type { Database, InvitationStatus, Relationship } from '../schema.ts';

type Db = Kysely<Database>;

export const rosterRepository = {
  /** Adds a leader to a cycle (or updates their coach). */
  async addSubject(db: Db, input: { cycleId: string; leaderId: string; coachId: string | null }) {
    return db
      .insertInto('subjects')
      .values({ cycle_id: input.cycleId, leader_id: input.leaderId, coach_id: input.coachId })
      .onConflict((oc) =>
        oc
          .constraint('subjects_cycle_leader_key')
          .doUpdateSet((eb) => ({ coach_id: eb.ref('excluded.coach_id') })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async findSubject(db: Db, id: string) {
    return db.selectFrom('subjects').selectAll().where('id', '=', id).executeTakeFirst();
  },

  async subjectsOfCycle(db: Db, cycleId: string) {
    return db
      .selectFrom('subjects')
      .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
      .leftJoin('people as coach', 'coach.id', 'subjects.coach_id')
      .select([
        'subjects.id',
        'subjects.cycle_id',
        'subjects.leader_id',
        'subjects.coach_id',
        'subjects.released_version',
        'subjects.nomination',
        'leader.name as leader_name',
        'leader.email as leader_email',
        'coach.name as coach_name',
      ])
      .where('subjects.cycle_id', '=', cycleId)
      .orderBy('leader.name')
      .execute();
  },

  /**
   * Adds an invitation; an existing one for the same subject and rater is kept as it is, except that a
   * cancelled one comes back with the new status (a nominee removed, then nominated again).
   */
  async addInvitation(
    db: Db,
    input: { subjectId: string; raterId: string; relationship: Relationship; status?: InvitationStatus },
  ) {
    const status = input.status ?? 'pending';
    await db
      .insertInto('invitations')
      .values({
        subject_id: input.subjectId,
        rater_id: input.raterId,
        relationship: input.relationship,
        status,
      })
      .onConflict((oc) =>
        oc
          .constraint('invitations_subject_rater_key')
          .doUpdateSet({ status, relationship: input.relationship })
          .where('invitations.status', '=', 'cancelled'),
      )
      .execute();
  },

  /** Invitations of a cycle with the rater's contact details: for admins and mail only, never for reports. */
  async invitationsOfCycle(db: Db, cycleId: string, statuses?: InvitationStatus[]) {
    let query = db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .innerJoin('people as rater', 'rater.id', 'invitations.rater_id')
      .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
      .select([
        'invitations.id',
        'invitations.subject_id',
        'invitations.relationship',
        'invitations.status',
        'invitations.sent_at',
        'invitations.reminded_at',
        'invitations.completed_on',
        'invitations.bounce_reason',
        'rater.id as rater_id',
        'rater.name as rater_name',
        'rater.email as rater_email',
        'leader.name as leader_name',
      ])
      .where('subjects.cycle_id', '=', cycleId);
    if (statuses) {
      // Asked by status for mailing: a used invitation waiting in the Postgres completion fallback is not
      // "sent" any more, whatever its status still says.
      query = query
        .where('invitations.status', 'in', statuses)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('pending_completions')
                .select('pending_completions.invitation_id')
                .whereRef('pending_completions.invitation_id', '=', 'invitations.id'),
            ),
          ),
        );
    }
    return query.orderBy('rater.email').orderBy('leader.name').execute();
  },

  async addLink(db: Db, invitationId: string, tokenHash: Buffer, expiresAt: Date) {
    await db
      .insertInto('invitation_links')
      .values({ token_hash: tokenHash, invitation_id: invitationId, expires_at: expiresAt })
      .execute();
  },

  async markSent(db: Db, invitationIds: string[], kind: 'sent' | 'reminded', at: Date = new Date()) {
    if (invitationIds.length === 0) return;
    await db
      .updateTable('invitations')
      .set(kind === 'sent' ? { sent_at: at, status: 'sent' } : { reminded_at: at })
      .where('id', 'in', invitationIds)
      .where('status', 'in', ['pending', 'sent'])
      .execute();
  },

  /**
   * A survey link with everything opening it needs, in one query: the invitation and its cycle, whether the
   * token was spent (by its spent MAC) and the sealed draft (by its draft MAC), if any.
   */
  async openLink(db: Db, macs: { tokenHash: Buffer; spentMac: Buffer; draftMac: Buffer }) {
    return db
      .selectFrom('invitation_links')
      .modifyFront(PREPARED)
      .innerJoin('invitations', 'invitations.id', 'invitation_links.invitation_id')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
      .leftJoin('pending_completions', 'pending_completions.invitation_id', 'invitations.id')
      .select([
        'invitations.id',
        'invitations.status',
        'invitations.relationship',
        'invitation_links.expires_at',
        'pending_completions.invitation_id as completion_pending',
        'invitations.subject_id',
        'subjects.cycle_id',
        'cycles.status as cycle_status',
        'cycles.closes_at',
        'cycles.instrument_id',
        'cycles.instrument_version',
        'leader.name as leader_name',
        sql<boolean>`exists (select 1 from spent_tokens where token_mac = ${macs.spentMac})`.as('spent'),
        // Each reminder mails a new link to the same invitation: with more than one, another link may have
        // been used (see the survey service's completion check).
        sql<number>`(select count(*)::int from invitation_links l where l.invitation_id = invitations.id)`.as(
          'links',
        ),
        sql<Buffer | null>`(select ciphertext from response_drafts where draft_mac = ${macs.draftMac})`.as(
          'draft',
        ),
      ])
      .where('invitation_links.token_hash', '=', macs.tokenHash)
      .executeTakeFirst();
  },

  async decline(db: Db, invitationId: string, at: Date = new Date()) {
    const result = await db
      .updateTable('invitations')
      .set({ status: 'declined', declined_at: at })
      .where('id', '=', invitationId)
      .where('status', 'in', ['pending', 'sent', 'bounced'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  /** Invited and completed per group for a cycle or one subject: counts only, never names. */
  async participation(db: Db, where: { cycleId: string } | { subjectId: string }) {
    let query = db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .select((eb) => [
        'invitations.relationship',
        eb.fn.countAll<number>().as('invited'),
        eb.fn.count<number>(sql`case when invitations.status = 'completed' then 1 end`).as('completed'),
        eb.fn.count<number>(sql`case when invitations.status = 'declined' then 1 end`).as('declined'),
      ])
      .where('invitations.status', 'not in', ['nominated', 'cancelled'])
      .groupBy('invitations.relationship');
    query =
      'cycleId' in where
        ? query.where('subjects.cycle_id', '=', where.cycleId)
        : query.where('subjects.id', '=', where.subjectId);
    return query.execute();
  },

  async addNominationLink(db: Db, subjectId: string, tokenHash: Buffer, expiresAt: Date) {
    await db
      .insertInto('nomination_links')
      .values({ token_hash: tokenHash, subject_id: subjectId, expires_at: expiresAt })
      .execute();
  },

  /** The subject behind a live nomination link, with what the nomination page needs. */
  async findByNominationHash(db: Db, tokenHash: Buffer) {
    return db
      .selectFrom('nomination_links')
      .innerJoin('subjects', 'subjects.id', 'nomination_links.subject_id')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
      .select([
        'subjects.id as subject_id',
        'subjects.nomination',
        'subjects.leader_id',
        'leader.name as leader_name',
        'leader.email as leader_email',
        'leader.organisation_id',
        'cycles.id as cycle_id',
        'cycles.status as cycle_status',
        'cycles.settings',
        'cycles.closes_at',
        'nomination_links.expires_at',
      ])
      .where('nomination_links.token_hash', '=', tokenHash)
      .executeTakeFirst();
  },

  /** Everyone invited or nominated to rate a subject (admins, coaches and the nominating leader see this list). */
  async nomineesOf(db: Db, subjectId: string) {
    return db
      .selectFrom('invitations')
      .innerJoin('people', 'people.id', 'invitations.rater_id')
      .select([
        'invitations.id',
        'invitations.relationship',
        'invitations.status',
        'people.name',
        'people.email',
      ])
      .where('invitations.subject_id', '=', subjectId)
      .where('invitations.relationship', '<>', 'self')
      .orderBy('invitations.relationship')
      .orderBy('people.name')
      .execute();
  },

  async setNomination(db: Db, subjectId: string, state: 'none' | 'open' | 'submitted' | 'approved') {
    await db.updateTable('subjects').set({ nomination: state }).where('id', '=', subjectId).execute();
  },

  /** Moves a nominee to another group, if their invitation is still in one of `from`; returns how many moved. */
  async setNomineeRelationship(
    db: Db,
    subjectId: string,
    invitationId: string,
    relationship: Exclude<Relationship, 'self'>,
    from: InvitationStatus[],
  ): Promise<number> {
    const result = await db
      .updateTable('invitations')
      .set({ relationship })
      .where('id', '=', invitationId)
      .where('subject_id', '=', subjectId)
      .where('relationship', '<>', 'self')
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  async setInvitationStatus(
    db: Db,
    subjectId: string,
    from: InvitationStatus[],
    to: InvitationStatus,
    invitationIds?: string[],
  ): Promise<number> {
    let query = db
      .updateTable('invitations')
      .set({ status: to })
      .where('subject_id', '=', subjectId)
      .where('status', 'in', from);
    if (invitationIds) {
      if (invitationIds.length === 0) return 0;
      query = query.where('id', 'in', invitationIds);
    }
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  },
};
