import { mean, sampleVariance, sum } from 'simple-statistics';

/** LeBreton & Senter (2008) bands for rwg / rwg(j). */
export type AgreementBand = 'none' | 'weak' | 'moderate' | 'strong' | 'very_strong';

/** rwg below this, or a group SD at or above {@link LOW_CONSENSUS_SD}, is "low consensus" (METHODS §4). */
export const LOW_CONSENSUS_RWG = 0.5;
/** SD threshold for "low consensus", on a 5-point scale. */
export const LOW_CONSENSUS_SD = 1.0;

/** Variance of a uniform ("no agreement") null distribution over A scale points: (A^2 - 1) / 12. */
export function uniformNullVariance(scalePoints: number): number {
  if (!(Number.isInteger(scalePoints) && scalePoints >= 2))
    throw new RangeError('need at least 2 scale points');
  return (scalePoints * scalePoints - 1) / 12;
}

/**
 * rwg = 1 - s2 / sigma2_EU (James, Demaree & Wolf 1984), s2 the n-1 variance of the raters' scores; clamped
 * to 0 when raters disagree more than chance. Null for fewer than 2 raters.
 */
export function rwg(ratings: readonly number[], scalePoints: number): number | null {
  if (ratings.length < 2) return null;
  return rwgFromVariance(sampleVariance([...ratings]), scalePoints);
}

/** rwg from an already computed n-1 variance (e.g. a published SD squared), clamped to 0. */
export function rwgFromVariance(variance: number, scalePoints: number): number {
  if (!(variance >= 0)) throw new RangeError('variance must be >= 0');
  return Math.max(0, 1 - variance / uniformNullVariance(scalePoints));
}

/**
 * rwg(j) over J items: J(1 - s2bar/sigma2) / (J(1 - s2bar/sigma2) + s2bar/sigma2). Clamped to 0 when the mean
 * item variance exceeds sigma2_EU, where the formula stops being a proportion (LeBreton & Senter 2008).
 */
export function rwgJ(itemCount: number, meanItemVariance: number, scalePoints: number): number {
  if (!(Number.isInteger(itemCount) && itemCount >= 1)) throw new RangeError('need at least one item');
  if (!(meanItemVariance >= 0)) throw new RangeError('variance must be >= 0');
  const ratio = meanItemVariance / uniformNullVariance(scalePoints);
  if (ratio >= 1) return 0;
  const agreement = itemCount * (1 - ratio);
  return agreement / (agreement + ratio);
}

/** LeBreton & Senter band: .00-.30 none, .31-.50 weak, .51-.70 moderate, .71-.90 strong, .91-1.00 very strong. */
export function agreementBand(value: number): AgreementBand {
  if (value <= 0.3) return 'none';
  if (value <= 0.5) return 'weak';
  if (value <= 0.7) return 'moderate';
  if (value <= 0.9) return 'strong';
  return 'very_strong';
}

/** "Low consensus": rwg < .50 or SD >= 1.0 (METHODS §4). Unknown inputs (null) do not raise the flag. */
export function isLowConsensus(rwgValue: number | null, sd: number | null): boolean {
  return (rwgValue !== null && rwgValue < LOW_CONSENSUS_RWG) || (sd !== null && sd >= LOW_CONSENSUS_SD);
}

/** Intraclass correlations of a one-way design (raters nested in targets, e.g. leaders). */
export interface IccResult {
  /** Reliability of a single rater. */
  icc1: number;
  /** Reliability of a target's mean rating; null when MSB = 0. */
  icc2: number | null;
  msb: number;
  msw: number;
  /** Mean group size; (sum K_i - sum K_i^2 / sum K_i) / (N - 1) for unequal groups. */
  k: number;
}

/**
 * ICC(1) = (MSB - MSW) / (MSB + (K - 1) MSW) and ICC(2) = (MSB - MSW) / MSB from a one-way ANOVA over
 * `groups` (one array of ratings per target). Needs 2+ targets and more ratings than targets.
 */
export function icc(groups: readonly (readonly number[])[]): IccResult {
  const targets = groups.length;
  const sizes = groups.map((g) => g.length);
  const total = sum(sizes);
  if (targets < 2 || sizes.some((size) => size < 1) || total <= targets) {
    throw new RangeError('ICC needs at least 2 non-empty groups and more ratings than groups');
  }
  const grand = mean(groups.flat());
  const means = groups.map((g) => mean([...g]));
  const ssb = sum(groups.map((g, i) => g.length * ((means[i] ?? 0) - grand) ** 2));
  const ssw = sum(groups.map((g, i) => sum(g.map((x) => (x - (means[i] ?? 0)) ** 2))));
  const msb = ssb / (targets - 1);
  const msw = ssw / (total - targets);
  const k = (total - sum(sizes.map((s) => s * s)) / total) / (targets - 1);
  const denominator = msb + (k - 1) * msw;
  return {
    icc1: denominator === 0 ? 0 : (msb - msw) / denominator,
    icc2: msb === 0 ? null : (msb - msw) / msb,
    msb,
    msw,
    k,
  };
}

/** Reliability of the mean of k raters from the single-rater ICC(1): k ICC1 / (1 + (k - 1) ICC1). */
export function kRaterReliability(icc1: number, k: number): number {
  if (!(k >= 1)) throw new RangeError('k must be >= 1');
  return (k * icc1) / (1 + (k - 1) * icc1);
}
