import type { Kysely } from 'kysely';
import {
  AlreadySubmittedError,
  outboxRepository,
  responseRepository,
  rosterRepository,
  programmeRepository,
  type Database,
} from '@panorama/db';
import {
  InstrumentSchema,
  NotFoundError,
  openDraft,
  parseAnswers,
  sealDraft,
  tokenMac,
  TOKEN_PATTERN,
  type Answers,
  type Instrument,
  type SecretKeys,
  ValidationError,
} from '@panorama/domain';
import { planJob, type CompletionSet, type Producer } from '@panorama/jobs';

/**
 * Every unusable link (malformed, unknown, expired, used, declined, cycle closed) gets this one error, so
 * the answer never tells whether a link ever existed.
 */
export class LinkUnusableError extends NotFoundError {
  constructor() {
    super(
      'This link cannot be used. It may be incomplete, expired, or already used. ' +
        'If you still want to give feedback, ask the person who invited you for a new link.',
    );
  }
}

export interface SurveyServiceDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  /** Pushes the job outbox to Redis right after a submission; without it the worker's sweeper does. */
  producer?: Pick<Producer, 'add'> | undefined;
  /** Where used invitations wait for the completion batch; the Postgres fallback is used without it. */
  completions?: Pick<CompletionSet, 'add' | 'has'> | undefined;
  onEnqueueError?: (error: unknown) => void;
}

export interface OpenedSurvey {
  invitationId: string;
  subjectId: string;
  cycleId: string;
  relationship: Database['invitations']['relationship'];
  leaderName: string;
  closesAt: Date;
  instrument: Instrument;
  perspective: 'self' | 'rater';
  /** The link's saved answers when it was opened (empty when there are none). */
  draft: Answers;
}

export type SurveyService = ReturnType<typeof createSurveyService>;

/** What a page of the form covered, for merging its answers into a draft. */
export interface DraftScope {
  questionIds?: readonly string[];
}

/**
 * A page's answers laid over a draft. Ratings cannot be cleared in a browser (a radio stays chosen), but
 * a comment can: an empty comment on the page removes the saved one.
 */
export function mergeAnswers(draft: Answers, page: Answers, scope: DraftScope = {}): Answers {
  const comments: Record<string, string> = { ...draft.comments };
  for (const id of scope.questionIds ?? []) delete comments[id];
  return {
    ratings: { ...draft.ratings, ...page.ratings },
    comments: { ...comments, ...page.comments },
  };
}

