import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { GroupCounts } from '@panorama/domain';
import type { Database, Relationship } from '../schema.ts';
import type { JobToEnqueue } from './responses.ts';
import { outboxRepository } from './outboxes.ts';

type Db = Kysely<Database>;

/** A response as scoring reads it. */
export interface SourceResponse {
  id: string;
  relationship: Relationship;
  ratings: Record<string, number | null>;
  comments: Record<string, string>;
}

/** Everything a profile is computed from, for one subject. */
export interface ProfileSources {
  subjectId: string;
  /** Same value as `resultRepository.profileSourceDigest`: SHA-256 over the responses, sorted by id. */
  digest: string;
  responses: SourceResponse[];
}

/** A profile version to append. */
export interface NewProfileVersion {
  subjectId: string;
  version: number;
  sourceDigest: string;
  groupCounts: GroupCounts;
  /** The profile as JSON text (serialised once by the caller). */
  data: string;
}

// SHA-256 of the empty string: the digest of a subject without responses (string_agg over no rows).
const EMPTY_DIGEST = createHash('sha256').update('').digest('hex');

/**
 * The reads and writes of profile aggregation for many subjects at a time: one query for the sources of a
 * set of subjects, one for their latest versions, one multi-row insert. Callers hold the subjects' profile
 * locks (`withProfileLocks`) around read and write, like `resultRepository.withProfileLock` for one.
 */
export const profileSourceRepository = {
  /**
   * Runs `fn` in a transaction holding the profile lock of every subject (taken in id order, so two
   * callers with overlapping sets never deadlock). Same lock keys as `resultRepository.withProfileLock`.
   */
  async withProfileLocks<T>(db: Db, subjectIds: readonly string[], fn: (trx: Db) => Promise<T>): Promise<T> {
    const keys = [...new Set(subjectIds)].sort().map((id) => `profile:${id}`);
    const run = async (trx: Db) => {
      if (keys.length > 0) {
        await sql`select pg_advisory_xact_lock(hashtext(k)) from unnest(${keys}::text[]) with ordinality as t(k, n) order by n`.execute(
          trx,
        );
      }
      return fn(trx);
    };
    return db.isTransaction ? run(db) : db.transaction().execute(run);
  },

  /** Subject ids of a cycle, in id order. */
  async subjectIdsOfCycle(db: Db, cycleId: string): Promise<string[]> {
    const rows = await db
      .selectFrom('subjects')
      .select('id')
      .where('cycle_id', '=', cycleId)
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  },

  /** The cycle with its programme and pinned instrument. */
  async cycleContext(db: Db, cycleId: string) {
    return db
      .selectFrom('cycles')
      .select(['id as cycle_id', 'kind', 'programme_id', 'instrument_id', 'instrument_version'])
      .where('id', '=', cycleId)
      .executeTakeFirst();
  },

  /**
   * The responses of each subject (in id order, the order scoring sorts them in) with the source digest,
   * in one query. The digest is computed by the same SQL as `resultRepository.profileSourceDigest`, so a
   * profile stored from here is recognised as up to date by the single-subject path, and the other way
   * round. Subjects without responses are included, with none.
   */
  async sourcesOf(db: Db, subjectIds: readonly string[]): Promise<ProfileSources[]> {
    if (subjectIds.length === 0) return [];
    const result = await sql<{
      subject_id: string;
      digest: string;
      responses: {
        id: string;
        relationship: Relationship;
        ratings: Record<string, number | null> | null;
        comments: Record<string, string> | null;
      }[];
    }>`
      select r.subject_id,
             encode(sha256(convert_to(string_agg(
               r.id::text || ':' || r.relationship || ':' || coalesce(rt.digest, '') || ':' || coalesce(cm.digest, ''),
               '|' order by r.id), 'UTF8')), 'hex') as digest,
             json_agg(json_build_object('id', r.id, 'relationship', r.relationship, 'ratings', rt.ratings,
                                        'comments', cm.comments) order by r.id) as responses
      from responses r
      left join lateral (
        select string_agg(item_id || '=' || coalesce(value::text, 'na'), ',' order by item_id) as digest,
               json_object_agg(item_id, value) as ratings
        from response_ratings where response_id = r.id) rt on true
      left join lateral (
        select string_agg(question_id || '=' || md5(body), ',' order by question_id) as digest,
               json_object_agg(question_id, body) as comments
        from response_comments where response_id = r.id) cm on true
      where r.subject_id = any(${[...subjectIds]}::uuid[])
      group by r.subject_id`.execute(db);
    const bySubject = new Map(result.rows.map((row) => [row.subject_id, row]));
    return subjectIds.map((subjectId) => {
      const row = bySubject.get(subjectId);
      if (!row) return { subjectId, digest: EMPTY_DIGEST, responses: [] };
      return {
        subjectId,
        digest: row.digest,
        responses: row.responses.map((r) => ({
          id: r.id,
          relationship: r.relationship,
          ratings: r.ratings ?? {},
          comments: r.comments ?? {},
        })),
      };
    });
  },

  /** Latest version and source digest per subject (absent: no profile yet). */
  async latestDigests(db: Db, subjectIds: readonly string[]) {
    if (subjectIds.length === 0) return new Map<string, { version: number; source_digest: string }>();
    const rows = await db
      .selectFrom('profile_snapshots')
      .select(['subject_id', 'version', 'source_digest'])
      .distinctOn('subject_id')
      .where('subject_id', 'in', [...subjectIds])
      .orderBy('subject_id')
      .orderBy('version', 'desc')
      .execute();
    return new Map(rows.map((r) => [r.subject_id, { version: r.version, source_digest: r.source_digest }]));
  },

  /** Appends profile versions in one statement, with the jobs they make necessary, in the caller's transaction. */
  async insertVersions(db: Db, versions: readonly NewProfileVersion[], jobs: JobToEnqueue[] = []) {
    if (versions.length > 0) {
      await db
        .insertInto('profile_snapshots')
        .values(
          versions.map((v) => ({
            subject_id: v.subjectId,
            version: v.version,
            source_digest: v.sourceDigest,
            group_counts: JSON.stringify(v.groupCounts),
            data: v.data,
          })),
        )
        .execute();
    }
    await outboxRepository.queueJobs(db, jobs);
  },

  /** Follow-up subjects paired with any of the given subjects (either side) in their programme. */
  async followUpsOf(db: Db, subjectIds: readonly string[]): Promise<string[]> {
    if (subjectIds.length === 0) return [];
    const result = await sql<{ id: string }>`
      select distinct f.id
      from subjects s
      join cycles c on c.id = s.cycle_id
      join cycles bc on bc.programme_id = c.programme_id and bc.kind = 'baseline'
      join subjects b on b.cycle_id = bc.id and b.leader_id = s.leader_id
      join cycles fc on fc.programme_id = c.programme_id and fc.kind = 'follow_up'
      join subjects f on f.cycle_id = fc.id and f.leader_id = s.leader_id
      where s.id = any(${[...subjectIds]}::uuid[]) and (b.id = s.id or f.id = s.id)
      order by f.id`.execute(db);
    return result.rows.map((r) => r.id);
  },
};
