import { resultRepository, rosterRepository, type Db } from '@panorama/db';
import {
  cohortAgreementFromScores,
  createCohortAccumulator,
  selfOtherScores,
  type Profile,
  type SelfOtherScores,
} from '@panorama/domain';
import { planJob, type JobHandlers, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { changeNorms, COHORT_NORMS } from './change-norms.ts';
import type { CycleStats } from './cycle-stats.ts';
import { digestOf, SCORING_REVISION } from './digest.ts';
import { anonymityRulesFor, type InstrumentCache } from './instruments.ts';
import { pushJobOutboxSoon } from './outbox.ts';

export interface RollupCohortDeps {
  db: Db;
  instruments: InstrumentCache;
  stats: Pick<CycleStats, 'allOthersSd' | 'reliability' | 'alphas'>;
  /** Test only: runs after every input is read and before the result is saved. */
  beforeSave?: () => Promise<void>;
  anonymityK: number;
  producer: Pick<Producer, 'add'>;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Leaders read per query. */
  pageSize?: number;
}

/**
 * Bumped when the stored cohort gains or changes fields for the same inputs (2: SD1/rxx sources, alpha per
 * cycle, self-other agreement categories), so the next roll-up stores a new version.
 */
export const COHORT_OUTPUT_REVISION = 2;

/**
 * The HR view of a programme (METHODS §7): the cohort statistics over the leaders with a profile in both
 * the baseline and the latest follow-up cycle, streamed a page at a time (each page of slim profiles is
 * reduced to participation counts, fixed-weight pairs and self/all-others scores before the next is read),
 * with invitation counts per group (counts only). SD1 and rxx are the ones every leader's change uses (`changeNorms`), so the
 * cohort's share of reliable change counts the same verdicts the leaders' change results give. Also stores
 * Cronbach's alpha per competency of both cycles (METHODS §5) and the self-other agreement categories of
 * the cohort's leaders in each cycle (METHODS §3). Read, compute and save run under the programme's cohort
 * lock, so a slower run holding older inputs never appends last. When SD1 or rxx moved, every leader's
 * change is queued again, since each change result depends on them.
 */
export function createRollupCohort(deps: RollupCohortDeps): JobHandlers['rollup-cohort'] {
  const { db } = deps;
  const pageSize = deps.pageSize ?? 500;
  return async ({ programmeId }, context) => {
    const cycles = await resultRepository.programmeCycles(db, programmeId);
    const baseline = cycles.find((c) => c.kind === 'baseline');
    const followUp = cycles.filter((c) => c.kind === 'follow_up').at(-1);
    if (!baseline || !followUp) {
      await context.log('the programme has no baseline and follow-up pair yet');
      return;
    }
    // Instruments are pinned by their cycles, so they can be read before taking the lock.
    const [instrument, followUpInstrument] = await Promise.all([
      deps.instruments.get(baseline.instrument_id, baseline.instrument_version),
      deps.instruments.get(followUp.instrument_id, followUp.instrument_version),
    ]);
    const rules = anonymityRulesFor(instrument, deps.anonymityK);

    const saved = await resultRepository.withCohortLock(db, programmeId, async (trx) => {
      // A closed cycle contributes the versions staff are shown (published now if not yet), not the latest:
      // otherwise two cohort versions around a late import would isolate its few responses.
      const closed = await resultRepository.settleCohortPublication(trx, [baseline.id, followUp.id]);
      const shownOnly = { baseline: closed.has(baseline.id), followUp: closed.has(followUp.id) };
      const [norms, alphaBaseline, alphaFollowUp, fingerprint, latest] = await Promise.all([
        changeNorms(deps.stats, baseline.id, instrument, trx),
        deps.stats.alphas(baseline.id, instrument, trx),
        deps.stats.alphas(followUp.id, followUpInstrument, trx),
        resultRepository.cohortSourceFingerprint(trx, baseline.id, followUp.id),
        resultRepository.latestCohort(trx, programmeId),
      ]);
      const reliability = { baseline: alphaBaseline, followUp: alphaFollowUp };
      const changeInputs = digestOf(norms);
      const sourceDigest = digestOf({
        fingerprint,
        changeInputs,
        reliability,
        rules,
        revision: SCORING_REVISION,
        output: COHORT_OUTPUT_REVISION,
        shownOnly,
      });
      if (latest?.source_digest === sourceDigest) return null;

      // Streamed: each page is reduced to what the statistics need before the next one is read.
      const cohort = createCohortAccumulator({ rules });
      const scores = { baseline: [] as SelfOtherScores[], followUp: [] as SelfOtherScores[] };
      let leaders = 0;
      let after: string | null = null;
      for (;;) {
        const page = await resultRepository.cohortLeadersPage(trx, {
          baselineCycleId: baseline.id,
          followUpCycleId: followUp.id,
          afterSubjectId: after,
          limit: pageSize,
          shownOnly,
        });
        for (const row of page) {
          const leader = { baseline: row.baseline as Profile, followUp: row.follow_up as Profile };
          cohort.add(leader);
          scores.baseline.push(selfOtherScores(leader.baseline));
          scores.followUp.push(selfOtherScores(leader.followUp));
          leaders += 1;
        }
        if (page.length < pageSize) break;
        after = page[page.length - 1]!.baseline_subject_id;
      }
      const [invitedBaseline, invitedFollowUp] = await Promise.all([
        rosterRepository.participation(trx, { cycleId: baseline.id }),
        rosterRepository.participation(trx, { cycleId: followUp.id }),
      ]);
      const report = cohort.finish({
        cohortLeaderCount: leaders,
        sd1ByCompetency: norms.sd1,
        rxxByCompetency: norms.rxx,
      });
      const agreement = {
        baseline: cohortAgreementFromScores(scores.baseline),
        followUp: cohortAgreementFromScores(scores.followUp),
      };
      const previousInputs = (latest?.data as { changeInputs?: string } | undefined)?.changeInputs;
      const jobs =
        previousInputs === changeInputs
          ? []
          : (await resultRepository.followUpSubjectsWithBaseline(trx, programmeId)).map((id) =>
              planJob('compute-change', { subjectId: id }),
            );
      await deps.beforeSave?.();
      const outcome = await resultRepository.saveCohort(trx, {
        programmeId,
        sourceDigest,
        data: {
          baselineCycleId: baseline.id,
          followUpCycleId: followUp.id,
          leaders,
          changeInputs,
          cohortNorms: COHORT_NORMS,
          sd1Source: norms.sd1Source,
          sd1ByCompetency: norms.sd1,
          rxxSource: norms.rxxSource,
          rxxByCompetency: norms.rxx,
          reliability,
          agreement,
          invitations: { baseline: byGroup(invitedBaseline), followUp: byGroup(invitedFollowUp) },
          report,
        },
        jobs,
      });
      return { created: outcome.created, jobs: jobs.length };
    });
    if (saved?.created && saved.jobs > 0) await pushJobOutboxSoon(db, deps.producer, deps.logger);
  };
}

/** Invitation counts keyed by relationship (an object, so the stored JSON does not depend on row order). */
function byGroup(rows: { relationship: string; invited: number; completed: number; declined: number }[]) {
  const out: Record<string, { invited: number; completed: number; declined: number }> = {};
  for (const row of rows) {
    out[row.relationship] = { invited: row.invited, completed: row.completed, declined: row.declined };
  }
  return out;
}
