import type { Kysely } from 'kysely';
import {
  personRepository,
  programmeRepository,
  rosterRepository,
  type Database,
  type InvitationStatus,
  type Relationship,
} from '@panorama/db';
import {
  ConflictError,
  NotFoundError,
  newToken,
  TOKEN_PATTERN,
  tokenMac,
  ValidationError,
  type SecretKeys,
} from '@panorama/domain';
import { queueMail } from '../mail-queue.ts';
import { cycleContext, invitePending } from './cycle-lifecycle.ts';

// eslint-disable-next-line no-control-regex
export const UNSAFE_TEXT = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD]/;

export type NominatedGroup = Exclude<Relationship, 'self'>;
export const NOMINATED_GROUPS: readonly NominatedGroup[] = ['manager', 'peer', 'direct_report', 'other'];
export type Minimums = Record<NominatedGroup, number>;
export const DEFAULT_MINIMUMS: Minimums = { manager: 1, peer: 3, direct_report: 3, other: 0 };
const GROUP_LABEL: Record<NominatedGroup, string> = {
  manager: 'manager',
  peer: 'peers',
  direct_report: 'direct reports',
  other: 'others',
};

export interface NominationDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  reportBaseUrl: string;
  surveyBaseUrl: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const COUNTED = new Set(['nominated', 'pending', 'sent', 'completed']);

export function minimumsOf(settings: Record<string, unknown>): Minimums {
  const stored = settings.nominationMinimums as Partial<Minimums> | undefined;
  return { ...DEFAULT_MINIMUMS, ...stored };
}

/**
 * Asks every leader of a draft or open cycle who has no raters chosen yet to nominate their own, by an
 * emailed link. The minimum per group is kept with the cycle.
 */
export async function openNominations(deps: NominationDeps, cycleId: string, minimums: Minimums) {
  for (const group of NOMINATED_GROUPS) {
    if (!Number.isInteger(minimums[group]) || minimums[group] < 0 || minimums[group] > 20) {
      throw new ValidationError('Minimums must be whole numbers from 0 to 20.', [
        { path: group, message: 'is out of range' },
      ]);
    }
  }
  // Anonymous groups below k would be suppressed anyway; asking for fewer than 3 invites that.
  for (const group of ['peer', 'direct_report'] as const) {
    if (minimums[group] > 0 && minimums[group] < 3) {
      throw new ValidationError(
        `Ask for at least 3 ${GROUP_LABEL[group]} (or none): smaller groups are not reported.`,
        [{ path: group, message: 'must be 0 or at least 3' }],
      );
    }
  }
  return deps.db.transaction().execute(async (trx) => {
    const cycle = await nominationCycle(trx, cycleId);
    await trx
      .updateTable('cycles')
      .set({ settings: JSON.stringify({ ...cycle.settings, nominationMinimums: minimums }) })
      .where('id', '=', cycleId)
      .execute();
    const subjects = await rosterRepository.subjectsOfCycle(trx, cycleId);
    let asked = 0;
    for (const subject of subjects) {
      const current = await trx
        .selectFrom('subjects')
        .select('nomination')
        .where('id', '=', subject.id)
        .executeTakeFirstOrThrow();
      if (current.nomination !== 'none') continue;
      await mailNominationLink(deps, trx, { ...cycle, minimums }, subject);
      await rosterRepository.setNomination(trx, subject.id, 'open');
      asked++;
    }
    return { asked };
  });
}

/** The cycle, locked, with what a nomination email needs; only a draft or open cycle takes nominations. */
async function nominationCycle(trx: Kysely<Database>, cycleId: string) {
  const cycle = await cycleContext(trx, cycleId, { forUpdate: true });
  if (cycle.status !== 'draft' && cycle.status !== 'open')
    throw new ConflictError(`nominations need a draft or open cycle; this one is ${cycle.status}`);
  return cycle;
}

/** A fresh nomination link for one leader, emailed in the caller's transaction (only its MAC is stored). */
async function mailNominationLink(
  deps: NominationDeps,
  trx: Kysely<Database>,
  cycle: Awaited<ReturnType<typeof nominationCycle>> & { minimums: Minimums },
  subject: { id: string; leader_name: string; leader_email: string },
) {
  const token = newToken();
  await rosterRepository.addNominationLink(
    trx,
    subject.id,
    tokenMac(deps.keys.invitation, token),
    cycle.closes_at,
  );
  await queueMail(trx, deps.keys, {
    organisationId: cycle.organisation_id,
    cycleId: cycle.id,
    to: subject.leader_email,
    template: 'nomination',
    data: {
      leaderName: subject.leader_name,
      organisationName: cycle.organisation_name,
      programmeName: cycle.programme_name,
      deadline: cycle.closes_at.toISOString().slice(0, 10),
      link: `${deps.reportBaseUrl.replace(/\/$/, '')}/nominate/${token}`,
      minimums: NOMINATED_GROUPS.filter((g) => cycle.minimums[g] > 0).map((g) => ({
        group: GROUP_LABEL[g],
        count: cycle.minimums[g],
      })),
    },
  });
}

