import { mean, sampleCorrelation, sampleStandardDeviation } from 'simple-statistics';

import { validateAnonymityRules } from './anonymity.ts';
import { fixedWeightAllOthers, reliableChange } from './change.ts';
import type { Profile } from './profile.ts';
import { tCritical, tTwoSidedP } from './t-distribution.ts';
import { DEFAULT_ANONYMITY, RELATIONSHIPS, type AnonymityRules, type Relationship } from './types.ts';

/** z for a two-sided 95% interval. */
export const Z_975 = 1.959964;

/** A cohort d_av above this earns a data-quality warning (METHODS §7: real coaching effects are small). */
export const LARGE_EFFECT_WARNING = 0.8;

/** Paired change over leaders (METHODS §7). Null where a zero SD makes a statistic undefined. */
export interface PairedChange {
  n: number;
  meanDelta: number;
  /** s_D, n - 1. */
  sdDelta: number;
  t: number | null;
  df: number;
  pTwoSided: number | null;
  /** t(.975, df). */
  tCrit: number;
  ci95: [number, number];
  dZ: number | null;
  /** Hedges correction J = 1 - 3 / (4 df - 1). */
  hedgesJ: number;
  gZ: number | null;
  s1: number;
  s2: number;
  r12: number | null;
  dAv: number | null;
  gAv: number | null;
  dRm: number | null;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/**
 * Paired change of leaders' scores from t1 to t2: mean delta, s_D, paired t (computed from the n-1 SD, not
 * simple-statistics' tTest, which uses the population SD), p, 95% CI, and the Lakens (2013) effect sizes
 * d_z, d_av, d_rm with Hedges' correction.
 */
export function pairedChange(t1: readonly number[], t2: readonly number[]): PairedChange {
  if (t1.length !== t2.length) throw new RangeError('t1 and t2 must pair up');
  if (t1.length < 2) throw new RangeError('paired change needs at least 2 leaders');
  if ([...t1, ...t2].some((x) => !Number.isFinite(x))) throw new RangeError('scores must be finite numbers');
  const n = t1.length;
  const deltas = t1.map((x, i) => (t2[i] ?? Number.NaN) - x);
  const meanDelta = mean(deltas);
  const sdDelta = sampleStandardDeviation(deltas);
  const df = n - 1;
  const se = sdDelta / Math.sqrt(n);
  const t = se > 0 ? meanDelta / se : null;
  const tCrit = tCritical(0.975, df);
  const hedgesJ = 1 - 3 / (4 * df - 1);
  const s1 = sampleStandardDeviation([...t1]);
  const s2 = sampleStandardDeviation([...t2]);
  const r12 = s1 > 0 && s2 > 0 ? finiteOrNull(sampleCorrelation([...t1], [...t2])) : null;
  const dZ = sdDelta > 0 ? meanDelta / sdDelta : null;
  const dAv = s1 + s2 > 0 ? meanDelta / ((s1 + s2) / 2) : null;
  // d_rm = mean / sqrt(s1^2 + s2^2 - 2 r s1 s2) * sqrt(2 (1 - r)); the root is s_D up to rounding.
  const rootRm = r12 === null ? 0 : Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - 2 * r12 * s1 * s2));
  const dRm = r12 !== null && rootRm > 0 ? (meanDelta / rootRm) * Math.sqrt(2 * (1 - r12)) : null;
  return {
    n,
    meanDelta,
    sdDelta,
    t,
    df,
    pTwoSided: t === null ? null : tTwoSidedP(t, df),
    tCrit,
    ci95: [meanDelta - tCrit * se, meanDelta + tCrit * se],
    dZ,
    hedgesJ,
    gZ: dZ === null ? null : dZ * hedgesJ,
    s1,
    s2,
    r12,
    dAv,
    gAv: dAv === null ? null : dAv * hedgesJ,
    dRm,
  };
}

/**
 * Wilson score interval for a proportion: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
 */
