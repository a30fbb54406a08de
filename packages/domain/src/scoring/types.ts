/** Who a response comes from, relative to the leader being rated. */
export type Relationship = 'self' | 'manager' | 'peer' | 'direct_report' | 'other';

/** Every relationship, in report order. */
export const RELATIONSHIPS = [
  'self',
  'manager',
  'peer',
  'direct_report',
  'other',
] as const satisfies readonly Relationship[];

/** Groups whose members are promised anonymity: they are shown only at or above their k. */
export const ANONYMOUS_GROUPS = ['peer', 'direct_report', 'other'] as const satisfies readonly Relationship[];

/** An anonymous relationship. */
export type AnonymousGroup = (typeof ANONYMOUS_GROUPS)[number];

/** Everyone but self, as one composite. */
export type AllOthers = 'all_others';

/** A key of a published aggregate: one relationship or the all-others composite. */
export type GroupKey = Relationship | AllOthers;

/** Report order of the published aggregates of one item or competency. */
export const GROUP_KEYS = [...RELATIONSHIPS, 'all_others'] as const satisfies readonly GroupKey[];

/** Minimal instrument shape the scoring needs (the real instrument type has more fields and satisfies this). */
export interface ScoringInstrument {
  /** Rating scale bounds, e.g. 1..5; A = max - min + 1 scale points. */
  scale: { min: number; max: number };
  competencies: { id: string; title: string; items: { id: string }[] }[];
  questions: { id: string }[];
}

/** One submitted questionnaire. */
export interface ScoringResponse {
  /** Random response uuid; used to tell raters apart, never published. */
  id: string;
  relationship: Relationship;
  /** itemId -> rating on the scale; null = N/A ("can't say"); a missing key = blank (also missing). */
  ratings: Record<string, number | null>;
  /** questionId -> free text. */
  comments: Record<string, string>;
}

/** Minimum group sizes (k) per survey. */
export interface AnonymityRules {
  /** Anonymous groups must be >= 3, all-others >= 4 (validated). */
  k: { peer: number; direct_report: number; other: number; all_others: number };
  /** Smallest n at which distributions, ranges and min/max are shown (>= 4, validated). */
  distributionMinN: number;
}

/** The CCL thresholds: 3 per anonymous group, 4 for all-others, distributions from n = 4. */
export const DEFAULT_ANONYMITY: AnonymityRules = Object.freeze({
  k: Object.freeze({ peer: 3, direct_report: 3, other: 3, all_others: 4 }),
  distributionMinN: 4,
});

/**
 * Why a group is not shown:
 * - `fewer_than_k`: fewer raters than the group's threshold k (after N/A, per item);
 * - `partial_answers` (items only): the group reaches k on the item, but some of its raters answered only
 *   part of the competency, so the item numbers combined with the published competency score would
 *   single out those raters (see partial-answers.ts). The competency-level numbers are still shown.
 */
export type SuppressionReason = 'fewer_than_k' | 'partial_answers';

/** What is published in place of a group that is not shown: no n, no mean, no number derived from it. */
export interface SuppressedGroup {
  suppressed: true;
  reason: SuppressionReason;
  /** The group's threshold (1 for self and manager). */
  k: number;
}

/** Count of ratings at one scale point. */
export interface DistributionBin {
  value: number;
  count: number;
}

/** Statistics of a group that reached its threshold. */
export interface ShownGroup {
  suppressed: false;
  /** Raters with a value (after N/A and blanks). */
  n: number;
  mean: number;
  /** Sample SD (n - 1); null when n < 2. */
  sd: number | null;
  /**
   * Items: raters of the published set who chose N/A. Competencies: raters of the published set without a
   * competency score (fewer than half the items answered).
   */
  naCount: number;
  /** naCount over the set's respondents. */
  naShare: number;
  /** naShare > .25 (METHODS §1). */
  naFlag: boolean;
  /** Only when n >= distributionMinN and no differencing would reveal a smaller set's spread. */
  min?: number;
  max?: number;
  /** Items only: count per scale point, same condition as min/max. */
  distribution?: DistributionBin[];
  /** On "other": the small anonymous groups whose ratings were pooled into it to reach k. */
  merged?: AnonymousGroup[];
  /** On "all_others": the relationships whose raters make up the composite. */
  groups?: Exclude<Relationship, 'self'>[];
}

/** A published aggregate or its suppression marker. */
export type GroupResult = ShownGroup | SuppressedGroup;

/** Results of one item or competency for every group and all-others. */
export type GroupResults = Record<GroupKey, GroupResult>;
