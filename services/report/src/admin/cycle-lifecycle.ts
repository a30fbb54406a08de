import type { Kysely } from 'kysely';
import {
  outboxRepository,
  programmeRepository,
  responseRepository,
  rosterRepository,
  type Database,
} from '@panorama/db';
import { ConflictError, NotFoundError, newToken, tokenMac, type SecretKeys } from '@panorama/domain';
import { MIN_COMPLETION_BATCH, planJob } from '@panorama/jobs';
import { queueMail } from '../mail-queue.ts';

export interface LifecycleDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  surveyBaseUrl: string;
  /** The Redis set where used invitations wait; flushed before reminders so responders are not reminded. */
  completions?: { members(): Promise<string[]>; remove(ids: string[]): Promise<void> } | undefined;
  /** Smallest batch of completions to mark at once (default MIN_COMPLETION_BATCH). */
  minCompletionBatch?: number;
}

/**
 * A cycle with its programme and organisation, what its emails name; `forUpdate` locks the cycle row for
 * the caller's transaction.
 */
export async function cycleContext(
  db: Kysely<Database>,
  cycleId: string,
  options: { forUpdate?: boolean } = {},
) {
  const query = db
    .selectFrom('cycles')
    .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
    .innerJoin('organisations', 'organisations.id', 'programmes.organisation_id')
    .select([
      'cycles.id',
      'cycles.status',
      'cycles.settings',
      'cycles.closes_at',
      'programmes.id as programme_id',
      'programmes.name as programme_name',
      'organisations.id as organisation_id',
      'organisations.name as organisation_name',
    ])
    .where('cycles.id', '=', cycleId);
  const row = await (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
  if (!row) throw new NotFoundError('cycle not found');
  return row;
}

/**
 * Gives each invitation a fresh link and queues one email per rater listing all of their links in this
 * cycle. Only MACs of the links are stored; the links themselves exist only inside the sealed outbox
 * payloads until the emails are sent.
 */
async function mailLinks(
  deps: LifecycleDeps,
  trx: Kysely<Database>,
  cycleId: string,
  statuses: ('pending' | 'sent')[],
  template: 'invitation' | 'reminder',
  skip: ReadonlySet<string> = new Set(),
): Promise<{ emails: number; invitations: number }> {
  const context = await cycleContext(trx, cycleId);
  const invitations = (await rosterRepository.invitationsOfCycle(trx, cycleId, statuses)).filter(
    (i) => !skip.has(i.id),
  );
  const byRater = new Map<string, typeof invitations>();
  for (const invitation of invitations) {
    byRater.set(invitation.rater_email, [...(byRater.get(invitation.rater_email) ?? []), invitation]);
  }
  const deadline = context.closes_at.toISOString().slice(0, 10);
  for (const [email, list] of byRater) {
    const surveys = [];
    for (const invitation of list) {
      const token = newToken();
      await rosterRepository.addLink(
        trx,
        invitation.id,
        tokenMac(deps.keys.invitation, token),
        context.closes_at,
      );
      surveys.push({
        leaderName: invitation.leader_name,
        link: `${deps.surveyBaseUrl.replace(/\/$/, '')}/s/${token}`,
        self: invitation.relationship === 'self',
        manager: invitation.relationship === 'manager',
      });
    }
    await queueMail(trx, deps.keys, {
      organisationId: context.organisation_id,
      cycleId,
      invitationIds: list.map((i) => i.id),
      to: email,
      template,
      data: {
        raterName: list[0]!.rater_name,
        organisationName: context.organisation_name,
        programmeName: context.programme_name,
        deadline,
        surveys,
      },
    });
    await rosterRepository.markSent(
      trx,
      list.map((i) => i.id),
      template === 'invitation' ? 'sent' : 'reminded',
    );
  }
  return { emails: byRater.size, invitations: invitations.length };
}

/** Opens a draft cycle: every pending invitation gets its link by email. */
export async function openCycle(deps: LifecycleDeps, cycleId: string) {
  return deps.db.transaction().execute(async (trx) => {
    const cycle = await programmeRepository.findCycle(trx, cycleId);
    if (!cycle) throw new NotFoundError('cycle not found');
    if (cycle.closes_at.getTime() <= Date.now()) {
      throw new ConflictError('the deadline has passed; set a later deadline before opening the cycle');
    }
    await programmeRepository.transitionCycle(trx, cycleId, 'open');
    return mailLinks(deps, trx, cycleId, ['pending'], 'invitation');
  });
}

/** Invites raters added after opening (status pending) and reminds those who have not responded. */
export async function sendReminders(deps: LifecycleDeps, cycleId: string) {
  // Used links are moved to "completed" by a batch; flush it first (committed on its own, before the set is
  // emptied) so that responders are not reminded. Only a batch of the usual minimum size is flushed, so a
  // reminder cannot be used to single out one rater's completion; whoever is still waiting in the set is
  // left out of the reminder instead.
  await responseRepository.flushCompletions(deps.db);
  let waiting = new Set<string>();
  if (deps.completions) {
    await responseRepository.flushCompletionSet(
      deps.db,
      deps.completions,
      deps.minCompletionBatch ?? MIN_COMPLETION_BATCH,
    );
    waiting = new Set(await deps.completions.members());
  }
  return deps.db.transaction().execute(async (trx) => {
    const cycle = await programmeRepository.findCycle(trx, cycleId);
    if (!cycle) throw new NotFoundError('cycle not found');
    if (cycle.status !== 'open')
      throw new ConflictError(`reminders go out only while a cycle is open; this one is ${cycle.status}`);
    const fresh = await mailLinks(deps, trx, cycleId, ['pending'], 'invitation', waiting);
    const reminded = await mailLinks(deps, trx, cycleId, ['sent'], 'reminder', waiting);
    return { invited: fresh, reminded };
  });
}

/** Emails raters who were added or approved after the cycle opened; nobody else. */
export async function invitePending(deps: LifecycleDeps, cycleId: string) {
  return deps.db.transaction().execute(async (trx) => {
    const cycle = await programmeRepository.findCycle(trx, cycleId);
    if (cycle?.status !== 'open') return { emails: 0, invitations: 0 };
    return mailLinks(deps, trx, cycleId, ['pending'], 'invitation');
  });
}

/** Closes a cycle: links stop working, and every subject is aggregated one final time. */
export async function closeCycle(deps: Pick<LifecycleDeps, 'db'>, cycleId: string) {
  return deps.db.transaction().execute(async (trx) => {
    await programmeRepository.transitionCycle(trx, cycleId, 'closed');
    await trx
      .updateTable('invitation_links')
      .set({ expires_at: new Date() })
      .where(
        'invitation_id',
        'in',
        trx
          .selectFrom('invitations')
          .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
          .select('invitations.id')
          .where('subjects.cycle_id', '=', cycleId),
      )
      .execute();
    const subjects = await trx.selectFrom('subjects').select('id').where('cycle_id', '=', cycleId).execute();
    // One job aggregates the whole cycle in chunks (faster than a job per leader, same profiles).
    await outboxRepository.queueJobs(trx, [planJob('aggregate-cycle', { cycleId })]);
    return { subjects: subjects.length };
  });
}
