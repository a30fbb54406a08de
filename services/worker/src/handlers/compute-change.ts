import { resultRepository, type Db } from '@panorama/db';
import { buildChange, OTHER_GROUPS, type OtherGroup, type Profile } from '@panorama/domain';
import type { JobHandlers } from '@panorama/jobs';
import type { CycleStats } from './cycle-stats.ts';
import { changeNorms, COHORT_NORMS } from './change-norms.ts';
import { digestOf, SCORING_REVISION } from './digest.ts';
import type { InstrumentCache } from './instruments.ts';

export interface ComputeChangeDeps {
  db: Db;
  instruments: InstrumentCache;
  stats: Pick<CycleStats, 'allOthersSd' | 'reliability'>;
  /** Test only: runs after every input is read and before the result is saved. */
  beforeSave?: () => Promise<void>;
}

/**
 * The change between a leader's baseline and follow-up profiles (METHODS §6), for every baseline/follow-up
 * pair the subject belongs to. SD1 and rxx come from the baseline cohort or the instrument's norms
 * (`changeNorms`, the same as the cohort roll-up uses); overlap counts raters who completed both cycles,
 * from invitations. Read, compute and save run under the follow-up's change lock: a run that takes the
 * lock later reads at least what the earlier one read, so a slower run holding older inputs can never
 * append its result last. Stored as a new version when any input changed.
 */
export function createComputeChange(deps: ComputeChangeDeps): JobHandlers['compute-change'] {
  const { db } = deps;
  return async ({ subjectId }, context) => {
    const pairs = await resultRepository.changePairs(db, subjectId);
    for (const pair of pairs) {
      // The instrument is pinned by the cycle, so it can be read before taking the lock.
      const baselineContext = await resultRepository.subjectContext(db, pair.baseline_subject_id);
      if (!baselineContext) continue;
      const instrument = await deps.instruments.get(
        baselineContext.instrument_id,
        baselineContext.instrument_version,
      );
      const missing = await resultRepository.withChangeLock(db, pair.follow_up_subject_id, async (trx) => {
        const [baseline, followUp] = await Promise.all([
          resultRepository.latestProfile(trx, pair.baseline_subject_id),
          resultRepository.latestProfile(trx, pair.follow_up_subject_id),
        ]);
        if (!baseline || !followUp) return true;
        const [norms, completedBoth] = await Promise.all([
          changeNorms(deps.stats, pair.baseline_cycle_id, instrument, trx),
          resultRepository.invitedInBoth(trx, pair.baseline_subject_id, pair.follow_up_subject_id),
        ]);
        const overlap: Partial<Record<OtherGroup, number>> = {};
        for (const row of completedBoth) {
          if ((OTHER_GROUPS as readonly string[]).includes(row.relationship)) {
            overlap[row.relationship as OtherGroup] = row.raters;
          }
        }
        const sourceDigest = digestOf({
          baseline: [pair.baseline_subject_id, baseline.version, baseline.source_digest],
          followUp: [pair.follow_up_subject_id, followUp.version, followUp.source_digest],
          norms,
          overlap,
          revision: SCORING_REVISION,
        });
        const report = buildChange({
          baseline: baseline.data as Profile,
          followUp: followUp.data as Profile,
          sd1ByCompetency: norms.sd1,
          rxxByCompetency: norms.rxx,
          overlap,
        });
        await deps.beforeSave?.();
        await resultRepository.saveChange(trx, {
          subjectId: pair.follow_up_subject_id,
          baselineSubjectId: pair.baseline_subject_id,
          sourceDigest,
          data: {
            baselineVersion: baseline.version,
            followUpVersion: followUp.version,
            cohortNorms: COHORT_NORMS,
            sd1Source: norms.sd1Source,
            sd1ByCompetency: norms.sd1,
            rxxSource: norms.rxxSource,
            rxxByCompetency: norms.rxx,
            report,
          },
        });
        return false;
      });
      // The missing profile's own aggregation queues this job again once it is stored.
      if (missing) await context.log('a profile of the pair is not computed yet');
    }
  };
}
