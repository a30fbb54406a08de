import type { Db } from '@panorama/db';
import type { Instrument } from '@panorama/domain';
import type { CycleStats } from './cycle-stats.ts';

/** Where a competency's SD1 or rxx came from. */
export type NormSource = 'cohort' | 'configured';

/**
 * The SD1 and rxx of the reliable change index per competency, and where each came from. One definition
 * for compute-change and rollup-cohort, so a leader's verdict and the cohort's share of reliable change
 * are judged against the same numbers.
 */
export interface ChangeNorms {
  sd1: Record<string, number>;
  rxx: Record<string, number>;
  sd1Source: Record<string, NormSource>;
  rxxSource: Record<string, NormSource>;
}

/**
 * What "cohort" means for SD1 and rxx, stored with every change and cohort result: SD1 is the
 * between-leader SD (n - 1) of the shown all-others score over the baseline cycle's latest profiles;
 * rxx is Cronbach's alpha over the baseline cycle's responses (METHODS §5, §6).
 */
export const COHORT_NORMS = {
  sd1: 'between-leader SD of the all-others score over the baseline cycle',
  rxx: "Cronbach's alpha over the baseline cycle's responses",
} as const;

/**
 * SD1 and rxx per competency for a programme's baseline cycle: the instrument's `norms` where it configures
 * one, the cohort's figure otherwise. Competencies with neither are left out (no reliable change).
 */
export async function changeNorms(
  stats: Pick<CycleStats, 'allOthersSd' | 'reliability'>,
  baselineCycleId: string,
  instrument: Instrument,
  conn?: Db,
): Promise<ChangeNorms> {
  const [cohortSd1, cohortRxx] = await Promise.all([
    stats.allOthersSd(baselineCycleId, conn),
    stats.reliability(baselineCycleId, instrument, conn),
  ]);
  const pick = (cohort: Record<string, number>, configured: Record<string, number> | undefined) => {
    const values: Record<string, number> = {};
    const sources: Record<string, NormSource> = {};
    for (const { id } of instrument.competencies) {
      if (configured && Object.hasOwn(configured, id)) {
        values[id] = configured[id]!;
        sources[id] = 'configured';
      } else if (Object.hasOwn(cohort, id)) {
        values[id] = cohort[id]!;
        sources[id] = 'cohort';
      }
    }
    return [values, sources] as const;
  };
  const [sd1, sd1Source] = pick(cohortSd1, instrument.norms?.sd1);
  const [rxx, rxxSource] = pick(cohortRxx, instrument.norms?.rxx);
  return { sd1, rxx, sd1Source, rxxSource };
}
