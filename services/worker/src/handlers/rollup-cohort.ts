import { resultRepository, rosterRepository, type Db } from '@panorama/db';
import { buildCohort, type CohortLeader, type Profile } from '@panorama/domain';
import { planJob, type JobHandlers, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import type { CycleStats } from './cycle-stats.ts';
import { digestOf, SCORING_REVISION } from './digest.ts';
import { anonymityRulesFor, type InstrumentCache } from './instruments.ts';
import { pushJobOutboxSoon } from './outbox.ts';

export interface RollupCohortDeps {
  db: Db;
  instruments: InstrumentCache;
  stats: CycleStats;
  anonymityK: number;
  producer: Pick<Producer, 'add'>;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Leaders read per query. */
  pageSize?: number;
}

/**
 * The HR view of a programme (METHODS §7): `buildCohort` over the leaders with a profile in both the
 * baseline and the latest follow-up cycle, read a page at a time as slim profiles, with invitation counts
 * per group (counts only). When the cohort's SD1 or reliability moved, every leader's change is queued
 * again, since each change result depends on them.
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
    const instrument = await deps.instruments.get(baseline.instrument_id, baseline.instrument_version);
    const rules = anonymityRulesFor(instrument, deps.anonymityK);
    const [rxx, sd1, fingerprint] = await Promise.all([
      deps.stats.reliability(baseline.id, instrument),
      deps.stats.allOthersSd(baseline.id),
      resultRepository.cohortSourceFingerprint(db, baseline.id, followUp.id),
    ]);
    const changeInputs = digestOf({ sd1, rxx });
    const sourceDigest = digestOf({ fingerprint, changeInputs, rules, revision: SCORING_REVISION });
    const latest = await resultRepository.latestCohort(db, programmeId);
    if (latest?.source_digest === sourceDigest) return;

    const leaders: CohortLeader[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await resultRepository.cohortLeadersPage(db, {
        baselineCycleId: baseline.id,
        followUpCycleId: followUp.id,
        afterSubjectId: after,
        limit: pageSize,
      });
      for (const row of page) {
        leaders.push({ baseline: row.baseline as Profile, followUp: row.follow_up as Profile });
      }
      if (page.length < pageSize) break;
      after = page[page.length - 1]!.baseline_subject_id;
    }
    const [invitedBaseline, invitedFollowUp] = await Promise.all([
      rosterRepository.participation(db, { cycleId: baseline.id }),
      rosterRepository.participation(db, { cycleId: followUp.id }),
    ]);
    const report = buildCohort({
      leaders,
      cohortLeaderCount: leaders.length,
      rxxByCompetency: rxx,
      rules,
    });
    const previousInputs = (latest?.data as { changeInputs?: string } | undefined)?.changeInputs;
    const jobs =
      previousInputs === changeInputs
        ? []
        : (await resultRepository.followUpSubjectsWithBaseline(db, programmeId)).map((id) =>
            planJob('compute-change', { subjectId: id }),
          );
    const outcome = await resultRepository.saveCohort(db, {
      programmeId,
      sourceDigest,
      data: {
        baselineCycleId: baseline.id,
        followUpCycleId: followUp.id,
        leaders: leaders.length,
        changeInputs,
        rxxByCompetency: rxx,
        invitations: { baseline: byGroup(invitedBaseline), followUp: byGroup(invitedFollowUp) },
        report,
      },
      jobs,
    });
    if (outcome.created && jobs.length > 0) await pushJobOutboxSoon(db, deps.producer, deps.logger);
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