/**
 * Emails a leader who was already asked to nominate a new link (the first email was lost, deleted or
 * bounced). Earlier links keep working until the deadline. A leader never asked is refused: asking is
 * `openNominations`, with the minimums.
 */
export async function resendNomination(deps: NominationDeps, cycleId: string, subjectId: string) {
  return deps.db.transaction().execute(async (trx) => {
    const cycle = await nominationCycle(trx, cycleId);
    const subject = (await rosterRepository.subjectsOfCycle(trx, cycleId)).find((s) => s.id === subjectId);
    if (!subject) throw new NotFoundError('There is no such leader in this cycle.');
    if (subject.nomination === 'none')
      throw new ConflictError('This leader has not been asked to nominate; ask every leader first.');
    await mailNominationLink(deps, trx, { ...cycle, minimums: minimumsOf(cycle.settings) }, subject);
  });
}

export type NominationContext = NonNullable<
  Awaited<ReturnType<typeof rosterRepository.findByNominationHash>>
>;

/** The subject behind a nomination link; every unusable link gets the same NotFoundError. */
export async function resolveNomination(
  deps: Pick<NominationDeps, 'db' | 'keys'>,
  token: string,
): Promise<NominationContext> {
  const context = TOKEN_PATTERN.test(token)
    ? await rosterRepository.findByNominationHash(deps.db, tokenMac(deps.keys.invitation, token))
    : undefined;
  if (
    !context ||
    context.expires_at.getTime() <= Date.now() ||
    !['draft', 'open'].includes(context.cycle_status)
  ) {
    throw new NotFoundError(
      'This nomination link cannot be used. It may be incomplete or expired; ask your programme administrator for a new one.',
    );
  }
  return context;
}

export interface NomineeRow {
  name: string;
  email: string;
  relationship: string;
}

/** Adds nominees (status "nominated", awaiting approval); every row is checked and none is added if any is wrong. */
export async function nominate(
  deps: Pick<NominationDeps, 'db'>,
  context: Pick<NominationContext, 'subject_id' | 'organisation_id' | 'leader_email' | 'nomination'>,
  rows: NomineeRow[],
) {
  const filled = rows
    .map((r, index) => ({ ...r, index, name: r.name.trim(), email: r.email.trim().toLowerCase() }))
    .filter((r) => r.name || r.email);
  const problems: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const row of filled) {
    const at = `person ${row.index + 1}`;
    if (!row.name) problems.push({ path: at, message: 'needs a name' });
    // As in the roster import: names are shown to staff, so no control characters or bidi overrides.
    else if (row.name.length > 200 || UNSAFE_TEXT.test(row.name))
      problems.push({
        path: at,
        message: 'needs a name of at most 200 characters, without control characters',
      });
    if (!EMAIL.test(row.email))
      problems.push({ path: at, message: `'${row.email}' is not an email address` });
    if (!(NOMINATED_GROUPS as readonly string[]).includes(row.relationship))
      problems.push({ path: at, message: 'choose how they work with you' });
    if (row.email === context.leader_email)
      problems.push({ path: at, message: 'is you: your self-assessment is already included' });
    if (seen.has(row.email)) problems.push({ path: at, message: `${row.email} is listed twice` });
    seen.add(row.email);
  }
  if (filled.length === 0) problems.push({ path: '', message: 'Add at least one person.' });
  if (problems.length > 0) throw new ValidationError('Some people could not be added.', problems);
  await deps.db.transaction().execute(async (trx) => {
    for (const row of filled) {
      const person = await personRepository.upsert(trx, {
        organisationId: context.organisation_id,
        email: row.email,
        name: row.name,
      });
      await rosterRepository.addInvitation(trx, {
        subjectId: context.subject_id,
        raterId: person.id,
        relationship: row.relationship as NominatedGroup,
        status: 'nominated',
      });
    }
    // New names need approval again.
    if (context.nomination === 'approved')
      await rosterRepository.setNomination(trx, context.subject_id, 'submitted');
  });
}

/** Takes back a nominee who has not been approved yet. */
export async function withdrawNominee(
  deps: Pick<NominationDeps, 'db'>,
  subjectId: string,
  invitationId: string,
) {
  await rosterRepository.setInvitationStatus(deps.db, subjectId, ['nominated'], 'cancelled', [invitationId]);
}

/**
 * Which nominees the coach (or HR) may still remove or move to another group: any not yet approved, and,
 * until the cycle opens, the approved ones too (nobody has been emailed). Once the cycle is open an
 * approved nominee has their link, and the list stays as it is.
 */
