import { sql, type Kysely } from 'kysely';
import { PREPARED } from '../connection.ts';
import { publicationFactsFromJson, publicationFactsJson, type PublicationFacts } from './results.ts';
import type { Database } from '../schema.ts';

type Db = Kysely<Database>;

/** What `reportReadRepository.reportFacts` returns: a leader report's inputs short of the stored JSON. */
export interface ReportFacts {
  id: string;
  leader_id: string;
  coach_id: string | null;
  released_version: number | null;
  leader_name: string;
  coach_name: string | null;
  cycle_name: string;
  cycle_kind: 'baseline' | 'follow_up';
  instrument_id: string;
  instrument_version: number;
  programme_id: string;
  programme_name: string;
  organisation_id: string;
  /** The latest profile version's row, if any. */
  latest_profile: { id: string; version: number } | null;
  /** The row of the released version, if any. */
  released_profile_id: string | null;
  /** The latest change result's row, if any. */
  latest_change: { id: string; version: number; baseline_subject_id: string } | null;
  /** What the publication rule decides from (`resultRepository.staffPublication`), read in this statement. */
  publication: PublicationFacts;
  /** The leader's subjects in the programme, baseline first. */
  siblings: {
    id: string;
    released_version: number | null;
    cycle_name: string;
    cycle_kind: 'baseline' | 'follow_up';
    publication: PublicationFacts;
  }[];
}

/**
 * Reads behind the coach, leader and HR pages that `resultRepository` does not cover: a subject with
 * everything an access check and a report header need, programme overviews, release history and the
 * lists on the coach's and the leader's home pages. Read-only; no rater-level data leaves here.
 */