export function wilson(successes: number, n: number, z: number = Z_975): [number, number] {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('n must be a whole number >= 1');
  if (!(Number.isInteger(successes) && successes >= 0 && successes <= n)) {
    throw new RangeError('successes must be a whole number in 0..n');
  }
  const p = successes / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const denominator = 1 + z2 / n;
  return [Math.max(0, (centre - half) / denominator), Math.min(1, (centre + half) / denominator)];
}

/** One leader of a cohort slice: the baseline profile and, when the leader had one, the follow-up. */
export interface CohortLeader {
  baseline: Profile;
  followUp: Profile | null;
}

/** Inputs of {@link buildCohort}. */
export interface BuildCohortInput {
  /** The leaders of the slice being reported (a department, a level, the whole cohort). */
  leaders: readonly CohortLeader[];
  /** Leaders in the whole cohort the slice was cut from (equal to leaders.length for the whole cohort). */
  cohortLeaderCount: number;
  /** Reliability per competency for the RCI; competencies without one get no reliable-change shares. */
  rxxByCompetency: Readonly<Record<string, number>>;
  /** Norm SD1 per competency; default: sample SD of the baseline scores of the leaders compared. */
  sd1ByCompetency?: Readonly<Record<string, number>>;
  rules?: AnonymityRules;
  /**
   * Smallest slice (and smallest non-empty complement) that may be reported; default k.all_others. A
   * leader's score is an all-others composite, so the composite's k is the natural unit, and it is the
   * strictest of the default ks.
   */
  minLeaders?: number;
}

/** Share of leaders with a reliable change, with its Wilson 95% interval. */
export interface ReliableShare {
  share: number;
  wilson95: [number, number];
}

/** Cohort change of one competency. */
export interface CohortCompetency {
  id: string;
  suppressed: false;
  paired: PairedChange;
  sd1: number;
  rxx: number | null;
  /** Null without rxx or with SD1 = 0. */
  reliableImprovement: ReliableShare | null;
  reliableDeterioration: ReliableShare | null;
  /** `large_effect`: d_av > 0.8, more than longitudinal 360 studies find; check the data before reporting. */
  warnings: 'large_effect'[];
}

/** A suppressed slice or competency: no numbers. */
export interface CohortSuppressed {
  suppressed: true;
  reason: 'fewer_than_k' | 'complement_fewer_than_k';
  k: number;
}

/** The HR view of a cohort slice. */
export type CohortReport =
  | CohortSuppressed
  | {
      suppressed: false;
      leaders: number;
      /** Responses per relationship summed over the slice's leaders, per cycle. */
      participation: Record<Relationship, { baseline: number; followUp: number }>;
      competencies: (CohortCompetency | ({ id: string } & CohortSuppressed))[];
    };

const lookup = (record: Readonly<Record<string, number>> | undefined, key: string): number | undefined =>
  record && Object.hasOwn(record, key) ? record[key] : undefined;

/** Incremental form of {@link buildCohort}: add leaders one at a time, then finish. */
export interface CohortAccumulator {
  /** Keeps only the leader's participation counts and fixed-weight all-others pair per competency. */
  add(leader: CohortLeader): void;
  finish(input: Omit<BuildCohortInput, 'leaders' | 'rules' | 'minLeaders'>): CohortReport;
}

/**
 * A cohort built a leader at a time (METHODS §7), for callers that stream leaders page by page: each
 * leader is reduced on `add` to what the statistics need (participation counts and one fixed-weight pair per
 * competency), so memory grows with numbers per leader, not with profiles. `buildCohort` is this over an
 * array; both give the same report.
 */
