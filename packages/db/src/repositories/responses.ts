import { randomInt, randomUUID } from 'node:crypto';
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

/** Where used invitations wait while Redis is up (see @panorama/jobs `CompletionSet`). */
export interface WaitingSet {
  members(): Promise<string[]>;
  remove(ids: string[]): Promise<void>;
}

/** MIN_COMPLETION_BATCH of @panorama/jobs (which this package does not depend on); a test keeps them equal. */
export const DEFAULT_MIN_BATCH = 5;

/**
 * Commits a transaction that writes nothing but takes a transaction id, so the next write's xmin is not the
 * one right after the previous write's (a response's). Outside a transaction only: inside one it would share
 * the caller's id.
 */
async function spendTransactionId(db: Db): Promise<void> {
  if (!db.isTransaction) await sql`select pg_current_xact_id()`.execute(db);
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function waitingCompletions(db: Db, set: WaitingSet | undefined) {
  const inPostgres = (await db.selectFrom('pending_completions').select('invitation_id').execute()).map(
    (r) => r.invitation_id,
  );
  const inSet = set ? await set.members() : [];
  return { all: [...new Set([...inPostgres, ...inSet])], inSet: new Set(inSet) };
}

/** Marks `ids` completed in one transaction between two spent ids, then takes them out of the set. */
async function markWaiting(
  db: Db,
  ids: string[],
  set: WaitingSet | undefined,
  inSet: ReadonlySet<string>,
): Promise<number> {
  const mark = async (trx: Db) => {
    await trx.deleteFrom('pending_completions').where('invitation_id', 'in', ids).execute();
    return responseRepository.markCompleted(trx, ids);
  };
  await spendTransactionId(db);
  const marked = db.isTransaction ? await mark(db) : await db.transaction().execute(mark);
  await spendTransactionId(db);
  const fromSet = ids.filter((id) => inSet.has(id));
  if (set && fromSet.length > 0) await set.remove(fromSet);
  return marked;
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
   * Writes completions recorded while Redis was unreachable into the Postgres fallback, as one batch: one
   * statement (so one transaction id for all of them) in a random order, after a transaction id spent on
   * nothing, so the batch's xmin is never the one right after a response's. Callers gather at least
   * `MIN_COMPLETION_BATCH` first (see the survey service), so a batch names a group, never one rater.
   */
  async queueCompletions(db: Db, invitationIds: readonly string[]): Promise<void> {
    if (invitationIds.length === 0) return;
    await spendTransactionId(db);
    await db
      .insertInto('pending_completions')
      .values(shuffled(invitationIds).map((id) => ({ invitation_id: id })))
      .onConflict((oc) => oc.doNothing())
      .execute();
    await spendTransactionId(db);
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

  /**
   * Marks the waiting completions, from the Postgres fallback and (when given) the Redis completion set (see
   * @panorama/jobs `CompletionSet`), as completed in one batch, but only once at least `minBatch` wait in all
   * (any number with `minBatch` 0): a smaller batch could single out the rater whose response came just
   * before it. The update is a transaction of its own between two spent transaction ids, so no response's
   * xmin is next to it. A crash between the steps only marks them again, which changes nothing.
   */
  async flushCompletions(
    db: Db,
    options: { set?: WaitingSet | undefined; minBatch?: number } = {},
  ): Promise<number> {
    const waiting = await waitingCompletions(db, options.set);
    if (waiting.all.length === 0 || waiting.all.length < (options.minBatch ?? DEFAULT_MIN_BATCH)) return 0;
    return markWaiting(db, waiting.all, options.set, waiting.inSet);
  },

  /** Flushes the Redis completion set together with the Postgres fallback (see `flushCompletions`). */
  async flushCompletionSet(db: Db, set: WaitingSet, minBatch: number): Promise<number> {
    return responseRepository.flushCompletions(db, { set, minBatch });
  },

  /**
   * Completions still waiting for a cycle that is closed: no response can join them any more, so a full
   * batch may never gather and those raters would read "Invited" for ever. Per closed cycle, all of them are
   * marked once at least `k` (the anonymity threshold) wait; with fewer, only those whose group has a single
   * invitation (the self-assessment, a sole manager): such a response already names its rater by its
   * relationship, so marking it pairs nothing new. The others keep waiting for a batch with other cycles.
   */
  async flushClosedCycles(db: Db, options: { set?: WaitingSet | undefined; k: number }): Promise<number> {
    const waiting = await waitingCompletions(db, options.set);
    if (waiting.all.length === 0) return 0;
    const rows = await db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .select([
        'invitations.id',
        'subjects.cycle_id',
        (eb) =>
          eb
            .selectFrom('invitations as same')
            .select(eb.fn.countAll<number>().as('n'))
            .whereRef('same.subject_id', '=', 'invitations.subject_id')
            .whereRef('same.relationship', '=', 'invitations.relationship')
            .where('same.status', 'not in', ['cancelled', 'nominated'])
            .as('group_size'),
      ])
      .where('invitations.id', 'in', waiting.all)
      .where('cycles.status', 'in', ['closed', 'released'])
      .execute();
    const byCycle = new Map<string, typeof rows>();
    for (const row of rows) byCycle.set(row.cycle_id, [...(byCycle.get(row.cycle_id) ?? []), row]);
    const chosen: string[] = [];
    for (const list of byCycle.values()) {
      const alone = list.filter((r) => Number(r.group_size) <= 1);
      chosen.push(...(list.length >= options.k ? list : alone).map((r) => r.id));
    }
    if (chosen.length === 0) return 0;
    return markWaiting(db, chosen, options.set, waiting.inSet);
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
