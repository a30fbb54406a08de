import { resultRepository, type Db } from '@panorama/db';
import { buildChange, OTHER_GROUPS, type OtherGroup, type Profile } from '@panorama/domain';
import type { JobHandlers } from '@panorama/jobs';
import type { CycleStats } from './cycle-stats.ts';
import { digestOf, SCORING_REVISION } from './digest.ts';
import type { InstrumentCache } from './instruments.ts';

export interface ComputeChangeDeps {
  db: Db;
  instruments: InstrumentCache;
  stats: CycleStats;
}

/**
 * Where SD1 comes from, stored with every change result: the between-leader SD of the all-others score over
 * the baseline cycle's latest profiles. A configured norm SD can replace it later (METHODS §6).
 */
export const SD1_SOURCE = 'baseline_cycle_all_others_between_leader_sd';

/**
 * The change between a leader's baseline and follow-up profiles (METHODS §6), for every baseline/follow-up
 * pair the subject belongs to. SD1 and rxx (Cronbach's alpha) come from the baseline cycle; overlap counts
 * raters invited to both cycles, from invitations. Stored as a new version when any input changed.
 */
export function createComputeChange(deps: ComputeChangeDeps): JobHandlers['compute-change'] {
  const { db } = deps;
  return async ({ subjectId }, context) => {
    const pairs = await resultRepository.changePairs(db, subjectId);
    for (const pair of pairs) {
      const [baseline, followUp, baselineContext] = await Promise.all([
        resultRepository.latestProfile(db, pair.baseline_subject_id),
        resultRepository.latestProfile(db, pair.follow_up_subject_id),
        resultRepository.subjectContext(db, pair.baseline_subject_id),
      ]);
      if (!baseline || !followUp || !baselineContext) {
        // The missing profile's own aggregation queues this job again once it is stored.
        await context.log('a profile of the pair is not computed yet');
        continue;
      }
      const instrument = await deps.instruments.get(
        baselineContext.instrument_id,
        baselineContext.instrument_version,
      );
      const [sd1, rxx, invited] = await Promise.all([
        deps.stats.allOthersSd(pair.baseline_cycle_id),
        deps.stats.reliability(pair.baseline_cycle_id, instrument),
        resultRepository.invitedInBoth(db, pair.baseline_subject_id, pair.follow_up_subject_id),
      ]);
      const overlap: Partial<Record<OtherGroup, number>> = {};
      for (const row of invited) {
        if ((OTHER_GROUPS as readonly string[]).includes(row.relationship)) {
          overlap[row.relationship as OtherGroup] = row.raters;
        }
      }
      const sourceDigest = digestOf({
        baseline: [pair.baseline_subject_id, baseline.version, baseline.source_digest],
        followUp: [pair.follow_up_subject_id, followUp.version, followUp.source_digest],
        sd1,
        rxx,
        overlap,
        revision: SCORING_REVISION,
      });
      const report = buildChange({
        baseline: baseline.data as Profile,
        followUp: followUp.data as Profile,
        sd1ByCompetency: sd1,
        rxxByCompetency: rxx,
        overlap,
      });
      await resultRepository.saveChange(db, {
        subjectId: pair.follow_up_subject_id,
        baselineSubjectId: pair.baseline_subject_id,
        sourceDigest,
        data: {
          baselineVersion: baseline.version,
          followUpVersion: followUp.version,
          sd1Source: SD1_SOURCE,
          sd1ByCompetency: sd1,
          rxxByCompetency: rxx,
          report,
        },
      });
    }
  };
}