export const reportReadRepository = {
  /** A subject with its leader, coach, cycle, programme and organisation; undefined when unknown. */
  async subject(db: Db, subjectId: string) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('programmes as p', 'p.id', 'c.programme_id')
      .innerJoin('people as l', 'l.id', 's.leader_id')
      .leftJoin('people as coach', 'coach.id', 's.coach_id')
      .select([
        's.id',
        's.leader_id',
        's.coach_id',
        's.released_version',
        'l.name as leader_name',
        'l.email as leader_email',
        'coach.name as coach_name',
        'c.id as cycle_id',
        'c.name as cycle_name',
        'c.kind as cycle_kind',
        'c.status as cycle_status',
        'c.closed_at as cycle_closed_at',
        'c.instrument_id',
        'c.instrument_version',
        'p.id as programme_id',
        'p.name as programme_name',
        'p.organisation_id',
      ])
      .where('s.id', '=', subjectId)
      .executeTakeFirst();
  },

  /**
   * In one query, everything that decides what a leader report shows except the stored JSON: the subject
   * with its leader, coach, cycle and programme; the latest profile's row id and version and the released
   * version's row id; the latest change's row id, version and baseline; and the leader's subjects in the
   * programme (as `leaderSubjectsInProgramme` lists them). The report's render cache is keyed by these and
   * the JSON is read by row id only on a miss. Scalar subqueries rather than joins: Postgres plans this
   * statement on every execution, and that planning is most of its cost.
   */
  async reportFacts(db: Db, subjectId: string): Promise<ReportFacts | undefined> {
    const result = await sql<ReportFacts>`${PREPARED}
      select s.id, s.leader_id, s.coach_id, s.released_version,
        (select name from people where id = s.leader_id) as leader_name,
        (select name from people where id = s.coach_id) as coach_name,
        c.name as cycle_name, c.kind as cycle_kind, c.instrument_id, c.instrument_version,
        p.id as programme_id, p.name as programme_name, p.organisation_id,
        (select json_build_object('id', id, 'version', version) from profile_snapshots
          where subject_id = s.id order by version desc limit 1) as latest_profile,
        (select id from profile_snapshots where subject_id = s.id and version = s.released_version)
          as released_profile_id,
        (select json_build_object('id', id, 'version', version, 'baseline_subject_id', baseline_subject_id)
          from change_results where subject_id = s.id order by version desc limit 1) as latest_change,
        ${publicationFactsJson('s', 'c')} as publication,
        (select coalesce(json_agg(json_build_object(
            'id', o.id, 'released_version', o.released_version, 'cycle_name', oc.name, 'cycle_kind', oc.kind,
            'publication', ${publicationFactsJson('o', 'oc')}
          ) order by oc.kind = 'baseline' desc, oc.created_at, o.id), '[]'::json)
          from subjects o join cycles oc on oc.id = o.cycle_id
          where oc.programme_id = p.id and o.leader_id = s.leader_id) as siblings
      from subjects s
      join cycles c on c.id = s.cycle_id
      join programmes p on p.id = c.programme_id
      where s.id = ${subjectId}
    `.execute(db);
    const row = result.rows[0];
    return (
      row && {
        ...row,
        publication: publicationFactsFromJson(row.publication),
        siblings: row.siblings.map((o) => ({ ...o, publication: publicationFactsFromJson(o.publication) })),
      }
    );
  },

  /** A stored profile by its row id (rows are never updated, so an id always names the same data). */
  async profileRow(db: Db, id: string) {
    return db
      .selectFrom('profile_snapshots')
      .select(['id', 'version', 'data', 'computed_at'])
      .where('id', '=', id)
      .executeTakeFirst();
  },

  /** A subject's stored profile of one version (rows are never updated). */
  async profileOfVersion(db: Db, subjectId: string, version: number) {
    return db
      .selectFrom('profile_snapshots')
      .select(['id', 'version', 'data', 'computed_at'])
      .where('subject_id', '=', subjectId)
      .where('version', '=', version)
      .executeTakeFirst();
  },

  /** The participation (counts per group, with their k) of a subject's latest profile, without its numbers. */
  async latestParticipation(db: Db, subjectId: string) {
    const row = await db
      .selectFrom('profile_snapshots')
      .select(sql<unknown>`data->'participation'`.as('participation'))
      .where('subject_id', '=', subjectId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.participation ?? null;
  },

  /**
   * The row id of the newest change result of a follow-up computed from exactly these two profile versions
   * (its data names them), so a change section never mixes in numbers of versions the reader is not shown.
   */
  async changeRowIdFor(
    db: Db,
    input: { subjectId: string; baselineSubjectId: string; baselineVersion: number; followUpVersion: number },
  ): Promise<string | null> {
    const row = await db
      .selectFrom('change_results')
      .select('id')
      .modifyFront(PREPARED)
      .where('subject_id', '=', input.subjectId)
      .where('baseline_subject_id', '=', input.baselineSubjectId)
      .where(sql<number>`(data->>'baselineVersion')::int`, '=', input.baselineVersion)
      .where(sql<number>`(data->>'followUpVersion')::int`, '=', input.followUpVersion)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.id ?? null;
  },

  /** A stored change result by its row id (never updated either). */
  async changeRow(db: Db, id: string) {
    return db
      .selectFrom('change_results')
      .select(['id', 'version', 'baseline_subject_id', 'data', 'computed_at'])
      .where('id', '=', id)
      .executeTakeFirst();
  },

  /** The leader's subjects in the programme (one per cycle), baseline first, with their release state. */
  async leaderSubjectsInProgramme(db: Db, input: { programmeId: string; leaderId: string }) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .select(['s.id', 's.released_version', 'c.name as cycle_name', 'c.kind as cycle_kind'])
      .where('c.programme_id', '=', input.programmeId)
      .where('s.leader_id', '=', input.leaderId)
      .orderBy(sql`c.kind = 'baseline'`, 'desc')
      .orderBy('c.created_at')
      .execute();
  },

  /** Programmes of an organisation with their cycle and leader counts, newest first. */
  async programmesOfOrganisation(db: Db, organisationId: string) {
    return db
      .selectFrom('programmes as p')
      .select((eb) => [
        'p.id',
        'p.name',
        'p.description',
        'p.created_at',
        eb
          .selectFrom('cycles as c')
          .select(sql<number>`count(*)::int`.as('n'))
          .whereRef('c.programme_id', '=', 'p.id')
          .as('cycles'),
        eb
          .selectFrom('subjects as s')
          .innerJoin('cycles as c', 'c.id', 's.cycle_id')
          .select(sql<number>`count(distinct s.leader_id)::int`.as('n'))
          .whereRef('c.programme_id', '=', 'p.id')
          .as('leaders'),
        eb
          .selectFrom('cycles as c')
          .select(sql<string>`coalesce(string_agg(c.status, ',' order by c.created_at), '')`.as('s'))
          .whereRef('c.programme_id', '=', 'p.id')
          .as('statuses'),
      ])
      .where('p.organisation_id', '=', organisationId)
      .orderBy('p.created_at', 'desc')
      .orderBy('p.id')
      .execute();
  },

  /** A programme, only when it belongs to the organisation. */
  async programmeInOrganisation(db: Db, input: { programmeId: string; organisationId: string }) {
    return db
      .selectFrom('programmes')
      .select(['id', 'name', 'description', 'organisation_id'])
      .where('id', '=', input.programmeId)
      .where('organisation_id', '=', input.organisationId)
      .executeTakeFirst();
  },

  /** The programme's cycles with their dates and leader counts, baseline first. */
  async cyclesOfProgramme(db: Db, programmeId: string) {
    return db
      .selectFrom('cycles as c')
      .select((eb) => [
        'c.id',
        'c.kind',
        'c.name',
        'c.status',
        'c.opened_at',
        'c.closes_at',
        'c.closed_at',
        'c.released_at',
        'c.instrument_id',
        'c.instrument_version',
        eb
          .selectFrom('subjects as s')
          .select(sql<number>`count(*)::int`.as('n'))
          .whereRef('s.cycle_id', '=', 'c.id')
          .as('leaders'),
      ])
      .where('c.programme_id', '=', programmeId)
      .orderBy(sql`c.kind = 'baseline'`, 'desc')
      .orderBy('c.created_at')
      .orderBy('c.id')
      .execute();
  },

  /** Every subject of a programme with leader, coach, cycle, release state and latest profile version. */
  async subjectsOfProgramme(db: Db, programmeId: string) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('people as l', 'l.id', 's.leader_id')
      .leftJoin('people as coach', 'coach.id', 's.coach_id')
      .select((eb) => [
        's.id',
        's.leader_id',
        's.released_version',
        'l.name as leader_name',
        'coach.name as coach_name',
        'c.id as cycle_id',
        'c.kind as cycle_kind',
        'c.name as cycle_name',
        eb
          .selectFrom('profile_snapshots as ps')
          .select(sql<number | null>`max(ps.version)`.as('v'))
          .whereRef('ps.subject_id', '=', 's.id')
          .as('latest_version'),
      ])
      .where('c.programme_id', '=', programmeId)
      .orderBy('l.name')
      .orderBy(sql`c.kind = 'baseline'`, 'desc')
      .orderBy('c.created_at')
      .execute();
  },

  /** Who released which report version, and when, newest first. */
  async releaseHistory(db: Db, programmeId: string) {
    return db
      .selectFrom('releases as r')
      .innerJoin('subjects as s', 's.id', 'r.subject_id')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('people as l', 'l.id', 's.leader_id')
      .leftJoin('people as by', 'by.id', 'r.released_by')
      .select([
        'r.id',
        'r.subject_id',
        'r.profile_version',
        'r.released_at',
        'l.name as leader_name',
        'c.name as cycle_name',
        'by.name as released_by_name',
      ])
      .where('c.programme_id', '=', programmeId)
      .orderBy('r.released_at', 'desc')
      .orderBy('r.id')
      .execute();
  },

  /** The coach's leaders across programmes and cycles of their organisation, with release state. */
  async coachSubjects(db: Db, input: { coachId: string; organisationId: string }) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('programmes as p', 'p.id', 'c.programme_id')
      .innerJoin('people as l', 'l.id', 's.leader_id')
      .select((eb) => [
        's.id',
        's.leader_id',
        's.released_version',
        'l.name as leader_name',
        'c.name as cycle_name',
        'c.kind as cycle_kind',
        'c.status as cycle_status',
        'p.id as programme_id',
        'p.name as programme_name',
        eb
          .selectFrom('profile_snapshots as ps')
          .select(sql<number | null>`max(ps.version)`.as('v'))
          .whereRef('ps.subject_id', '=', 's.id')
          .as('latest_version'),
      ])
      .where('s.coach_id', '=', input.coachId)
      .where('p.organisation_id', '=', input.organisationId)
      .orderBy('p.created_at', 'desc')
      .orderBy('p.id')
      .orderBy('l.name')
      .orderBy(sql`c.kind = 'baseline'`, 'desc')
      .orderBy('c.created_at')
      .execute();
  },

  /** The leader's own released reports, newest cycle first. */
  async releasedSubjectsOfLeader(db: Db, input: { leaderId: string; organisationId: string }) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('programmes as p', 'p.id', 'c.programme_id')
      .leftJoin('people as coach', 'coach.id', 's.coach_id')
      .select((eb) => [
        's.id',
        's.released_version',
        'c.name as cycle_name',
        'c.kind as cycle_kind',
        'p.name as programme_name',
        'coach.name as coach_name',
        eb
          .selectFrom('releases as r')
          .select(sql<Date | null>`max(r.released_at)`.as('at'))
          .whereRef('r.subject_id', '=', 's.id')
          .as('released_at'),
      ])
      .where('s.leader_id', '=', input.leaderId)
      .where('s.released_version', 'is not', null)
      .where('p.organisation_id', '=', input.organisationId)
      .orderBy('c.created_at', 'desc')
      .orderBy('s.id')
      .execute();
  },
};
