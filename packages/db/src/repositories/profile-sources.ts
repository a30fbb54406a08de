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

/** One response of `sourcesOf`, with its parts of the digest string. */
interface SourceRow {
  subject_id: string;
  id: string;
  relationship: Relationship;
  /** `item=value,...` in item id order (`na` for N/A); null without ratings. */
  ratings: string | null;
  /** Number of ratings. */
  n: number | null;
  comments_digest: string | null;
  comments: Record<string, string> | null;
}

/**
 * The ratings of a digest string `item=value,...` (values are whole numbers or `na`), or null when the string
 * cannot be read back for certain: it must split into exactly `count` parts with one '=' each, which fails
 * whenever an item id holds ',' or '=' (instrument item ids never do), and no id may be `__proto__`.
 */
export function parseRatings(
  text: string | null,
  count: number | null,
): Record<string, number | null> | null {
  const ratings: Record<string, number | null> = {};
  if (text === null) return count ? null : ratings;
  const parts = text.split(',');
  if (parts.length !== count) return null;
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at < 0 || part.indexOf('=', at + 1) >= 0) return null;
    const itemId = part.slice(0, at);
    // Plain assignment would set the prototype instead of a key.
    if (itemId === '__proto__') return null;
    const value = part.slice(at + 1);
    ratings[itemId] = value === 'na' ? null : Number(value);
  }
  return ratings;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

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
   * in one query. The digest is the one `resultRepository.profileSourceDigest` computes in SQL, so a
   * profile stored from here is recognised as up to date by the single-subject path, and the other way
   * round: Postgres builds each response's part of the digest string (ratings and comments in its own
   * collation order, comment bodies by their MD5) and this process joins them and takes the SHA-256, which
   * is cheaper than aggregating per subject and building JSON in SQL. The ratings are read back from the
   * same string (`item=value,...`, `na` for N/A). Subjects without responses are included, with none.
   */
  async sourcesOf(db: Db, subjectIds: readonly string[]): Promise<ProfileSources[]> {
    if (subjectIds.length === 0) return [];
    const result = await sql<SourceRow>`
      select r.subject_id, r.id, r.relationship, rt.digest as ratings, rt.n, cm.digest as comments_digest,
             cm.comments
      from responses r
      left join lateral (
        select string_agg(item_id || '=' || coalesce(value::text, 'na'), ',' order by item_id) as digest,
               count(*)::int as n
        from response_ratings where response_id = r.id) rt on true
      left join lateral (
        select string_agg(question_id || '=' || md5(body), ',' order by question_id) as digest,
               json_object_agg(question_id, body) as comments
        from response_comments where response_id = r.id) cm on true
      where r.subject_id = any(${[...subjectIds]}::uuid[])`.execute(db);
    // Ordered here rather than in SQL, where sorting the wide rows would spill to disk. Text order of
    // (lowercase) uuids is Postgres' uuid order, the order of the digest.
    const bySubject = new Map<string, SourceRow[]>();
    for (const row of result.rows) {
      const rows = bySubject.get(row.subject_id);
      if (rows) rows.push(row);
      else bySubject.set(row.subject_id, [row]);
    }
    for (const rows of bySubject.values()) rows.sort(byId);
    const ratingsOf = new Map<string, Record<string, number | null>>();
    const unreadable: string[] = [];
    for (const row of result.rows) {
      const ratings = parseRatings(row.ratings, row.n);
      if (ratings) ratingsOf.set(row.id, ratings);
      else unreadable.push(row.id);
    }
    // Ratings whose string cannot be read back for certain (an item id with ',' or '=') are read as rows.
    if (unreadable.length > 0) {
      const rows = await db
        .selectFrom('response_ratings')
        .select(['response_id', 'item_id', 'value'])
        .where('response_id', 'in', unreadable)
        .execute();
      for (const row of rows) {
        const ratings = ratingsOf.get(row.response_id) ?? {};
        Object.defineProperty(ratings, row.item_id, {
          value: row.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        ratingsOf.set(row.response_id, ratings);
      }
    }
    return subjectIds.map((subjectId) => {
      const rows = bySubject.get(subjectId);
      if (!rows) return { subjectId, digest: EMPTY_DIGEST, responses: [] };
      const digest = createHash('sha256');
      rows.forEach((row, i) => {
        digest.update(
          `${i > 0 ? '|' : ''}${row.id}:${row.relationship}:${row.ratings ?? ''}:${row.comments_digest ?? ''}`,
        );
      });
      return {
        subjectId,
        digest: digest.digest('hex'),
        responses: rows.map((row) => ({
          id: row.id,
          relationship: row.relationship,
          ratings: ratingsOf.get(row.id) ?? {},
          comments: row.comments ?? {},
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