export function editableStatuses(cycleStatus: string): InvitationStatus[] {
  return cycleStatus === 'draft' ? ['nominated', 'pending'] : ['nominated'];
}

/** The coach (or HR) removes a nominee from a leader's list; see `editableStatuses`. */
export async function removeNominee(
  deps: Pick<NominationDeps, 'db'>,
  subject: { id: string; cycle_id: string },
  invitationId: string,
) {
  await deps.db.transaction().execute(async (trx) => {
    const cycle = await lockedForEditing(trx, subject, invitationId);
    const removed = await rosterRepository.setInvitationStatus(
      trx,
      subject.id,
      editableStatuses(cycle),
      'cancelled',
      [invitationId],
    );
    if (removed === 0)
      throw new ConflictError('This person can no longer be removed: their invitation has been sent.');
  });
}

/** The coach (or HR) moves a nominee to another group; see `editableStatuses`. */
export async function regroupNominee(
  deps: Pick<NominationDeps, 'db'>,
  subject: { id: string; cycle_id: string },
  invitationId: string,
  relationship: string,
) {
  if (!(NOMINATED_GROUPS as readonly string[]).includes(relationship)) {
    throw new ValidationError('Choose how they work with the leader.', [
      { path: 'relationship', message: 'choose how they work with the leader' },
    ]);
  }
  await deps.db.transaction().execute(async (trx) => {
    const cycle = await lockedForEditing(trx, subject, invitationId);
    const moved = await rosterRepository.setNomineeRelationship(
      trx,
      subject.id,
      invitationId,
      relationship as NominatedGroup,
      editableStatuses(cycle),
    );
    if (moved === 0)
      throw new ConflictError('This person can no longer be moved: their invitation has been sent.');
  });
}

/**
 * The cycle's status, locked against opening while a list is being edited, after checking that the
 * invitation is one of this leader's nominees (the leader's self-assessment is not).
 */
async function lockedForEditing(
  trx: Kysely<Database>,
  subject: { id: string; cycle_id: string },
  invitationId: string,
) {
  const cycle = await trx
    .selectFrom('cycles')
    .select('status')
    .where('id', '=', subject.cycle_id)
    .forUpdate()
    .executeTakeFirst();
  const nominee = await trx
    .selectFrom('invitations')
    .select('relationship')
    .where('id', '=', invitationId)
    .where('subject_id', '=', subject.id)
    .executeTakeFirst();
  if (!cycle || !nominee || nominee.relationship === 'self')
    throw new NotFoundError('There is no such person on this list.');
  return cycle.status;
}

/** Counts per group of the people who will be (or were) asked, against the minimums. */
export async function nominationStatus(db: Kysely<Database>, subjectId: string, minimums: Minimums) {
  const nominees = await rosterRepository.nomineesOf(db, subjectId);
  const counts = Object.fromEntries(NOMINATED_GROUPS.map((g) => [g, 0])) as Record<NominatedGroup, number>;
  for (const n of nominees) if (COUNTED.has(n.status)) counts[n.relationship as NominatedGroup]++;
  const short = NOMINATED_GROUPS.filter((g) => counts[g] < minimums[g]).map((g) => ({
    group: GROUP_LABEL[g],
    have: counts[g],
    need: minimums[g],
  }));
  return { nominees, counts, short };
}

/** The leader sends their list for approval; refused while a group is below its minimum. */
export async function submitNominations(deps: Pick<NominationDeps, 'db'>, context: NominationContext) {
  const { short } = await nominationStatus(deps.db, context.subject_id, minimumsOf(context.settings));
  if (short.length > 0) {
    throw new ValidationError(
      'Your list is not complete yet.',
      short.map((s) => ({ path: s.group, message: `${s.have} of at least ${s.need}` })),
    );
  }
  await rosterRepository.setNomination(deps.db, context.subject_id, 'submitted');
}

/**
 * The coach (or HR) approves the list: nominees become invitations, emailed at once when the cycle is open,
 * otherwise when it opens.
 */
export async function approveNominations(deps: NominationDeps, subjectId: string) {
  const subject = await rosterRepository.findSubject(deps.db, subjectId);
  if (!subject) throw new NotFoundError('There is no such leader.');
  const approved = await deps.db.transaction().execute(async (trx) => {
    const n = await rosterRepository.setInvitationStatus(trx, subjectId, ['nominated'], 'pending');
    await rosterRepository.setNomination(trx, subjectId, 'approved');
    return n;
  });
  const cycle = await programmeRepository.findCycle(deps.db, subject.cycle_id);
  const sent = cycle?.status === 'open' ? await invitePending(deps, subject.cycle_id) : { invitations: 0 };
  return { approved, invited: sent.invitations };
}
