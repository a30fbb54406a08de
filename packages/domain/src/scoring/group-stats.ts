import { max, mean, min, sampleStandardDeviation, sum } from 'simple-statistics';

import type { DistributionBin, ShownGroup } from './types.ts';

/** Share of a group choosing N/A above which an item is flagged (METHODS §1). */
export const NA_FLAG_SHARE = 0.25;

/** What {@link describeGroup} needs besides the values. */
export interface DescribeGroupOptions {
  /** Raters of the set without a value (N/A for items; no competency score for competencies). */
  naCount: number;
  /** Responses of the set's relationships, the denominator of the N/A share. */
  respondents: number;
  scale: { min: number; max: number };
  /** Publish min and max (n >= distributionMinN and no differencing reveals a smaller set's spread). */
  withRange: boolean;
  /** Also publish the count per scale point (items only: competency scores are means between points). */
  withDistribution: boolean;
}

/** Sample SD (n - 1), or null when n < 2. */
export function sampleSdOrNull(values: readonly number[]): number | null {
  // simple-statistics reads its input without changing it; the casts only drop `readonly`.
  return values.length < 2 ? null : sampleStandardDeviation(values as number[]);
}

/** Statistics of a group that is shown: n, mean, SD, N/A share and, when allowed, range and distribution. */
export function describeGroup(values: readonly number[], options: DescribeGroupOptions): ShownGroup {
  if (values.length === 0) throw new RangeError('a shown group needs at least one value');
  const naShare = options.respondents > 0 ? options.naCount / options.respondents : 0;
  const stats: ShownGroup = {
    suppressed: false,
    n: values.length,
    mean: mean(values as number[]),
    sd: sampleSdOrNull(values),
    naCount: options.naCount,
    naShare,
    naFlag: naShare > NA_FLAG_SHARE,
  };
  if (options.withRange) {
    stats.min = min(values as number[]);
    stats.max = max(values as number[]);
  }
  if (options.withDistribution) stats.distribution = distribution(values, options.scale);
  return stats;
}

/** Count of values at each point of the scale, every point listed (zero counts included). */
export function distribution(
  values: readonly number[],
  scale: { min: number; max: number },
): DistributionBin[] {
  const bins: DistributionBin[] = [];
  for (let value = scale.min; value <= scale.max; value += 1) {
    let count = 0;
    for (const v of values) if (v === value) count += 1;
    bins.push({ value, count });
  }
  return bins;
}

/**
 * Rater-weighted composite, sum(n_g * G_g) / sum(n_g): what readers see as "all others" (METHODS §1). It
 * equals the plain mean over the raters of the groups.
 */
export function raterWeightedMean(groups: readonly { n: number; mean: number }[]): number {
  const n = sum(groups.map((g) => g.n));
  if (n === 0) throw new RangeError('no raters');
  return sum(groups.map((g) => g.n * g.mean)) / n;
}

/**
 * Fixed-weight composite, the plain mean of group means: used for change over time (METHODS §1, §6) because
 * it does not move when only the group mix moves.
 */
export function fixedWeightMean(groupMeans: readonly number[]): number {
  if (groupMeans.length === 0) throw new RangeError('no groups');
  return mean([...groupMeans]);
}
