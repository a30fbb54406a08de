import { mean } from 'simple-statistics';

import { thresholdFor, validateAnonymityRules } from './anonymity.ts';
import { buildComments, type QuestionComments } from './comments.ts';
import {
  answeredRating,
  assertValidResponses,
  choseNotApplicable,
  raterCompetencyScore,
} from './competency-scores.ts';
import { describeGroup } from './group-stats.ts';
import { partialAnswerBlocks } from './partial-answers.ts';
import { planMeasure, type MeasureEntry, type MeasurePlan } from './publication-plan.ts';
import {
  agreementBand,
  isLowConsensus,
  rwgFromVariance,
  rwgJ,
  type AgreementBand,
} from './rater-agreement.ts';
import { selfOtherAnalysis, type SelfOtherOptions, type SelfOtherResult } from './self-other.ts';
import {
  GROUP_KEYS,
  RELATIONSHIPS,
  type AnonymityRules,
  type GroupKey,
  type GroupResult,
  type GroupResults,
  type Relationship,
  type ScoringInstrument,
  type ScoringResponse,
  type ShownGroup,
} from './types.ts';

/** Groups whose internal agreement is reported (self is one rater). */
export const AGREEMENT_GROUPS = ['manager', 'peer', 'direct_report', 'other', 'all_others'] as const;
/** A group with an agreement entry. */
export type AgreementGroup = (typeof AGREEMENT_GROUPS)[number];

/** Within-group agreement on one competency (METHODS §4), from shown statistics only. */
export interface GroupAgreement {
  /** rwg of the raters' competency scores. */
  rwg: number;
  rwgBand: AgreementBand;
  /** rwg(j) over the competency's items where this group is shown with an SD; null when none is. */
  rwgJ: number | null;
  rwgJBand: AgreementBand | null;
  /** Items that entered rwg(j). */
  rwgJItems: number;
  /** rwg < .50 or SD >= 1.0. */
  lowConsensus: boolean;
}

/** One item: every group's statistics or suppression marker. */
export interface ItemProfile {
  id: string;
  groups: GroupResults;
}

/** One competency with its items and rater agreement. */
export interface CompetencyProfile {
  id: string;
  title: string;
  groups: GroupResults;
  items: ItemProfile[];
  /** Null where the group is suppressed or has fewer than 2 raters. */
  agreement: Record<AgreementGroup, GroupAgreement | null>;
}

/** Responses per relationship; counts are known to the admin anyway, so they are published as such. */
export interface GroupParticipation {
  responses: number;
  k: number;
  /** responses >= k: the group can appear under its own label (per item it still needs k after N/A). */
  shown: boolean;
}

/** An item ranked by its all-others mean. */
export interface RankedItem {
  itemId: string;
  competencyId: string;
  mean: number;
  n: number;
}

/** A leader's report data: JSON-serialisable, containing nothing derived from suppressed groups. */
export interface Profile {
  scale: { min: number; max: number };
  anonymity: AnonymityRules;
  participation: Record<Relationship, GroupParticipation>;
  competencies: CompetencyProfile[];
  comments: QuestionComments[];
  selfOther: { competencies: SelfOtherResult; items: SelfOtherResult };
  /** Up to five items with the highest all-others mean, ties in instrument order. */
  topItems: RankedItem[];
  /** Up to five items with the lowest all-others mean, ties in instrument order. */
  bottomItems: RankedItem[];
}

/** Inputs of {@link buildProfile}. */
export interface BuildProfileInput {
  instrument: ScoringInstrument;
  responses: readonly ScoringResponse[];
  rules: AnonymityRules;
  /** Seeds the comment shuffle; use something stable per report, e.g. subject id + version. */
  seed: string;
  selfOtherOptions?: SelfOtherOptions;
}

const TOP_COUNT = 5;

const compareIds = (a: ScoringResponse, b: ScoringResponse) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** One quantity's entries and publication plan. */
export interface PlannedMeasure {
  id: string;
  entries: MeasureEntry[];
  plan: MeasurePlan;
}

/** A competency's plan with the plans of its items. */
export interface PlannedCompetency extends PlannedMeasure {
  items: PlannedMeasure[];
}

/**
 * The publication plan of every competency and item (who is in which published set). Internal to scoring:
 * it holds response ids. Rules and responses are assumed validated. Each measure is planned on its own
 * (planMeasure), then the items' group sets that would single out raters who answered only part of the
 * competency when read together with the competency's sets are suppressed (partialAnswerBlocks).
 */
export function planProfile(
  instrument: ScoringInstrument,
  responses: readonly ScoringResponse[],
  rules: AnonymityRules,
): PlannedCompetency[] {
  return instrument.competencies.map((competency) => {
    const itemIds = competency.items.map((item) => item.id);
    const itemEntries = itemIds.map((itemId) =>
      responses.map((r) => ({
        id: r.id,
        relationship: r.relationship,
        value: answeredRating(r.ratings, itemId),
        notApplicable: choseNotApplicable(r.ratings, itemId),
      })),
    );
    const entries = responses.map((r) => {
      const value = raterCompetencyScore(r.ratings, itemIds);
      return { id: r.id, relationship: r.relationship, value, notApplicable: value === null };
    });
    const plan = planMeasure(entries, rules);
    const blocks = partialAnswerBlocks(
      itemIds,
      plan,
      itemEntries.map((e) => planMeasure(e, rules)),
      responses,
      rules,
    );
    const items = itemIds.map((itemId, j) => {
      const e = itemEntries[j]!;
      return { id: itemId, entries: e, plan: planMeasure(e, rules, { blocked: blocks[j] }) };
    });
    return { id: competency.id, entries, plan, items };
  });
}

