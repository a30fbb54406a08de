import { mean, sampleStandardDeviation } from 'simple-statistics';

/** Top/bottom fraction and gap threshold for blind spots and hidden strengths (METHODS §3). */
export interface SelfOtherOptions {
  /** Share of items counted as "top" and as "bottom"; default .25 (quarter). */
  fraction?: number;
  /** |D| at or above this is flagged; default 1.0 on a 5-point scale. */
  gapThreshold?: number;
}

/** Defaults of {@link SelfOtherOptions}. */
export const DEFAULT_SELF_OTHER: Required<SelfOtherOptions> = Object.freeze({
  fraction: 0.25,
  gapThreshold: 1.0,
});

/** A shown self score and a shown all-others score of one item or competency. */
export interface SelfOtherPair {
  id: string;
  self: number;
  allOthers: number;
}

/** Items or competencies flagged by rank and by gap. */
export interface SelfOtherFlags {
  rank: string[];
  gap: string[];
}

/** Gaps and flags over a set of items or competencies. */
export interface SelfOtherResult {
  gaps: { id: string; gap: number }[];
  blindSpots: SelfOtherFlags;
  hiddenStrengths: SelfOtherFlags;
}

// Float noise must not decide a flag: 4 - 3.0000000000000004 is still a gap of 1.
const TOLERANCE = 1e-9;

/**
 * Mid-rank percentile of each value among `values`: (number below + half the number equal) / n. Ties share a
 * percentile, so a leader who rated every item the same has no "top" or "bottom" items at all.
 */
export function midPercentiles(values: readonly number[]): number[] {
  const n = values.length;
  const percentiles: number[] = new Array(n);
  for (let i = 0; i < n; i += 1) {
    const v = values[i]!;
    let below = 0;
    let equal = 0;
    for (let j = 0; j < n; j += 1) {
      const x = values[j]!;
      if (x < v) below += 1;
      else if (x === v) equal += 1;
    }
    percentiles[i] = (below + equal / 2) / n;
  }
  return percentiles;
}

/** Gap D = self - all-others (METHODS §3). */
export function selfOtherGap(self: number, allOthers: number): number {
  return self - allOthers;
}

/**
 * Blind spots and hidden strengths (METHODS §3). Rank-based: among the leader's own top `fraction` while
 * among others' bottom `fraction` (blind spot), or the reverse (hidden strength), using mid-rank
 * percentiles so ties never fall arbitrarily on one side. Gap-based: D >= gapThreshold (blind spot) or
 * D <= -gapThreshold (hidden strength). Pairs keep their input order.
 */
export function selfOtherAnalysis(
  pairs: readonly SelfOtherPair[],
  options: SelfOtherOptions = {},
): SelfOtherResult {
  const { fraction, gapThreshold } = { ...DEFAULT_SELF_OTHER, ...options };
  if (!(fraction > 0 && fraction <= 0.5)) throw new RangeError('fraction must be in (0, .5]');
  if (!(gapThreshold > 0)) throw new RangeError('gapThreshold must be > 0');
  const selfP = midPercentiles(pairs.map((p) => p.self));
  const othersP = midPercentiles(pairs.map((p) => p.allOthers));
  const top = (p: number | undefined) => p !== undefined && p > 1 - fraction;
  const bottom = (p: number | undefined) => p !== undefined && p < fraction;
  const gaps = pairs.map((p) => ({ id: p.id, gap: selfOtherGap(p.self, p.allOthers) }));
  return {
    gaps,
    blindSpots: {
      rank: pairs.filter((_, i) => top(selfP[i]) && bottom(othersP[i])).map((p) => p.id),
      gap: gaps.filter((g) => g.gap >= gapThreshold - TOLERANCE).map((g) => g.id),
    },
    hiddenStrengths: {
      rank: pairs.filter((_, i) => bottom(selfP[i]) && top(othersP[i])).map((p) => p.id),
      gap: gaps.filter((g) => g.gap <= -gapThreshold + TOLERANCE).map((g) => g.id),
    },
  };
}

/** Atwater & Yammarino category of a leader's self-other agreement. */
export type AgreementCategory =
  'over_estimator' | 'under_estimator' | 'in_agreement_good' | 'in_agreement_poor';

/** Cohort size from which agreement categories are meaningful (METHODS §3). */
export const MIN_LEADERS_FOR_CATEGORIES = 10;

/** One leader's self and all-others score (of one competency, or overall); null when not shown. */
export interface LeaderSelfOther {
  leaderId: string;
  self: number | null;
  allOthers: number | null;
}

/** Categories with the cohort statistics they were cut at. */
export interface AgreementCategories {
  /** Leaders with both scores. */
  n: number;
  /** Null (with every category null) when n < minLeaders. */
  cutoffs: { meanGap: number; sdGap: number; meanAllOthers: number } | null;
  leaders: { leaderId: string; gap: number | null; category: AgreementCategory | null }[];
}

/**
 * Atwater & Yammarino categories over a cohort (METHODS §3): over-estimator when D > mean(D) + .5 SD(D),
 * under-estimator when D < mean(D) - .5 SD(D), otherwise in agreement, "good" when all-others is at or above
 * the cohort mean of all-others, else "poor". Leaders missing a score get no category; with fewer than
 * `minLeaders` (default 10) leaders with both scores, nobody gets one.
 */
export function agreementCategories(
  leaders: readonly LeaderSelfOther[],
  options: { minLeaders?: number } = {},
): AgreementCategories {
  const minLeaders = options.minLeaders ?? MIN_LEADERS_FOR_CATEGORIES;
  const complete = leaders.filter(
    (l): l is LeaderSelfOther & { self: number; allOthers: number } =>
      l.self !== null && l.allOthers !== null,
  );
  const gapOf = (l: LeaderSelfOther) =>
    l.self !== null && l.allOthers !== null ? l.self - l.allOthers : null;
  if (complete.length < Math.max(minLeaders, 2)) {
    return {
      n: complete.length,
      cutoffs: null,
      leaders: leaders.map((l) => ({ leaderId: l.leaderId, gap: gapOf(l), category: null })),
    };
  }
  const gaps = complete.map((l) => l.self - l.allOthers);
  const meanGap = mean(gaps);
  const sdGap = sampleStandardDeviation(gaps);
  const meanAllOthers = mean(complete.map((l) => l.allOthers));
  return {
    n: complete.length,
    cutoffs: { meanGap, sdGap, meanAllOthers },
    leaders: leaders.map((l) => {
      const gap = gapOf(l);
      if (gap === null || l.allOthers === null) return { leaderId: l.leaderId, gap, category: null };
      let category: AgreementCategory;
      if (gap > meanGap + 0.5 * sdGap) category = 'over_estimator';
      else if (gap < meanGap - 0.5 * sdGap) category = 'under_estimator';
      else category = l.allOthers >= meanAllOthers ? 'in_agreement_good' : 'in_agreement_poor';
      return { leaderId: l.leaderId, gap, category };
    }),
  };
}
