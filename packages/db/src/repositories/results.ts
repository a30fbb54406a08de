import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import {
  canRerelease,
  ConflictError,
  NotFoundError,
  type AnonymityRules,
  type GroupCounts,
  type RereleaseProblem,
} from '@panorama/domain';
import { PREPARED } from '../connection.ts';
import type { Database, Relationship } from '../schema.ts';
import { outboxRepository } from './outboxes.ts';
import { profileSourceRepository } from './profile-sources.ts';
import type { JobToEnqueue } from './responses.ts';

type Db = Kysely<Database>;

/** A result row to store: what was computed, and a digest of everything it was computed from. */
export interface ComputedResult {
  sourceDigest: string;
  data: unknown;
}

/** Whether a write made a new version, and which version is now the latest. */
export interface WriteOutcome {
  version: number;
  created: boolean;
}

/** A response as scoring reads it when pooling a whole cycle (reliability): ratings only. */
export interface CycleResponseRatings {
  id: string;
  relationship: Relationship;
  ratings: Record<string, number | null>;
}

// Runs `fn` in a transaction holding a transaction-scoped advisory lock on `key`, so two workers working on
// the same key run one after the other. Reuses the caller's transaction when given one (the lock then lasts
// until the caller commits).
async function locked<T>(db: Db, key: string, fn: (trx: Db) => Promise<T>): Promise<T> {
  const run = async (trx: Db) => {
    await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
    return fn(trx);
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

type ResultTable = 'profile_snapshots' | 'change_results' | 'cohort_results';

/**
 * Under the owner's advisory lock: appends `row` as version max+1 of `table` unless the latest version there
 * has the same source digest, then queues the jobs a new version makes necessary, in the same transaction.
 */
async function appendVersion(
  db: Db,
  target: { table: ResultTable; owner: 'subject_id' | 'programme_id'; id: string; lock: string },
  input: { sourceDigest: string; row: Record<string, unknown>; jobs?: JobToEnqueue[] },
): Promise<WriteOutcome> {
  return locked(db, target.lock, async (trx) => {
    // The three tables share (owner, version, source_digest); kysely cannot type a table chosen at run time.
    const untyped = trx as unknown as Kysely<
      Record<ResultTable, { version: number; source_digest: string } & Record<string, unknown>>
    >;
    const latest = await untyped
      .selectFrom(target.table)
      .select(['version', 'source_digest'])
      .where(target.owner, '=', target.id)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (latest?.source_digest === input.sourceDigest) return { version: latest.version, created: false };
    const version = (latest?.version ?? 0) + 1;
    await untyped
      .insertInto(target.table)
      .values({ [target.owner]: target.id, version, source_digest: input.sourceDigest, ...input.row })
      .execute();
    await outboxRepository.queueJobs(trx, input.jobs ?? []);
    return { version, created: true };
  });
}

/**
 * Versioned results (profiles, changes, cohort roll-ups) and the reads the worker scores from. Every write
 * appends a new version only when the digest of its sources differs from the latest one, under an advisory
 * lock per subject or programme, so repeated or concurrent computations of the same inputs leave one row.
 */
export const resultRepository = {
  /** Profile sources, latest digests and version inserts for many subjects at once (profile-sources.ts). */
  ...profileSourceRepository,

  /**
   * Runs `fn` in a transaction that holds the lock for one subject's profile. Read the sources inside it:
   * a worker that takes the lock later then sees at least the responses the earlier one saw, so versions
   * never go backwards.
   */
  async withProfileLock<T>(db: Db, subjectId: string, fn: (trx: Db) => Promise<T>): Promise<T> {
    return locked(db, `profile:${subjectId}`, fn);
  },

  async withChangeLock<T>(db: Db, subjectId: string, fn: (trx: Db) => Promise<T>): Promise<T> {
    return locked(db, `change:${subjectId}`, fn);
  },

  async withCohortLock<T>(db: Db, programmeId: string, fn: (trx: Db) => Promise<T>): Promise<T> {
    return locked(db, `cohort:${programmeId}`, fn);
  },

  /** The subject with its cycle, programme and pinned instrument. */
  async subjectContext(db: Db, subjectId: string) {
    return db
      .selectFrom('subjects')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .select([
        'subjects.id as subject_id',
        'subjects.leader_id',
        'subjects.released_version',
        'cycles.id as cycle_id',
        'cycles.kind',
        'cycles.instrument_id',
        'cycles.instrument_version',
        'programmes.id as programme_id',
        'programmes.organisation_id',
      ])
      .where('subjects.id', '=', subjectId)
      .executeTakeFirst();
  },

  /**
   * SHA-256 over the subject's responses, sorted by id, with their relationship, ratings and comments
   * (comments by their MD5, to keep the string short). Changes whenever a response is added or removed.
   */
  async profileSourceDigest(db: Db, subjectId: string): Promise<{ digest: string; responses: number }> {
    const result = await sql<{ digest: string; responses: number }>`
      select encode(sha256(convert_to(coalesce(string_agg(
               r.id::text || ':' || r.relationship || ':' || coalesce(rt.ratings, '') || ':' || coalesce(cm.comments, ''),
               '|' order by r.id), ''), 'UTF8')), 'hex') as digest,
             count(*)::int as responses
      from responses r
      left join lateral (
        select string_agg(item_id || '=' || coalesce(value::text, 'na'), ',' order by item_id) as ratings
        from response_ratings where response_id = r.id) rt on true
      left join lateral (
        select string_agg(question_id || '=' || md5(body), ',' order by question_id) as comments
        from response_comments where response_id = r.id) cm on true
      where r.subject_id = ${subjectId}`.execute(db);
    const row = result.rows[0];
    return { digest: row?.digest ?? '', responses: row?.responses ?? 0 };
  },

  async latestProfile(db: Db, subjectId: string) {
    return db
      .selectFrom('profile_snapshots')
      .select(['version', 'source_digest', 'group_counts', 'data', 'computed_at'])
      .where('subject_id', '=', subjectId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  /** Version and source digest of the latest profile, without its data. */
  async latestProfileDigest(db: Db, subjectId: string) {
    return db
      .selectFrom('profile_snapshots')
      .select(['version', 'source_digest'])
      .where('subject_id', '=', subjectId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  async profileVersion(db: Db, subjectId: string, version: number) {
    return db
      .selectFrom('profile_snapshots')
      .select(['version', 'source_digest', 'group_counts', 'data', 'computed_at'])
      .where('subject_id', '=', subjectId)
      .where('version', '=', version)
      .executeTakeFirst();
  },

  /**
   * Stores a profile as version max+1 unless the latest version has the same source digest. Jobs the new
   * version makes necessary are queued in the same transaction (and only when a version was created).
   */
  async saveProfile(
    db: Db,
    input: ComputedResult & { subjectId: string; groupCounts: GroupCounts; jobs?: JobToEnqueue[] },
  ): Promise<WriteOutcome> {
    return appendVersion(
      db,
      {
        table: 'profile_snapshots',
        owner: 'subject_id',
        id: input.subjectId,
        lock: `profile:${input.subjectId}`,
      },
      {
        sourceDigest: input.sourceDigest,
        row: { group_counts: JSON.stringify(input.groupCounts), data: JSON.stringify(input.data) },
        ...(input.jobs ? { jobs: input.jobs } : {}),
      },
    );
  },

  /**
   * What staff (HR, admins, the leader's coach) may see of a subject's report under the publication rule
   * (METHODS §2): nothing while the cycle is open unless a version was released early; once closed, the
   * latest version when it covers every stored response; after a version was shown or released, a newer one
   * only when the re-release rule holds from it. Showing a version for the first time records it as the
   * published one (a conditional update, so two viewers cannot each publish a different version). `known`:
   * facts the caller has just read (`publicationFactsJson`), so the usual case needs no query here.
   */
  async staffPublication(db: Db, subjectId: string, known?: PublicationFacts): Promise<StaffPublication> {
    // Each retry follows a version published meanwhile; versions only grow, so a few attempts suffice.
    for (let attempt = 0; attempt < 5; attempt++) {
      // The caller's facts (read in its own statement, e.g. the report's) serve the first decision.
      const facts = attempt === 0 && known ? known : await publicationFacts(db, subjectId);
      if (!facts) throw new NotFoundError('subject not found');
      const decision = decidePublication(facts, { cycleOpenWithholds: true });
      if (decision.state !== 'candidate') return decision;
      if (decision.from !== null) {
        const verdict = await resultRepository.rereleaseVerdict(db, subjectId, decision.from, decision.to);
        if (!verdict.allowed) return held(facts, decision.from, verdict.problems);
      }
      const updated = await db
        .updateTable('subjects')
        .set({ published_version: decision.to })
        .where('id', '=', subjectId)
        .where(sql<boolean>`published_version is not distinct from ${decision.from}::int`)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) return shownState(facts, decision.to);
      // Another viewer or a release published a version meanwhile: decide again from it.
    }
    throw new ConflictError('this report is being published by another request; try again in a moment');
  },

  /**
   * The re-release rule (METHODS §2, `canRerelease`) between two stored versions of a subject's profile,
   * judged on their group counts and the stricter k of the two. The one check behind releases and what
   * staff are shown.
   */
  async rereleaseVerdict(db: Db, subjectId: string, fromVersion: number, toVersion: number) {
    const rows = await db
      .selectFrom('profile_snapshots')
      .select(['version', 'group_counts', sql<AnonymityRules | null>`data->'anonymity'`.as('anonymity')])
      .where('subject_id', '=', subjectId)
      .where('version', 'in', [fromVersion, toVersion])
      .execute();
    const from = rows.find((r) => r.version === fromVersion);
    const to = rows.find((r) => r.version === toVersion);
    if (!from || !to) throw new ConflictError('a profile version to compare is missing; recompute it first');
    const rules = stricterRules(rulesOf(from), rulesOf(to));
    return canRerelease(from.group_counts, to.group_counts, rules);
  },

  /**
   * Releases to the leader the version staff may see (never one they may not): the latest one when it
   * covers every response and, after a version was published, the re-release rule holds from it; the
   * published one otherwise. The first release always succeeds; a re-release only when every group that
   * changed since the last release gained at least its k (`rereleaseVerdict`). The released version becomes
   * the published one. Releasing the version the leader already has is a no-op.
   */
  async release(
    db: Db,
    subjectId: string,
    actorId: string | null,
  ): Promise<{ version: number; changed: boolean }> {
    const refusal = (problems: RereleaseProblem[]) => {
      const detail = problems
        .map((p) => `${p.group.replace('_', ' ')} changed by ${p.gained} (needs ${p.required} or more)`)
        .join('; ');
      return new ConflictError(
        `this report cannot be released again yet: ${detail}. Releasing it would let readers work out ` +
          'the new ratings by comparing the two versions; wait for more responses.',
      );
    };
    const run = async (trx: Db) => {
      const subject = await trx
        .selectFrom('subjects')
        .select(['id', 'released_version'])
        .where('id', '=', subjectId)
        .forUpdate()
        .executeTakeFirst();
      if (!subject) throw new NotFoundError('subject not found');
      const facts = await publicationFacts(trx, subjectId);
      if (!facts) throw new NotFoundError('subject not found');
      // An early release (cycle still open) is itself the publication, so the open cycle withholds nothing.
      const decision = decidePublication(facts, { cycleOpenWithholds: false });
      let target: number;
      if (decision.state === 'none' || decision.state === 'withheld')
        throw new ConflictError('there is no profile to release yet: no responses were aggregated');
      if (decision.state === 'updating')
        throw new ConflictError(
          'this report is being brought up to date with the latest responses; try again in a minute',
        );
      if (decision.state === 'candidate') {
        target = decision.to;
        if (decision.from !== null) {
          const verdict = await resultRepository.rereleaseVerdict(trx, subjectId, decision.from, decision.to);
          // Held back from staff too: release the version they see, unless the leader has it already.
          if (!verdict.allowed && subject.released_version === decision.from) throw refusal(verdict.problems);
          if (!verdict.allowed) target = decision.from;
        }
      } else {
        target = decision.version;
      }
      if (subject.released_version === target) return { version: target, changed: false };
      if (subject.released_version !== null) {
        const verdict = await resultRepository.rereleaseVerdict(
          trx,
          subjectId,
          subject.released_version,
          target,
        );
        if (!verdict.allowed) throw refusal(verdict.problems);
      }
      await trx
        .updateTable('subjects')
        .set({ released_version: target, published_version: target })
        .where('id', '=', subjectId)
        .execute();
      await trx
        .insertInto('releases')
        .values({ subject_id: subjectId, profile_version: target, released_by: actorId })
        .execute();
      return { version: target, changed: true };
    };
    return db.isTransaction ? run(db) : db.transaction().execute(run);
  },

  /**
   * Baseline/follow-up pairs of the subject's leader in its programme, the subject being either side.
   * A programme has one baseline cycle and any number of follow-ups.
   */
  async changePairs(db: Db, subjectId: string) {
    return db
      .selectFrom('subjects as s')
      .innerJoin('cycles as c', 'c.id', 's.cycle_id')
      .innerJoin('cycles as bc', (j) =>
        j.onRef('bc.programme_id', '=', 'c.programme_id').on('bc.kind', '=', 'baseline'),
      )
      .innerJoin('subjects as b', (j) =>
        j.onRef('b.cycle_id', '=', 'bc.id').onRef('b.leader_id', '=', 's.leader_id'),
      )
      .innerJoin('cycles as fc', (j) =>
        j.onRef('fc.programme_id', '=', 'c.programme_id').on('fc.kind', '=', 'follow_up'),
      )
      .innerJoin('subjects as f', (j) =>
        j.onRef('f.cycle_id', '=', 'fc.id').onRef('f.leader_id', '=', 's.leader_id'),
      )
      .select([
        'b.id as baseline_subject_id',
        'f.id as follow_up_subject_id',
        'bc.id as baseline_cycle_id',
        'fc.id as follow_up_cycle_id',
        'c.programme_id',
      ])
      .where('s.id', '=', subjectId)
      .where((eb) => eb.or([eb('b.id', '=', subjectId), eb('f.id', '=', subjectId)]))
      .orderBy('f.id')
      .execute();
  },

  /** Follow-up subjects of every leader of a programme who also has a baseline subject. */
  async followUpSubjectsWithBaseline(db: Db, programmeId: string): Promise<string[]> {
    const rows = await db
      .selectFrom('subjects as f')
      .innerJoin('cycles as fc', 'fc.id', 'f.cycle_id')
      .innerJoin('cycles as bc', (j) =>
        j.onRef('bc.programme_id', '=', 'fc.programme_id').on('bc.kind', '=', 'baseline'),
      )
      .innerJoin('subjects as b', (j) =>
        j.onRef('b.cycle_id', '=', 'bc.id').onRef('b.leader_id', '=', 'f.leader_id'),
      )
      .select('f.id')
      .where('fc.programme_id', '=', programmeId)
      .where('fc.kind', '=', 'follow_up')
      .orderBy('f.id')
      .execute();
    return rows.map((r) => r.id);
  },

  /**
   * Raters who took part for the leader in both subjects, per relationship in the follow-up: counted from
   * invitations (never from responses), and only where the invitation is completed on both sides, so
   * raters who declined, bounced or never answered in either cycle do not count (METHODS §6).
   */
  async invitedInBoth(db: Db, baselineSubjectId: string, followUpSubjectId: string) {
    return db
      .selectFrom('invitations as f')
      .innerJoin('invitations as b', 'b.rater_id', 'f.rater_id')
      .select((eb) => ['f.relationship', eb.fn.countAll<number>().as('raters')])
      .where('f.subject_id', '=', followUpSubjectId)
      .where('b.subject_id', '=', baselineSubjectId)
      .where('f.relationship', '<>', 'self')
      .where('f.status', '=', 'completed')
      .where('b.status', '=', 'completed')
      .groupBy('f.relationship')
      .orderBy('f.relationship')
      .execute();
  },

  /** Cheap fingerprint of a cycle's responses (count and a sum of id hashes) for caches. */
  async cycleResponsesFingerprint(db: Db, cycleId: string): Promise<string> {
    const row = await db
      .selectFrom('responses')
      .select(
        sql<string>`count(*)::text || ':' || coalesce(sum(hashtext(id::text)::bigint), 0)::text`.as('f'),
      )
      .where('cycle_id', '=', cycleId)
      .executeTakeFirstOrThrow();
    return row.f;
  },

  /** One page of a cycle's responses in id order (keyset pagination), ratings only. */
  async cycleResponsesPage(
    db: Db,
    cycleId: string,
    afterId: string | null,
    limit: number,
  ): Promise<CycleResponseRatings[]> {
    let query = db
      .selectFrom('responses')
      .select(['id', 'relationship'])
      .where('cycle_id', '=', cycleId)
      .orderBy('id')
      .limit(limit);
    if (afterId !== null) query = query.where('id', '>', afterId);
    const responses = await query.execute();
    if (responses.length === 0) return [];
    const ratings = await db
      .selectFrom('response_ratings')
      .select(['response_id', 'item_id', 'value'])
      .where(
        'response_id',
        'in',
        responses.map((r) => r.id),
      )
      .execute();
    const byId = new Map(
      responses.map((r) => [
        r.id,
        { id: r.id, relationship: r.relationship, ratings: {} as Record<string, number | null> },
      ]),
    );
    for (const row of ratings) byId.get(row.response_id)!.ratings[row.item_id] = row.value;
    return [...byId.values()];
  },

  /** Cheap fingerprint of a cycle's stored profiles: snapshots are only appended, so their count moves. */
  async cycleProfilesFingerprint(db: Db, cycleId: string): Promise<string> {
    const row = await db
      .selectFrom('profile_snapshots')
      .innerJoin('subjects', 'subjects.id', 'profile_snapshots.subject_id')
      .select(
        sql<string>`count(*)::text || ':' || coalesce(max(profile_snapshots.computed_at)::text, '')`.as('f'),
      )
      .where('subjects.cycle_id', '=', cycleId)
      .executeTakeFirstOrThrow();
    return row.f;
  },

  /**
   * Between-leader SD (n - 1) of the all-others competency score over the latest profiles of a cycle, per
   * competency, computed in SQL from the stored JSON. Leaders whose all-others score is suppressed are left
   * out; competencies with fewer than two leaders get no SD.
   */
  async allOthersSdByCompetency(db: Db, cycleId: string) {
    const result = await sql<{ competency_id: string; sd: number; leaders: number }>`
      with latest as (
        select distinct on (ps.subject_id) ps.data
        from profile_snapshots ps join subjects s on s.id = ps.subject_id
        where s.cycle_id = ${cycleId}
        order by ps.subject_id, ps.version desc)
      select c->>'id' as competency_id,
             stddev_samp((c->'groups'->'all_others'->>'mean')::float8) as sd,
             count(*)::int as leaders
      from latest, jsonb_array_elements(latest.data->'competencies') c
      where c->'groups'->'all_others'->>'suppressed' = 'false'
      group by 1
      having count(*) >= 2
      order by 1`.execute(db);
    return result.rows;
  },

  async latestChange(db: Db, subjectId: string) {
    return db
      .selectFrom('change_results')
      .select(['version', 'baseline_subject_id', 'source_digest', 'data', 'computed_at'])
      .where('subject_id', '=', subjectId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  /** Stores a change result as a new version unless its sources are unchanged. */
  async saveChange(
    db: Db,
    input: ComputedResult & { subjectId: string; baselineSubjectId: string },
  ): Promise<WriteOutcome> {
    return appendVersion(
      db,
      {
        table: 'change_results',
        owner: 'subject_id',
        id: input.subjectId,
        lock: `change:${input.subjectId}`,
      },
      {
        sourceDigest: input.sourceDigest,
        row: { baseline_subject_id: input.baselineSubjectId, data: JSON.stringify(input.data) },
      },
    );
  },

  /** The programme's cycles, baseline first, then follow-ups by creation. */
  async programmeCycles(db: Db, programmeId: string) {
    return db
      .selectFrom('cycles')
      .select(['id', 'kind', 'name', 'instrument_id', 'instrument_version', 'created_at'])
      .where('programme_id', '=', programmeId)
      .orderBy(sql`kind = 'baseline'`, 'desc')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  },

  /**
   * For a cohort roll-up: settles what staff may see of every subject of the closed ones of these cycles
   * (`staffPublication`, which publishes a version not shown before), so the roll-up can read exactly those
   * versions (`cohortLeadersPage` with `shownOnly`). Returns the ids of the closed cycles. A cohort built from
   * later versions than staff are shown would let comparing two cohort versions isolate late responses.
   */
  async settleCohortPublication(db: Db, cycleIds: string[]): Promise<Set<string>> {
    const subjects = await sql<{ id: string; cycle_id: string; facts: PublicationFacts }>`
      select s.id, s.cycle_id, ${publicationFactsJson('s', 'c')} as facts
      from subjects s join cycles c on c.id = s.cycle_id
      where c.id = any(${cycleIds}::uuid[]) and c.status in ('closed', 'released')`.execute(db);
    await shownVersions(db, subjects.rows);
    const closed = await db
      .selectFrom('cycles')
      .select('id')
      .where('id', 'in', cycleIds)
      .where('status', 'in', ['closed', 'released'])
      .execute();
    return new Set(closed.map((c) => c.id));
  },

  /**
   * Fingerprint of what a cohort roll-up reads: every subject of the two cycles with its latest profile
   * version and the version staff are shown, and the invitation counts per status.
   */
  async cohortSourceFingerprint(db: Db, baselineCycleId: string, followUpCycleId: string): Promise<string> {
    const result = await sql<{ f: string }>`
      select encode(sha256(convert_to(
        coalesce((select string_agg(s.id::text || '@' || coalesce(v.version, 0)::text || '/'
                    || coalesce(s.published_version, s.released_version, 0)::text, ',' order by s.id)
                  from subjects s
                  left join lateral (select max(version) as version from profile_snapshots where subject_id = s.id) v on true
                  where s.cycle_id in (${baselineCycleId}, ${followUpCycleId})), '') || '|' ||
        coalesce((select string_agg(x, ',' order by x) from (
                  select s.cycle_id::text || ':' || i.relationship || ':' || i.status || ':' || count(*)::text as x
                  from invitations i join subjects s on s.id = i.subject_id
                  where s.cycle_id in (${baselineCycleId}, ${followUpCycleId})
                  group by s.cycle_id, i.relationship, i.status) counts), ''),
        'UTF8')), 'hex') as f`.execute(db);
    return result.rows[0]?.f ?? '';
  },

  /**
   * Leaders with a profile in both cycles, a page at a time in baseline-subject order, with the slim
   * profiles a cohort roll-up needs: participation, anonymity and competency-level groups (items and
   * comments are stripped in SQL, which keeps a large cohort small in memory).
   */
  async cohortLeadersPage(
    db: Db,
    input: {
      baselineCycleId: string;
      followUpCycleId: string;
      afterSubjectId: string | null;
      limit: number;
      /** Per cycle: read the version staff are shown (after `settleCohortPublication`), not the latest. */
      shownOnly?: { baseline: boolean; followUp: boolean };
    },
  ) {
    // The version staff are shown is the published one (or the released one); a subject with neither is left out.
    const shown = (alias: string, on: boolean) =>
      on
        ? sql`and version = coalesce(${sql.ref(alias)}.published_version, ${sql.ref(alias)}.released_version)`
        : sql``;
    const slim = (alias: string) =>
      sql.raw(`jsonb_build_object(
        'scale', ${alias}.data->'scale', 'anonymity', ${alias}.data->'anonymity',
        'participation', ${alias}.data->'participation',
        'competencies', (select coalesce(jsonb_agg(jsonb_build_object('id', c->'id', 'title', c->'title',
                          'groups', c->'groups', 'items', '[]'::jsonb) order by o), '[]'::jsonb)
                         from jsonb_array_elements(${alias}.data->'competencies') with ordinality as x(c, o)))`);
    const result = await sql<{
      baseline_subject_id: string;
      follow_up_subject_id: string;
      baseline: unknown;
      follow_up: unknown;
    }>`
      select b.id as baseline_subject_id, f.id as follow_up_subject_id,
             ${slim('bp')} as baseline, ${slim('fp')} as follow_up
      from subjects b
      join subjects f on f.leader_id = b.leader_id and f.cycle_id = ${input.followUpCycleId}
      join lateral (select data from profile_snapshots where subject_id = b.id
                    ${shown('b', input.shownOnly?.baseline ?? false)} order by version desc limit 1) bp on true
      join lateral (select data from profile_snapshots where subject_id = f.id
                    ${shown('f', input.shownOnly?.followUp ?? false)} order by version desc limit 1) fp on true
      where b.cycle_id = ${input.baselineCycleId}
        and (${input.afterSubjectId}::uuid is null or b.id > ${input.afterSubjectId}::uuid)
      order by b.id
      limit ${input.limit}`.execute(db);
    return result.rows;
  },

  async latestCohort(db: Db, programmeId: string) {
    return db
      .selectFrom('cohort_results')
      .select(['version', 'source_digest', 'data', 'computed_at'])
      .where('programme_id', '=', programmeId)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  /** Stores a cohort roll-up as a new version unless its sources are unchanged. */
  async saveCohort(
    db: Db,
    input: ComputedResult & { programmeId: string; jobs?: JobToEnqueue[] },
  ): Promise<WriteOutcome> {
    return appendVersion(
      db,
      {
        table: 'cohort_results',
        owner: 'programme_id',
        id: input.programmeId,
        lock: `cohort:${input.programmeId}`,
      },
      {
        sourceDigest: input.sourceDigest,
        row: { data: JSON.stringify(input.data) },
        ...(input.jobs ? { jobs: input.jobs } : {}),
      },
    );
  },

  /**
   * The profile staff may see of every subject of a programme (`staffPublication`, which records a version
   * shown for the first time), with its leader, for exports and the HR dashboard (no rater-level data).
   * Subjects with nothing to show (cycle open, aggregation in flight, no results) are left out. Two
   * statements whatever the programme's size (plus one per version published by this call).
   */
  async publishedProfilesOfProgramme(db: Db, programmeId: string) {
    const subjects = await sql<{
      subject_id: string;
      cycle_id: string;
      cycle_name: string;
      cycle_kind: 'baseline' | 'follow_up';
      leader_name: string;
      leader_email: string;
      facts: PublicationFacts;
    }>`
      select s.id as subject_id, c.id as cycle_id, c.name as cycle_name, c.kind as cycle_kind,
             p.name as leader_name, p.email as leader_email, ${publicationFactsJson('s', 'c')} as facts
      from subjects s
      join cycles c on c.id = s.cycle_id
      join people p on p.id = s.leader_id
      where c.programme_id = ${programmeId}
      order by c.kind = 'baseline' desc, c.created_at, p.email`.execute(db);
    const shown = await shownVersions(
      db,
      subjects.rows.map((row) => ({ id: row.subject_id, facts: row.facts })),
    );
    const rows = await snapshotsOf(db, shown);
    const out = [];
    for (const { facts: _facts, ...subject } of subjects.rows) {
      const version = shown.get(subject.subject_id);
      const row = version === undefined ? undefined : rows.get(`${subject.subject_id}:${version}`);
      if (version === undefined || !row) continue;
      // The release a first view or a concurrent release may just have made is read back with the row.
      out.push({ ...subject, version, released_version: row.released_version, data: row.data });
    }
    return out;
  },

  /**
   * For every follow-up subject of a programme, the change computed from exactly the baseline and follow-up
   * versions staff may see (`staffPublication` of both), with its leader. A pair with either side not shown,
   * or with no change computed from the two versions shown, is left out. Two statements whatever the size.
   */
  async publishedChangesOfProgramme(db: Db, programmeId: string) {
    const pairs = await sql<{
      subject_id: string;
      baseline_subject_id: string;
      cycle_name: string;
      leader_name: string;
      leader_email: string;
      follow_up_facts: PublicationFacts;
      baseline_facts: PublicationFacts;
    }>`
      select f.id as subject_id, b.id as baseline_subject_id, fc.name as cycle_name, p.name as leader_name,
             p.email as leader_email, ${publicationFactsJson('f', 'fc')} as follow_up_facts,
             ${publicationFactsJson('b', 'bc')} as baseline_facts
      from subjects f
      join cycles fc on fc.id = f.cycle_id and fc.kind = 'follow_up'
      join cycles bc on bc.programme_id = fc.programme_id and bc.kind = 'baseline'
      join subjects b on b.cycle_id = bc.id and b.leader_id = f.leader_id
      join people p on p.id = f.leader_id
      where fc.programme_id = ${programmeId}
      order by fc.created_at, p.email`.execute(db);
    // Follow-ups first: a baseline is looked at (and perhaps published) only beside a follow-up shown.
    const shown = await shownVersions(
      db,
      pairs.rows.map((row) => ({ id: row.subject_id, facts: row.follow_up_facts })),
    );
    const baselines = await shownVersions(
      db,
      pairs.rows
        .filter((row) => shown.has(row.subject_id))
        .map((row) => ({ id: row.baseline_subject_id, facts: row.baseline_facts })),
    );
    const wanted = pairs.rows.flatMap((pair) => {
      const followUpVersion = shown.get(pair.subject_id);
      const baselineVersion = baselines.get(pair.baseline_subject_id);
      return followUpVersion === undefined || baselineVersion === undefined
        ? []
        : [{ pair, followUpVersion, baselineVersion }];
    });
    if (wanted.length === 0) return [];
    // The latest change of each pair computed from exactly the two versions shown.
    const changes = await sql<{ subject_id: string; version: number; data: unknown }>`
      select distinct on (cr.subject_id) cr.subject_id, cr.version, cr.data
      from change_results cr
      join unnest(${wanted.map((w) => w.pair.subject_id)}::uuid[], ${wanted.map((w) => w.pair.baseline_subject_id)}::uuid[],
                  ${wanted.map((w) => w.baselineVersion)}::int[], ${wanted.map((w) => w.followUpVersion)}::int[])
        as w(subject_id, baseline_subject_id, baseline_version, follow_up_version)
        on cr.subject_id = w.subject_id and cr.baseline_subject_id = w.baseline_subject_id
       and (cr.data->>'baselineVersion')::int = w.baseline_version
       and (cr.data->>'followUpVersion')::int = w.follow_up_version
      order by cr.subject_id, cr.version desc`.execute(db);
    const bySubject = new Map(changes.rows.map((row) => [row.subject_id, row]));
    const out = [];
    for (const { pair } of wanted) {
      const row = bySubject.get(pair.subject_id);
      if (!row) continue;
      const { follow_up_facts: _f, baseline_facts: _b, ...rest } = pair;
      out.push({ ...rest, version: row.version, data: row.data });
    }
    return out;
  },

  /**
   * The latest cohort roll-up, only once the cycles it compares (the baseline and the latest follow-up) are
   * both closed: nothing from a cycle still collecting responses is shown (`withheld` says so).
   */
  async publishedCohort(db: Db, programmeId: string) {
    const cycles = await db
      .selectFrom('cycles')
      .select(['kind', 'status', 'closes_at'])
      .where('programme_id', '=', programmeId)
      .orderBy(sql`kind = 'baseline'`, 'desc')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const compared = [
      cycles.find((c) => c.kind === 'baseline'),
      cycles.filter((c) => c.kind === 'follow_up').at(-1),
    ];
    const open = compared.filter((c) => c && (c.status === 'draft' || c.status === 'open'));
    if (open.length > 0) {
      const closesAt = new Date(Math.max(...open.map((c) => new Date(c!.closes_at).getTime())));
      return { cohort: undefined, withheld: { closesAt } };
    }
    return { cohort: await resultRepository.latestCohort(db, programmeId), withheld: null };
  },
};

/** What staff may see of a subject's report (`resultRepository.staffPublication`). */
export type StaffPublication =
  /** The cycle is still open and nothing was released: no numbers, only participation. */
  | { state: 'withheld'; closesAt: Date; latestVersion: number | null }
  /** No profile was computed and nothing was published. */
  | { state: 'none' }
  /** The latest version does not cover every stored response yet and nothing was published. */
  | { state: 'updating' }
  /**
   * `version` is shown; `updating` when later responses are still being aggregated, `heldBack` (the groups
   * that changed too little) when a newer version is kept back by the re-release rule.
   */
  | {
      state: 'shown';
      version: number;
      latestVersion: number;
      updating: boolean;
      heldBack: RereleaseProblem[] | null;
    };

/** The facts the publication rule decides from, in one query without stored JSON. */
export interface PublicationFacts {
  published_version: number | null;
  released_version: number | null;
  cycle_status: 'draft' | 'open' | 'closed' | 'released';
  closes_at: Date;
  /** Responses rows of the subject. */
  responses: number;
  latest: { version: number; responses: number } | null;
}

/**
 * The version staff may see of each subject (`staffPublication` from facts read by the caller, so no query
 * unless a version is published now); subjects with nothing shown are left out.
 */
async function shownVersions(
  db: Db,
  subjects: { id: string; facts: PublicationFacts }[],
): Promise<Map<string, number>> {
  const shown = new Map<string, number>();
  for (const subject of subjects) {
    if (shown.has(subject.id)) continue;
    const publication = await resultRepository.staffPublication(
      db,
      subject.id,
      publicationFactsFromJson(subject.facts),
    );
    if (publication.state === 'shown') shown.set(subject.id, publication.version);
  }
  return shown;
}

/** Stored profile rows by `subject:version`, with the subject's release, in one statement. */
async function snapshotsOf(db: Db, versions: Map<string, number>) {
  const out = new Map<string, { released_version: number | null; data: unknown }>();
  if (versions.size === 0) return out;
  const rows = await sql<{
    subject_id: string;
    version: number;
    released_version: number | null;
    data: unknown;
  }>`
    select ps.subject_id, ps.version, s.released_version, ps.data
    from profile_snapshots ps
    join unnest(${[...versions.keys()]}::uuid[], ${[...versions.values()]}::int[]) as w(subject_id, version)
      on ps.subject_id = w.subject_id and ps.version = w.version
    join subjects s on s.id = ps.subject_id`.execute(db);
  for (const row of rows.rows) out.set(`${row.subject_id}:${row.version}`, row);
  return out;
}

/**
 * A subject's publication facts as one JSON value, for a subject row aliased `s` of a cycle aliased `c`:
 * used by `publicationFacts` and by the report's facts query, so a report needs no query of its own for it.
 */
export function publicationFactsJson(s: string, c: string) {
  const subject = sql.ref(s);
  const cycle = sql.ref(c);
  return sql<PublicationFacts>`json_build_object(
      'published_version', ${subject}.published_version, 'released_version', ${subject}.released_version,
      'cycle_status', ${cycle}.status, 'closes_at', ${cycle}.closes_at,
      'responses', (select count(*)::int from responses where subject_id = ${subject}.id),
      'latest', (select json_build_object('version', ps.version, 'responses',
          (select coalesce(sum(value::int), 0) from jsonb_each_text(ps.group_counts)))
        from profile_snapshots ps where ps.subject_id = ${subject}.id order by ps.version desc limit 1))`;
}

/** Facts read as JSON carry `closes_at` as text; the decision reads it as a date. */
export function publicationFactsFromJson(facts: PublicationFacts): PublicationFacts {
  return { ...facts, closes_at: new Date(facts.closes_at) };
}

async function publicationFacts(db: Db, subjectId: string): Promise<PublicationFacts | undefined> {
  const result = await sql<{ facts: PublicationFacts }>`${PREPARED}
    select ${publicationFactsJson('s', 'c')} as facts
    from subjects s join cycles c on c.id = s.cycle_id
    where s.id = ${subjectId}`.execute(db);
  const row = result.rows[0];
  return row && publicationFactsFromJson(row.facts);
}

type PublicationDecision =
  | Exclude<StaffPublication, { state: 'shown' }>
  | Extract<StaffPublication, { state: 'shown' }>
  /** `to` may be shown if the re-release rule holds from `from` (always, when nothing was published). */
  | { state: 'candidate'; from: number | null; to: number };

/** The publication rule over a subject's facts (pure; see `staffPublication`). */
export function decidePublication(
  facts: PublicationFacts,
  options: { cycleOpenWithholds: boolean },
): PublicationDecision {
  const published = facts.published_version ?? facts.released_version;
  const latest = facts.latest;
  if (published === null && options.cycleOpenWithholds && ['draft', 'open'].includes(facts.cycle_status))
    return { state: 'withheld', closesAt: new Date(facts.closes_at), latestVersion: latest?.version ?? null };
  const complete = latest !== null && latest.responses === facts.responses;
  if (published === null) {
    if (!latest) return { state: 'none' };
    return complete ? { state: 'candidate', from: null, to: latest.version } : { state: 'updating' };
  }
  if (!latest || latest.version <= published) return shownState(facts, published);
  if (!complete) return { ...shownState(facts, published), updating: true };
  return { state: 'candidate', from: published, to: latest.version };
}

function shownState(facts: PublicationFacts, version: number): Extract<StaffPublication, { state: 'shown' }> {
  return {
    state: 'shown',
    version,
    latestVersion: Math.max(facts.latest?.version ?? version, version),
    updating: false,
    heldBack: null,
  };
}

function held(facts: PublicationFacts, version: number, problems: RereleaseProblem[]): StaffPublication {
  return { ...shownState(facts, version), heldBack: problems };
}

function rulesOf(data: unknown): AnonymityRules | null {
  const anonymity = (data as { anonymity?: AnonymityRules } | null)?.anonymity;
  return anonymity?.k ? anonymity : null;
}

function stricterRules(a: AnonymityRules | null, b: AnonymityRules | null): AnonymityRules {
  const first = a ?? b;
  if (!first)
    throw new ConflictError('a stored profile has no anonymity rules; recompute it before releasing');
  const second = b ?? first;
  return {
    k: {
      peer: Math.max(first.k.peer, second.k.peer),
      direct_report: Math.max(first.k.direct_report, second.k.direct_report),
      other: Math.max(first.k.other, second.k.other),
      all_others: Math.max(first.k.all_others, second.k.all_others),
    },
    distributionMinN: Math.max(first.distributionMinN, second.distributionMinN),
  };
}

/** A response read from a bulk file, ready to store. */
export interface ImportedResponse {
  subjectId: string;
  relationship: Relationship;
  ratings: { itemId: string; competencyId: string; value: number | null }[];
  comments: { questionId: string; body: string }[];
}

/**
 * Bulk-loaded responses (an import from another survey tool): stored like submitted ones, with fresh random
 * ids and nothing that points at a rater. Belongs beside `responseRepository`; kept here until that file's
 * owner takes it over.
 */
export const responseImportRepository = {
  /** The cycle with its programme, organisation and pinned instrument. */
  async cycleForImport(db: Db, cycleId: string) {
    return db
      .selectFrom('cycles')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .select([
        'cycles.id',
        'cycles.status',
        'cycles.instrument_id',
        'cycles.instrument_version',
        'programmes.id as programme_id',
        'programmes.organisation_id',
      ])
      .where('cycles.id', '=', cycleId)
      .executeTakeFirst();
  },

  /** Inserts responses and queues the given jobs; call inside the caller's transaction for all-or-nothing. */
  async insert(
    db: Db,
    responses: ImportedResponse[],
    jobs: JobToEnqueue[],
    cycleId: string,
  ): Promise<string[]> {
    const ids: string[] = [];
    const ratingRows: {
      response_id: string;
      item_id: string;
      competency_id: string;
      value: number | null;
    }[] = [];
    const commentRows: { response_id: string; question_id: string; body: string }[] = [];
    const responseRows = responses.map((r) => {
      const id = randomUUID();
      ids.push(id);
      for (const rating of r.ratings) {
        ratingRows.push({
          response_id: id,
          item_id: rating.itemId,
          competency_id: rating.competencyId,
          value: rating.value,
        });
      }
      for (const comment of r.comments) {
        commentRows.push({ response_id: id, question_id: comment.questionId, body: comment.body });
      }
      return { id, cycle_id: cycleId, subject_id: r.subjectId, relationship: r.relationship };
    });
    // Postgres takes at most 65535 parameters per statement.
    for (const chunk of chunks(responseRows, 5_000)) await db.insertInto('responses').values(chunk).execute();
    for (const chunk of chunks(ratingRows, 10_000))
      await db.insertInto('response_ratings').values(chunk).execute();
    for (const chunk of chunks(commentRows, 10_000))
      await db.insertInto('response_comments').values(chunk).execute();
    await outboxRepository.queueJobs(db, jobs);
    return ids;
  },
};

function chunks<T>(rows: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/**
 * Invitations whose email bounced. Belongs beside `rosterRepository`; kept here until that file's owner
 * takes it over.
 */
export const bounceRepository = {
  /**
   * Marks as bounced the invitations whose links the refused email carried, if still waiting for an answer.
   * Only those: the same person's other invitations went out in other emails, and a sign-in or report email
   * carries none. Returns how many changed.
   */
  async markBounced(db: Db, input: { invitationIds: readonly string[]; reason: string }): Promise<number> {
    if (input.invitationIds.length === 0) return 0;
    const result = await db
      .updateTable('invitations')
      .set({ status: 'bounced', bounce_reason: input.reason.slice(0, 120) })
      .where('status', 'in', ['pending', 'sent'])
      .where('id', 'in', [...input.invitationIds])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  },
};