function publish(
  plan: MeasurePlan,
  entries: readonly MeasureEntry[],
  scale: { min: number; max: number },
  kind: 'item' | 'competency',
): GroupResults {
  const results = {} as GroupResults;
  for (const group of GROUP_KEYS) {
    const set = plan[group];
    if (set.suppressed) {
      results[group] = { suppressed: true, reason: set.reason ?? 'fewer_than_k', k: set.k };
      continue;
    }
    const members = entries.filter((e) => set.relationships.includes(e.relationship));
    const stats = describeGroup(
      set.raters.map((r) => r.value ?? Number.NaN),
      {
        naCount: members.filter((e) => e.notApplicable).length,
        respondents: members.length,
        scale,
        withRange: set.spread,
        withDistribution: set.spread && kind === 'item',
      },
    );
    if (group === 'other' && set.merged && set.merged.length > 0) stats.merged = set.merged;
    if (group === 'all_others') {
      stats.groups = set.relationships.filter((r): r is Exclude<Relationship, 'self'> => r !== 'self');
    }
    results[group] = stats;
  }
  return results;
}

const shown = (result: GroupResult | undefined): ShownGroup | null =>
  result && !result.suppressed ? result : null;

// Derived from the published SDs only, so it cannot carry information from suppressed raters.
function groupAgreement(
  competency: GroupResults,
  items: readonly ItemProfile[],
  group: AgreementGroup,
  scalePoints: number,
): GroupAgreement | null {
  const stats = shown(competency[group]);
  if (!stats || stats.sd === null) return null;
  const rwgValue = rwgFromVariance(stats.sd ** 2, scalePoints);
  const itemVariances = items.flatMap((item) => {
    const itemStats = shown(item.groups[group]);
    return itemStats && itemStats.sd !== null ? [itemStats.sd ** 2] : [];
  });
  const rwgJValue =
    itemVariances.length > 0 ? rwgJ(itemVariances.length, mean(itemVariances), scalePoints) : null;
  return {
    rwg: rwgValue,
    rwgBand: agreementBand(rwgValue),
    rwgJ: rwgJValue,
    rwgJBand: rwgJValue === null ? null : agreementBand(rwgJValue),
    rwgJItems: itemVariances.length,
    lowConsensus: isLowConsensus(rwgValue, stats.sd),
  };
}

function selfOtherPairs(entries: readonly { id: string; groups: GroupResults }[]) {
  return entries.flatMap(({ id, groups }) => {
    const self = shown(groups.self);
    const allOthers = shown(groups.all_others);
    return self && allOthers ? [{ id, self: self.mean, allOthers: allOthers.mean }] : [];
  });
}

/**
 * Builds a leader's profile (METHODS §1-§4) from raw responses: per competency and item, statistics of every
 * group that passes the anonymity rules and a suppression marker for every other, participation, comments,
 * self-other gaps with blind spots and hidden strengths, rater agreement and the top and bottom items.
 * Everything after the group statistics is computed from the published statistics, never from raw data, and
 * the output does not depend on the order of `responses`.
 */
export function buildProfile(input: BuildProfileInput): Profile {
  const rules = validateAnonymityRules(input.rules);
  const { instrument } = input;
  assertValidResponses(instrument, input.responses);
  // Sorted by id so that floating-point sums, and hence the output, do not depend on input order.
  const responses = [...input.responses].sort(compareIds);
  const scale = { min: instrument.scale.min, max: instrument.scale.max };
  const scalePoints = scale.max - scale.min + 1;

  const competencies: CompetencyProfile[] = planProfile(instrument, responses, rules).map((planned, c) => {
    const items: ItemProfile[] = planned.items.map(({ id, plan, entries }) => ({
      id,
      groups: publish(plan, entries, scale, 'item'),
    }));
    const groups = publish(planned.plan, planned.entries, scale, 'competency');
    const agreement = {} as Record<AgreementGroup, GroupAgreement | null>;
    for (const group of AGREEMENT_GROUPS)
      agreement[group] = groupAgreement(groups, items, group, scalePoints);
    return {
      id: planned.id,
      title: instrument.competencies[c]?.title ?? planned.id,
      groups,
      items,
      agreement,
    };
  });

  const participation = {} as Record<Relationship, GroupParticipation>;
  for (const relationship of RELATIONSHIPS) {
    const count = responses.filter((r) => r.relationship === relationship).length;
    const k = thresholdFor(relationship, rules);
    participation[relationship] = { responses: count, k, shown: count >= k };
  }

  const ranked: RankedItem[] = competencies.flatMap((competency) =>
    competency.items.flatMap((item) => {
      const allOthers = shown(item.groups.all_others);
      return allOthers
        ? [{ itemId: item.id, competencyId: competency.id, mean: allOthers.mean, n: allOthers.n }]
        : [];
    }),
  );
  // Array.prototype.sort is stable, so ties keep instrument order in both lists.
  const topItems = [...ranked].sort((a, b) => b.mean - a.mean).slice(0, TOP_COUNT);
  const bottomItems = [...ranked].sort((a, b) => a.mean - b.mean).slice(0, TOP_COUNT);

  return {
    scale,
    anonymity: { k: { ...rules.k }, distributionMinN: rules.distributionMinN },
    participation,
    competencies,
    comments: buildComments({ instrument, responses, rules, seed: input.seed }),
    selfOther: {
      competencies: selfOtherAnalysis(selfOtherPairs(competencies), input.selfOtherOptions),
      items: selfOtherAnalysis(selfOtherPairs(competencies.flatMap((c) => c.items)), input.selfOtherOptions),
    },
    topItems,
    bottomItems,
  };
}

/** The published statistics of a group, or null when suppressed. */
export function shownStats(results: GroupResults, group: GroupKey): ShownGroup | null {
  return shown(results[group]);
}
