import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { ConflictError } from '@panorama/domain';
import { PREPARED } from '../connection.ts';
import type { Database, Relationship } from '../schema.ts';

type Db = Kysely<Database>;

export interface NewResponse {
  cycleId: string;
  subjectId: string;
  relationship: Relationship;
  ratings: Record<string, number | null>;
  comments: Record<string, string>;
}

export interface JobToEnqueue {
  queue: string;
  name: string;
  jobId: string;
  data: Record<string, unknown>;
}

/** Thrown when the token was already spent: a double click, a second tab, a replayed post. */
export class AlreadySubmittedError extends ConflictError {
  constructor() {
    super('This survey has already been submitted. Thank you.');
  }
}

export const responseRepository = {
  /**
   * Stores a response atomically with the spent-token record (so a token yields exactly one response) and
   * the jobs it makes necessary (so a Redis outage delays aggregation but never loses it), and deletes the
   * link's draft. The response row holds a fresh random id and nothing that points at the invitation or the
   * rater. One statement (data-modifying CTEs, all gated on the token not being spent yet), so one round trip
   * and atomic on its own. Returns the response id and the job outbox rows it wrote, for the caller to push.
   */
  async submit(
    db: Db,
    input: {
      spentMac: Buffer;
      draftMac?: Buffer;
      response: NewResponse;
      itemCompetency: Map<string, string>;
      jobs: JobToEnqueue[];
    },
  ): Promise<{ id: string; jobs: (JobToEnqueue & { outboxId: string })[] }> {
    const id = randomUUID();
    const r = input.response;
    const ratings = Object.entries(r.ratings);
    const comments = Object.entries(r.comments);
    const { rows } = await sql<{
      spent: boolean;
      jobs: { id: string; queue: string; jobId: string }[];
    }>`${PREPARED}
      with spent as (
        insert into spent_tokens (token_mac) values (${input.spentMac})
        on conflict do nothing returning token_mac
      ), response as (
        insert into responses (id, cycle_id, subject_id, relationship)
        select ${id}::uuid, ${r.cycleId}::uuid, ${r.subjectId}::uuid, ${r.relationship} from spent
        returning id
      ), ratings as (
        insert into response_ratings (response_id, item_id, competency_id, value)
        select response.id, u.item_id, u.competency_id, u.value
        from response, unnest(${ratings.map(([itemId]) => itemId)}::text[],
                              ${ratings.map(([itemId]) => input.itemCompetency.get(itemId) ?? '')}::text[],
                              ${ratings.map(([, value]) => value)}::smallint[])
                       as u(item_id, competency_id, value)
      ), comments as (
        insert into response_comments (response_id, question_id, body)
        select response.id, u.question_id, u.body
        from response, unnest(${comments.map(([questionId]) => questionId)}::text[],
                              ${comments.map(([, body]) => body)}::text[]) as u(question_id, body)
      ), jobs as (
        insert into job_outbox (queue, name, job_id, data)
        select u.queue, u.name, u.job_id, u.data
        from spent, unnest(${input.jobs.map((j) => j.queue)}::text[], ${input.jobs.map((j) => j.name)}::text[],
                           ${input.jobs.map((j) => j.jobId)}::text[],
                           ${input.jobs.map((j) => JSON.stringify(j.data))}::jsonb[])
                    as u(queue, name, job_id, data)
        returning id, queue, job_id
      ), draft as (
        delete from response_drafts
        where draft_mac = ${input.draftMac ?? null}::bytea and exists (select 1 from spent)
      )
      select exists (select 1 from spent) as spent,
             coalesce((select json_agg(json_build_object('id', id, 'queue', queue, 'jobId', job_id)) from jobs),
                      '[]') as jobs`.execute(db);
    const row = rows[0]!;
    if (!row.spent) throw new AlreadySubmittedError();
    // Matched by queue and job id: two entries with the same pair are the same job, so either row serves.
    const jobs = input.jobs.map((job) => {
      const stored = row.jobs.find((j) => j.queue === job.queue && j.jobId === job.jobId);
      if (!stored) throw new Error(`the job outbox row of ${job.queue}/${job.jobId} was not written`);
      return { ...job, outboxId: stored.id };
    });
    return { id, jobs };
  },

  /**
   * Records, in a transaction of its own after the response committed, that an invitation was used. A later
   * batch (`flushCompletions`) moves these into the invitations, so neither commit order nor transaction ids
   * pair an invitation with its response.
   */
  async queueCompletion(db: Db, invitationId: string) {
    await db
      .insertInto('pending_completions')
      .values({ invitation_id: invitationId })
      .onConflict((oc) => oc.doNothing())
      .execute();
  },

  /**
   * Marks invitations completed (day only). The update runs in id order, and ids are random, so the
   * physical order of the updated rows says nothing about the order in which responses arrived.
   */
  async markCompleted(db: Db, invitationIds: string[]): Promise<number> {
    if (invitationIds.length === 0) return 0;
    const result = await db
      .updateTable('invitations')
      .set({ status: 'completed', completed_on: sql`current_date` })
      .where('id', 'in', [...invitationIds].sort())
      // 'bounced' too: a link whose email bounced still works (it may have been forwarded).
      .where('status', 'in', ['pending', 'sent', 'bounced'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  /** Moves the Postgres fallback's pending completions (used while Redis was down) into the invitations. */
  async flushCompletions(db: Db): Promise<number> {
    const flush = async (trx: Db) => {
      const done = await trx.deleteFrom('pending_completions').returning('invitation_id').execute();
      return responseRepository.markCompleted(
        trx,
        done.map((d) => d.invitation_id),
      );
    };
    return db.isTransaction ? flush(db) : db.transaction().execute(flush);
  },

  /**
   * Marks the invitations waiting in a completion set (see @panorama/jobs `CompletionSet`) as completed,
   * once at least `minBatch` have gathered (any number with `minBatch` 0), then removes them from the set.
   * A crash between the two steps only marks them again, which changes nothing.
   */
  async flushCompletionSet(
    db: Db,
    set: { members(): Promise<string[]>; remove(ids: string[]): Promise<void> },
    minBatch: number,
  ): Promise<number> {
    const ids = await set.members();
    if (ids.length === 0 || ids.length < minBatch) return 0;
    const marked = await responseRepository.markCompleted(db, ids);
    await set.remove(ids);
    return marked;
  },

  async isSpent(db: Db, spentMac: Buffer) {
    const row = await db
      .selectFrom('spent_tokens')
      .select('spent_on')
      .where('token_mac', '=', spentMac)
      .executeTakeFirst();
    return row !== undefined;
  },

  async saveDraft(db: Db, draftMac: Buffer, ciphertext: Buffer) {
    await db
      .insertInto('response_drafts')
      .values({ draft_mac: draftMac, ciphertext })
      .onConflict((oc) => oc.column('draft_mac').doUpdateSet({ ciphertext, updated_on: sql`current_date` }))
      .execute();
  },

  async loadDraft(db: Db, draftMac: Buffer) {
    const row = await db
      .selectFrom('response_drafts')
      .select('ciphertext')
      .where('draft_mac', '=', draftMac)
      .executeTakeFirst();
    return row?.ciphertext;
  },

  /** A subject's responses in the shape scoring takes; rows are read in a random-id order, never by time. */
  async forSubject(db: Db, subjectId: string) {
    const responses = await db
      .selectFrom('responses')
      .select(['id', 'relationship'])
      .where('subject_id', '=', subjectId)
      .orderBy('id')
      .execute();
    if (responses.length === 0) return [];
    const ids = responses.map((r) => r.id);
    const [ratings, comments] = await Promise.all([
      db
        .selectFrom('response_ratings')
        .select(['response_id', 'item_id', 'value'])
        .where('response_id', 'in', ids)
        .execute(),
      db
        .selectFrom('response_comments')
        .select(['response_id', 'question_id', 'body'])
        .where('response_id', 'in', ids)
        .execute(),
    ]);
    const byId = new Map(
      responses.map((r) => [
        r.id,
        {
          id: r.id,
          relationship: r.relationship,
          ratings: {} as Record<string, number | null>,
          comments: {} as Record<string, string>,
        },
      ]),
    );
    for (const row of ratings) byId.get(row.response_id)!.ratings[row.item_id] = row.value;
    for (const row of comments) byId.get(row.response_id)!.comments[row.question_id] = row.body;
    return [...byId.values()];
  },
};
