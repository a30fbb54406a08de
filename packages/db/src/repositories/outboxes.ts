import { sql, type Kysely } from 'kysely';
import { PREPARED } from '../connection.ts';
import type { Database } from '../schema.ts';
import type { JobToEnqueue } from './responses.ts';

type Db = Kysely<Database>;

export const outboxRepository = {
  /**
   * Queues an email in the caller's transaction; the payload arrives sealed (see domain `sealOutbox`). An
   * invitation or reminder names the invitations whose links it carries, so that a permanent refusal bounces
   * those and no others.
   */
  async queueEmail(
    db: Db,
    input: {
      organisationId: string | null;
      template: string;
      toAddress: string;
      payload: Buffer;
      cycleId?: string | null;
      invitationIds?: readonly string[];
    },
  ): Promise<string> {
    const row = await db
      .insertInto('email_outbox')
      .values({
        organisation_id: input.organisationId,
        template: input.template,
        to_address: input.toAddress,
        payload: input.payload,
        cycle_id: input.cycleId ?? null,
        invitation_ids: [...(input.invitationIds ?? [])],
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },

  async findEmail(db: Db, id: string) {
    return db.selectFrom('email_outbox').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /**
   * Marks an email sent and erases its payload and the invitations it carried; returns false when it was
   * already sent (a duplicate job).
   */
  async markEmailSent(db: Db, id: string): Promise<boolean> {
    const result = await db
      .updateTable('email_outbox')
      .set({
        status: 'sent',
        sent_at: new Date(),
        payload: null,
        last_error: null,
        retry_at: null,
        invitation_ids: [],
      })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  /**
   * Counts a failed attempt. `code` is a short error code (never the server's text, which quotes the
   * address). `outcome` says what happens next: 'retry' leaves the email to the job's own retries,
   * 'later' keeps it queued for the sweeper to try again at `retryAt` (a new spell), 'failed' ends it and
   * erases the payload (a permanent refusal, or an email that cannot be opened).
   */
  async recordEmailAttempt(
    db: Db,
    id: string,
    code: string,
    outcome: { kind: 'retry' } | { kind: 'later'; retryAt: Date } | { kind: 'failed' },
  ) {
    await db
      .updateTable('email_outbox')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_error: code.slice(0, 120),
        ...(outcome.kind === 'failed' ? { status: 'failed' as const, payload: null, retry_at: null } : {}),
        ...(outcome.kind === 'later' ? { rounds: eb('rounds', '+', 1), retry_at: outcome.retryAt } : {}),
      }))
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .execute();
  },

  /**
   * Queued emails whose delivery job should exist now, with the spell it belongs to: those never delayed
   * and older than `olderThanMs` (their job may have been lost with Redis), and delayed ones whose
   * `retry_at` has come. The sweeper enqueues them under a job id per spell, so a spell's job is added once.
   */
  async dueQueuedEmails(db: Db, olderThanMs: number, limit = 500) {
    return db
      .selectFrom('email_outbox')
      .select(['id', 'rounds'])
      .where('status', '=', 'queued')
      .where((eb) =>
        eb.or([
          eb.and([
            eb('retry_at', 'is', null),
            eb('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`),
          ]),
          eb('retry_at', '<=', sql<Date>`now()`),
        ]),
      )
      .orderBy('created_at')
      .limit(limit)
      .execute();
  },

  /**
   * A cycle's emails still waiting after at least one failed attempt (the mail server refused them for now
   * or could not be reached), with the most recent error code; for the admin's cycle page.
   */
  async delayedEmailsOfCycle(db: Db, cycleId: string) {
    const row = await db
      .selectFrom('email_outbox')
      .select((eb) => [
        eb.fn.countAll<string>().as('count'),
        sql<string | null>`(array_agg(last_error order by coalesce(retry_at, created_at) desc))[1]`.as(
          'last_error',
        ),
      ])
      .where('cycle_id', '=', cycleId)
      .where('status', '=', 'queued')
      .where('attempts', '>', 0)
      .executeTakeFirstOrThrow();
    return { count: Number(row.count), lastError: row.last_error };
  },

  /** A cycle's emails refused for good (bounced), newest first; for the admin's cycle page. */
  async failedEmailsOfCycle(db: Db, cycleId: string) {
    return db
      .selectFrom('email_outbox')
      .select(['id', 'template', 'to_address', 'last_error', 'created_at'])
      .where('cycle_id', '=', cycleId)
      .where('status', '=', 'failed')
      .orderBy('created_at', 'desc')
      .execute();
  },

  async queueJobs(
    db: Db,
    jobs: { queue: string; name: string; jobId: string; data: Record<string, unknown> }[],
  ) {
    if (jobs.length === 0) return;
    await db
      .insertInto('job_outbox')
      .values(
        jobs.map((j) => ({ queue: j.queue, name: j.name, job_id: j.jobId, data: JSON.stringify(j.data) })),
      )
      .execute();
  },

  /**
   * Hands pending jobs to `push` (which adds them to Redis) and deletes each once pushed, in one transaction
   * with SKIP LOCKED so several sweepers never push the same row twice. A failed push leaves the row.
   */
  async drainJobs(
    db: Db,
    push: (job: {
      queue: string;
      name: string;
      jobId: string;
      data: Record<string, unknown>;
    }) => Promise<void>,
    limit = 500,
  ): Promise<number> {
    return db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('job_outbox')
        .selectAll()
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      const pushed: string[] = [];
      for (const row of rows) {
        await push({ queue: row.queue, name: row.name, jobId: row.job_id, data: row.data });
        pushed.push(row.id);
      }
      if (pushed.length > 0) await trx.deleteFrom('job_outbox').where('id', 'in', pushed).execute();
      return pushed.length;
    });
  },

  /**
   * Pushes jobs whose outbox rows the caller just wrote, then deletes those rows: the cheap path right after
   * a commit, with no scan and no lock. A failed push leaves its row for the sweeper (`drainJobs`); a crash
   * between the push and the delete makes the sweeper push it again, which a coalescing job id absorbs.
   */
  async pushWritten(
    db: Db,
    push: ((job: JobToEnqueue) => Promise<void>) | undefined,
    jobs: readonly (JobToEnqueue & { outboxId: string })[],
    onError: (error: unknown) => void,
  ): Promise<void> {
    if (!push || jobs.length === 0) return;
    const pushed: string[] = [];
    for (const job of jobs) {
      try {
        await push({ queue: job.queue, name: job.name, jobId: job.jobId, data: job.data });
        pushed.push(job.outboxId);
      } catch (error) {
        onError(error);
        break;
      }
    }
    if (pushed.length > 0) {
      try {
        await sql`${PREPARED} delete from job_outbox where id = any(${pushed}::uuid[])`.execute(db);
      } catch (error) {
        onError(error);
      }
    }
  },

  /** `drainJobs`, for callers that must not fail when Redis is down: the sweeper retries later. */
  async tryDrainJobs(
    db: Db,
    push:
      | ((job: {
          queue: string;
          name: string;
          jobId: string;
          data: Record<string, unknown>;
        }) => Promise<void>)
      | undefined,
    onError: (error: unknown) => void,
  ): Promise<void> {
    if (!push) return;
    try {
      await outboxRepository.drainJobs(db, push);
    } catch (error) {
      onError(error);
    }
  },
};
