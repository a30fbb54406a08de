import { mean } from 'simple-statistics';

import { shownStats, type Profile } from './profile.ts';
import {
  agreementCategories,
  MIN_LEADERS_FOR_CATEGORIES,
  type AgreementCategory,
  type LeaderSelfOther,
} from './self-other.ts';

/** Leaders per Atwater & Yammarino category. */
export type AgreementCounts = Record<AgreementCategory, number>;

/** Categories of one score (overall or one competency) over a cohort: counts only, never who. */
export interface AgreementSummary {
  /** Leaders with a shown self and a shown all-others score. */
  n: number;
  /** Null (not shown) when n is under the cohort minimum. */
  counts: AgreementCounts | null;
  /** The cohort statistics the categories were cut at; null when not shown. */
  cutoffs: { meanGap: number; sdGap: number; meanAllOthers: number } | null;
}

/** Self-other agreement categories of one cycle's cohort, overall and per competency. */
export interface CohortAgreement {
  /** Smallest cohort the categories are given for (METHODS §3: 10). */
  minLeaders: number;
  overall: AgreementSummary;
  competencies: ({ id: string } & AgreementSummary)[];
}

const CATEGORIES: readonly AgreementCategory[] = [
  'over_estimator',
  'under_estimator',
  'in_agreement_good',
  'in_agreement_poor',
];

function summarise(leaders: readonly LeaderSelfOther[], minLeaders: number): AgreementSummary {
  const result = agreementCategories(leaders, { minLeaders });
  if (!result.cutoffs) return { n: result.n, counts: null, cutoffs: null };
  const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as AgreementCounts;
  for (const leader of result.leaders) if (leader.category) counts[leader.category] += 1;
  return { n: result.n, counts, cutoffs: result.cutoffs };
}

/** A leader's shown self and all-others score per competency: all the categories need of a profile. */
export type SelfOtherScores = { id: string; self: number | null; allOthers: number | null }[];

/** The scores {@link cohortAgreementFromScores} needs of one profile (keep these, not the profile). */
export function selfOtherScores(profile: Pick<Profile, 'competencies'>): SelfOtherScores {
  return profile.competencies.map((c) => ({
    id: c.id,
    self: shownStats(c.groups, 'self')?.mean ?? null,
    allOthers: shownStats(c.groups, 'all_others')?.mean ?? null,
  }));
}

/**
 * Atwater & Yammarino categories (METHODS §3) over the leaders of one cycle, from their published
 * profiles: per competency on the shown self and shown (rater-weighted) all-others scores, and overall on
 * the mean over the competencies where the leader has both, so the overall gap D is the mean of the
 * competency gaps and the "good"/"poor" split uses the mean all-others score over the same competencies.
 * Only counts per category are returned; with fewer than `minLeaders` (default 10) leaders with both
 * scores a summary has no counts.
 */
export function cohortAgreement(
  profiles: readonly Pick<Profile, 'competencies'>[],
  options: { minLeaders?: number } = {},
): CohortAgreement {
  return cohortAgreementFromScores(profiles.map(selfOtherScores), options);
}

/** {@link cohortAgreement} from each leader's {@link selfOtherScores}, for callers that stream profiles. */
export function cohortAgreementFromScores(
  leaders: readonly SelfOtherScores[],
  options: { minLeaders?: number } = {},
): CohortAgreement {
  const minLeaders = options.minLeaders ?? MIN_LEADERS_FOR_CATEGORIES;
  const ids = leaders[0]?.map((c) => c.id) ?? [];
  const perCompetency = new Map<string, LeaderSelfOther[]>(ids.map((id) => [id, []]));
  const overall: LeaderSelfOther[] = [];
  leaders.forEach((scores, index) => {
    const leaderId = String(index);
    const selfs: number[] = [];
    const others: number[] = [];
    for (const { id, self, allOthers } of scores) {
      perCompetency.get(id)?.push({ leaderId, self, allOthers });
      if (self !== null && allOthers !== null) {
        selfs.push(self);
        others.push(allOthers);
      }
    }
    overall.push(
      selfs.length > 0
        ? { leaderId, self: mean(selfs), allOthers: mean(others) }
        : { leaderId, self: null, allOthers: null },
    );
  });
  return {
    minLeaders,
    overall: summarise(overall, minLeaders),
    competencies: ids.map((id) => ({ id, ...summarise(perCompetency.get(id) ?? [], minLeaders) })),
  };
}