export function createSurveyService(deps: SurveyServiceDeps) {
  const { db, keys } = deps;
  const instruments = new Map<string, Instrument>();

  async function instrument(id: string, version: number): Promise<Instrument> {
    const key = `${id}@${version}`;
    let found = instruments.get(key);
    if (!found) {
      found = InstrumentSchema.parse(
        await programmeRepository.instrumentDefinition(db, id, version),
      ) as Instrument;
      instruments.set(key, found);
    }
    return found;
  }

  /** Resolves a token to its survey, or throws LinkUnusableError for every kind of unusable link. */
  async function open(token: string, now = new Date()): Promise<OpenedSurvey> {
    if (!TOKEN_PATTERN.test(token)) throw new LinkUnusableError();
    // One query whether or not the link exists, was used or has a draft.
    const row = await rosterRepository.openLink(db, {
      tokenHash: tokenMac(keys.invitation, token),
      spentMac: tokenMac(keys.spent, token),
      draftMac: tokenMac(keys.draft, token),
    });
    if (
      !row ||
      row.expires_at.getTime() <= now.getTime() ||
      row.closes_at.getTime() <= now.getTime() ||
      row.cycle_status !== 'open' ||
      // A bounced email does not stop its link: the rater may have had it forwarded.
      !['pending', 'sent', 'bounced'].includes(row.status) ||
      row.completion_pending !== null ||
      row.spent ||
      (await completionPending(row.id))
    ) {
      throw new LinkUnusableError();
    }
    return {
      invitationId: row.id,
      subjectId: row.subject_id,
      cycleId: row.cycle_id,
      relationship: row.relationship,
      leaderName: row.leader_name,
      closesAt: row.closes_at,
      instrument: await instrument(row.instrument_id, row.instrument_version),
      perspective: row.relationship === 'self' ? 'self' : 'rater',
      draft: unsealDraft(token, row.draft),
    };
  }

  function unsealDraft(token: string, sealed: Buffer | null | undefined): Answers {
    if (!sealed) return { ratings: {}, comments: {} };
    try {
      return JSON.parse(openDraft(keys, token, sealed)) as Answers;
    } catch {
      // A draft sealed under an older secret cannot be read; starting afresh beats failing.
      return { ratings: {}, comments: {} };
    }
  }

  async function loadDraft(token: string): Promise<Answers> {
    return unsealDraft(token, await responseRepository.loadDraft(db, tokenMac(keys.draft, token)));
  }

  /**
   * Merges one page's answers into the sealed draft and returns the merged answers. Questions named in
   * `scope.questionIds` were on the page: one left empty there removes its saved answer. `draft` is the draft
   * the caller already holds (`OpenedSurvey.draft`, read with the link); without it, it is read here.
   */
  async function saveDraft(
    token: string,
    page: Answers,
    scope: DraftScope = {},
    draft?: Answers,
  ): Promise<Answers> {
    const merged = mergeAnswers(draft ?? (await loadDraft(token)), page, scope);
    await responseRepository.saveDraft(
      db,
      tokenMac(keys.draft, token),
      sealDraft(keys, token, JSON.stringify(merged)),
    );
    return merged;
  }

  /**
   * Stores the response (complete answers required) exactly once for this token. The invitation is marked
   * completed outside the response's transaction, and aggregation is queued through the job outbox.
   */
  async function submit(token: string, survey: OpenedSurvey, answers: Answers): Promise<void> {
    // Re-validate the merged answers as a whole: a draft is input too.
    const fields: Record<string, string> = {};
    for (const [id, value] of Object.entries(answers.ratings))
      fields[`r.${id}`] = value === null ? 'na' : String(value);
    for (const [id, text] of Object.entries(answers.comments)) fields[`c.${id}`] = text;
    let clean: ReturnType<typeof parseAnswers>;
    try {
      clean = parseAnswers(survey.instrument, fields, { complete: true });
    } catch (error) {
      // The request that loses a double-submit race can read the draft after the winner consumed it, and
      // so see incomplete answers: it is a second submission, not a bad form, and must not leave a draft.
      if (
        error instanceof ValidationError &&
        (await responseRepository.isSpent(db, tokenMac(keys.spent, token)))
      )
        throw new AlreadySubmittedError();
      throw error;
    }
    const itemCompetency = new Map(
      survey.instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
    );
    const stored = await responseRepository.submit(db, {
      spentMac: tokenMac(keys.spent, token),
      draftMac: tokenMac(keys.draft, token),
      response: {
        cycleId: survey.cycleId,
        subjectId: survey.subjectId,
        relationship: survey.relationship,
        ...clean,
      },
      itemCompetency,
      jobs: [planJob('aggregate-subject', { subjectId: survey.subjectId })],
    });
    await queueCompletion(survey.invitationId);
    // When Redis is down the rows stay in the job outbox and the worker's sweeper enqueues them later.
    await outboxRepository.pushWritten(db, deps.producer?.add, stored.jobs, (error) =>
      deps.onEnqueueError?.(error),
    );
  }

  /**
   * Notes that the invitation was used, outside the response's transaction: in the Redis set (no order, no
   * transaction ids) or, while Redis is down, in the Postgres fallback table. A worker batch marks them
   * completed later, several at a time.
   */
  async function queueCompletion(invitationId: string): Promise<void> {
    if (deps.completions) {
      try {
        await deps.completions.add(invitationId);
        return;
      } catch (error) {
        deps.onEnqueueError?.(error);
      }
    }
    await responseRepository.queueCompletion(db, invitationId);
  }

  async function completionPending(invitationId: string): Promise<boolean> {
    if (!deps.completions) return false;
    try {
      return await deps.completions.has(invitationId);
    } catch {
      // Redis is down: the spent-token record still guards this very link.
      return false;
    }
  }

  async function decline(survey: OpenedSurvey): Promise<void> {
    await rosterRepository.decline(db, survey.invitationId);
  }

  async function pushJobs(): Promise<void> {
    // When Redis is down the rows stay in the job outbox and the worker's sweeper enqueues them later.
    await outboxRepository.tryDrainJobs(db, deps.producer?.add, (error) => deps.onEnqueueError?.(error));
  }

  return { open, loadDraft, saveDraft, submit, decline, pushJobs };
}