export function createCohortAccumulator(
  options: Pick<BuildCohortInput, 'rules' | 'minLeaders'> = {},
): CohortAccumulator {
  const rules = validateAnonymityRules(options.rules ?? DEFAULT_ANONYMITY);
  const k = options.minLeaders ?? rules.k.all_others;
  if (!(Number.isInteger(k) && k >= rules.k.all_others)) {
    throw new RangeError(`minLeaders must be a whole number >= k.all_others (${rules.k.all_others})`);
  }
  let size = 0;
  let competencyIds: string[] | null = null;
  const pairsById = new Map<string, { baseline: number; followUp: number }[]>();
  const participation = {} as Record<Relationship, { baseline: number; followUp: number }>;
  for (const relationship of RELATIONSHIPS) participation[relationship] = { baseline: 0, followUp: 0 };

  return {
    add(leader) {
      size += 1;
      for (const relationship of RELATIONSHIPS) {
        participation[relationship].baseline += leader.baseline.participation[relationship].responses;
        participation[relationship].followUp += leader.followUp?.participation[relationship].responses ?? 0;
      }
      if (competencyIds === null) {
        competencyIds = leader.baseline.competencies.map((c) => c.id);
        for (const id of competencyIds) pairsById.set(id, []);
      }
      for (const id of competencyIds) {
        const before = leader.baseline.competencies.find((c) => c.id === id);
        const after = leader.followUp?.competencies.find((c) => c.id === id);
        const fixed = before && after ? fixedWeightAllOthers(before.groups, after.groups, rules) : null;
        if (fixed) pairsById.get(id)!.push({ baseline: fixed.baseline, followUp: fixed.followUp });
      }
    },

    finish(input) {
      const complement = input.cohortLeaderCount - size;
      if (complement < 0) throw new RangeError('the slice cannot be larger than the cohort');
      if (size < k) return { suppressed: true, reason: 'fewer_than_k', k };
      if (complement > 0 && complement < k) return { suppressed: true, reason: 'complement_fewer_than_k', k };
      const competencies = (competencyIds ?? []).map(
        (id): CohortCompetency | ({ id: string } & CohortSuppressed) => {
          const pairs = pairsById.get(id) ?? [];
          if (pairs.length < k) return { id, suppressed: true, reason: 'fewer_than_k', k };
          const t1 = pairs.map((p) => p.baseline);
          const t2 = pairs.map((p) => p.followUp);
          const paired = pairedChange(t1, t2);
          const sd1 = lookup(input.sd1ByCompetency, id) ?? paired.s1;
          const rxx = lookup(input.rxxByCompetency, id) ?? null;
          let reliableImprovement: ReliableShare | null = null;
          let reliableDeterioration: ReliableShare | null = null;
          if (rxx !== null && sd1 > 0) {
            const verdicts = pairs.map(
              (p) => reliableChange({ delta: p.followUp - p.baseline, sd1, rxx }).verdict,
            );
            const share = (verdict: string): ReliableShare => {
              const count = verdicts.filter((v) => v === verdict).length;
              return { share: count / pairs.length, wilson95: wilson(count, pairs.length) };
            };
            reliableImprovement = share('improved');
            reliableDeterioration = share('deteriorated');
          }
          return {
            id,
            suppressed: false,
            paired,
            sd1,
            rxx,
            reliableImprovement,
            reliableDeterioration,
            warnings: paired.dAv !== null && paired.dAv > LARGE_EFFECT_WARNING ? ['large_effect'] : [],
          };
        },
      );
      const copy = {} as Record<Relationship, { baseline: number; followUp: number }>;
      for (const relationship of RELATIONSHIPS) copy[relationship] = { ...participation[relationship] };
      return { suppressed: false, leaders: size, participation: copy, competencies };
    },
  };
}

/**
 * Cohort change per competency (METHODS §7): paired statistics over the slice's leaders that have a
 * fixed-weight all-others score in both cycles, shares of reliable improvement and deterioration with Wilson
 * intervals, a data-quality warning when d_av > 0.8, and participation per group. The slice is reported only
 * when it has at least `minLeaders` leaders and its complement in the cohort is empty or at least as large
 * (METHODS §2, cohort filters); a competency is reported only when at least `minLeaders` leaders have both
 * scores.
 */
export function buildCohort(input: BuildCohortInput): CohortReport {
  const accumulator = createCohortAccumulator({
    ...(input.rules ? { rules: input.rules } : {}),
    ...(input.minLeaders !== undefined ? { minLeaders: input.minLeaders } : {}),
  });
  for (const leader of input.leaders) accumulator.add(leader);
  return accumulator.finish({
    cohortLeaderCount: input.cohortLeaderCount,
    rxxByCompetency: input.rxxByCompetency,
    ...(input.sd1ByCompetency ? { sd1ByCompetency: input.sd1ByCompetency } : {}),
  });
}
