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
import { MIN_COMPLETION_BATCH, planJob, type CompletionSet, type Producer } from '@panorama/jobs';

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

/**
 * The completion state of a link's invitation cannot be read (Redis is unreachable) and another of its links
 * may have been used: answered 503 with Retry-After by the shared error pages rather than opening the form.
 */
export class CompletionStateUnavailableError extends Error {
  readonly code = 'SERVICE_UNAVAILABLE';
  constructor() {
    super('the completion set cannot be read and the invitation has more than one link');
  }
}

export interface SurveyServiceDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  /** Pushes the job outbox to Redis right after a submission; without it the worker's sweeper does. */
  producer?: Pick<Producer, 'add'> | undefined;
  /** Where used invitations wait for the completion batch; without it (or while it fails) they are held. */
  completions?: Pick<CompletionSet, 'add' | 'has'> | undefined;
  onEnqueueError?: (error: unknown) => void;
  /** Completions held while Redis is down before they go to Postgres as one batch (MIN_COMPLETION_BATCH). */
  minCompletionBatch?: number;
  /** How often held completions are offered to Redis again while it is down. */
  completionRetryMs?: number;
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

/** Invitation statuses whose links still open (a bounced email does not stop its link: it may be forwarded). */
const LIVE_STATUSES: readonly string[] = ['pending', 'sent', 'bounced'];

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
      !LIVE_STATUSES.includes(row.status) ||
      row.completion_pending !== null ||
      row.spent
    ) {
      // A used link whose invitation is neither completed nor waiting: the submission committed but its
      // answer (and the completion after it) was lost, e.g. Postgres dropped the connection at COMMIT.
      if (row && row.spent && row.completion_pending === null && LIVE_STATUSES.includes(row.status))
        await noteLostCompletion(row.id);
      throw new LinkUnusableError();
    }
    const pending = await completionPending(row.id);
    if (pending === true) throw new LinkUnusableError();
    // Unknown: only this link's own spent record rules out a second response, so fail closed when the
    // invitation has had other links (reminders), which may already have been used.
    if (pending === 'unknown' && row.links > 1) throw new CompletionStateUnavailableError();
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
    const spentMac = tokenMac(keys.spent, token);
    let stored: Awaited<ReturnType<typeof responseRepository.submit>>;
    try {
      stored = await responseRepository.submit(db, {
        spentMac,
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
    } catch (error) {
      // A refusal (already submitted, bad answers) is certain; anything else may have failed after the
      // COMMIT reached Postgres, so whether the response is stored is settled later (`settleUncertain`).
      if (!(error instanceof AlreadySubmittedError) && !(error instanceof ValidationError))
        noteUncertain(spentMac, survey.invitationId);
      throw error;
    }
    await queueCompletion(survey.invitationId);
    // When Redis is down the rows stay in the job outbox and the worker's sweeper enqueues them later.
    await outboxRepository.pushWritten(db, deps.producer?.add, stored.jobs, (error) =>
      deps.onEnqueueError?.(error),
    );
  }

  /**
   * Used invitations held in this process while the completion set (Redis) cannot take them. Writing each
   * into the Postgres fallback right after its response would pair the two (consecutive transaction ids,
   * same order); they go to Redis as soon as it answers again, or to Postgres as one shuffled batch once
   * `minBatch` have gathered, or, on shutdown, whatever is left (see `close`).
   */
  const held = new Set<string>();
  const minBatch = deps.minCompletionBatch ?? MIN_COMPLETION_BATCH;
  let retry: NodeJS.Timeout | undefined;
  let moving: Promise<void> | undefined;

  /**
   * Notes that the invitation was used, outside the response's transaction: in the Redis set (no order, no
   * transaction ids) or, while Redis is down, held here (above). A worker batch marks them completed later,
   * several at a time.
   */
  async function queueCompletion(invitationId: string): Promise<void> {
    if (deps.completions) {
      try {
        await deps.completions.add(invitationId);
        if (held.size > 0) await moveHeld();
        return;
      } catch (error) {
        deps.onEnqueueError?.(error);
      }
    }
    held.add(invitationId);
    if (held.size >= minBatch) await writeHeld();
    else if (deps.completions)
      retry ??= setInterval(() => void moveHeld(), deps.completionRetryMs ?? 1_000).unref();
  }

  /**
   * Submissions whose outcome is unknown (the request failed, but maybe after Postgres committed): the
   * link's spent-record MAC and its invitation, kept in this process only. Once Postgres answers, a stored
   * response gets its completion queued (else the invitation would stay open and its rater be reminded);
   * an unstored one is forgotten. A rater who tries the link again settles it too (`open`).
   */
  const uncertain = new Map<string, { spentMac: Buffer; invitationId: string }>();
  let settling: NodeJS.Timeout | undefined;

  function noteUncertain(spentMac: Buffer, invitationId: string): void {
    uncertain.set(spentMac.toString('hex'), { spentMac, invitationId });
    settling ??= setInterval(() => void settleUncertain(), deps.completionRetryMs ?? 1_000).unref();
  }

  async function settleUncertain(): Promise<void> {
    for (const [key, { spentMac, invitationId }] of [...uncertain]) {
      try {
        if (await responseRepository.isSpent(db, spentMac)) await queueCompletion(invitationId);
        uncertain.delete(key);
      } catch {
        return; // Postgres still down: try again later.
      }
    }
    if (uncertain.size === 0 && settling) {
      clearInterval(settling);
      settling = undefined;
    }
  }

  /** A used link opened again while its invitation is not marked: queue the completion that was lost. */
  async function noteLostCompletion(invitationId: string): Promise<void> {
    if ((await completionPending(invitationId)) === true) return;
    await queueCompletion(invitationId);
  }

  /** Offers the held completions to Redis again; what it takes is no longer held. One attempt at a time. */
  function moveHeld(): Promise<void> {
    // `finally` runs after the assignment even when there is nothing to move.
    moving ??= moveHeldNow().finally(() => {
      moving = undefined;
    });
    return moving;
  }

  async function moveHeldNow(): Promise<void> {
    try {
      for (const id of [...held]) {
        await deps.completions!.add(id);
        held.delete(id);
      }
    } catch {
      // Still down: keep them and try again later.
    }
    if (held.size === 0 && retry) {
      clearInterval(retry);
      retry = undefined;
    }
  }

  /** Writes every held completion into the Postgres fallback as one batch; kept here if that fails. */
  async function writeHeld(): Promise<void> {
    const batch = [...held];
    if (batch.length === 0) return;
    for (const id of batch) held.delete(id);
    try {
      await responseRepository.queueCompletions(db, batch);
    } catch (error) {
      for (const id of batch) held.add(id);
      deps.onEnqueueError?.(error);
    }
  }

  /**
   * Whether the invitation's completion is waiting for the batch: true, false, or 'unknown' when the
   * completion set cannot be read. Completions in the Postgres fallback are seen by `openLink` already.
   */
  async function completionPending(invitationId: string): Promise<boolean | 'unknown'> {
    if (held.has(invitationId)) return true;
    if (!deps.completions) return false;
    try {
      return await deps.completions.has(invitationId);
    } catch {
      return 'unknown';
    }
  }

  /**
   * For shutdown: held completions go to Redis if it answers, else to Postgres whatever their number. A
   * batch smaller than the minimum is a weaker guarantee, but dropping it would be worse: the invitation's
   * other links would open again and its rater would be reminded.
   */
  async function close(): Promise<void> {
    if (settling) clearInterval(settling);
    settling = undefined;
    await settleUncertain();
    if (retry) clearInterval(retry);
    retry = undefined;
    if (held.size > 0 && deps.completions) await moveHeld();
    await writeHeld();
  }

  async function decline(survey: OpenedSurvey): Promise<void> {
    await rosterRepository.decline(db, survey.invitationId);
  }

  async function pushJobs(): Promise<void> {
    // When Redis is down the rows stay in the job outbox and the worker's sweeper enqueues them later.
    await outboxRepository.tryDrainJobs(db, deps.producer?.add, (error) => deps.onEnqueueError?.(error));
  }

  return { open, loadDraft, saveDraft, submit, decline, pushJobs, close };
}
