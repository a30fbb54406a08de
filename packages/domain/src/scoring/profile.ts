import { mean } from 'simple-statistics';

import { thresholdFor, validateAnonymityRules } from './anonymity.ts';
import { buildComments, type QuestionComments } from './comments.ts';
import { assertValidResponses } from './competency-scores.ts';
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

/** Whether two responses share an id; `responses` sorted by id. */
function hasDuplicateIds(responses: readonly ScoringResponse[]): boolean {
  for (let r = 1; r < responses.length; r += 1) if (responses[r]!.id === responses[r - 1]!.id) return true;
  return false;
}

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
  ratings: readonly MeasureEntry[][][] = ratingEntries(instrument, responses),
): PlannedCompetency[] {
  return instrument.competencies.map((competency, c) => {
    const itemIds = competency.items.map((item) => item.id);
    // Each rating is looked up once (ratingEntries); the competency scores and the answer patterns
    // partialAnswerBlocks needs are derived from the item entries.
    const itemEntries = ratings[c]!;
    const answered: boolean[][] = new Array(responses.length);
    const entries: MeasureEntry[] = new Array(responses.length);
    for (let r = 0; r < responses.length; r += 1) {
      const flags: boolean[] = new Array(itemEntries.length);
      for (let j = 0; j < itemEntries.length; j += 1) flags[j] = itemEntries[j]![r]!.value !== null;
      answered[r] = flags;
      const { id, relationship } = responses[r]!;
      const value = competencyScore(itemEntries, r);
      entries[r] = { id, relationship, value, notApplicable: value === null };
    }
    const plan = planMeasure(entries, rules);
    const unblocked = itemEntries.map((e) => planMeasure(e, rules));
    const blocks = partialAnswerBlocks(itemIds, plan, unblocked, responses, rules, answered);
    const items = itemIds.map((itemId, j) => {
      const e = itemEntries[j]!;
      const blocked = blocks[j]!;
      // With nothing blocked, planning again would give the same plan.
      return {
        id: itemId,
        entries: e,
        plan: blocked.size > 0 ? planMeasure(e, rules, { blocked }) : unblocked[j]!,
      };
    });
    return { id: competency.id, entries, plan, items };
  });
}

/** Per competency and item (instrument order), every response's rating of the item, in response order. */
function ratingEntries(
  instrument: ScoringInstrument,
  responses: readonly ScoringResponse[],
): MeasureEntry[][][] {
  return instrument.competencies.map((competency) =>
    competency.items.map((item) => itemMeasureEntries(responses, item.id)),
  );
}

/** Whether every rating is a whole number on the scale (assertValidResponses' check, on the entries). */
function ratingsOnScale(ratings: readonly MeasureEntry[][][], scale: { min: number; max: number }): boolean {
  for (const competency of ratings) {
    for (const item of competency) {
      for (const { value } of item) {
        if (value !== null && !(Number.isInteger(value) && value >= scale.min && value <= scale.max))
          return false;
      }
    }
  }
  return true;
}

/** Every response's rating of one item (answeredRating, choseNotApplicable), in response order. */
function itemMeasureEntries(responses: readonly ScoringResponse[], itemId: string): MeasureEntry[] {
  const entries: MeasureEntry[] = new Array(responses.length);
  for (let r = 0; r < responses.length; r += 1) {
    const { id, relationship, ratings } = responses[r]!;
    // hasOwn, as in answeredRating: an item id like "constructor" must not find anything on the prototype.
    const present = Object.hasOwn(ratings, itemId);
    const rating = present ? ratings[itemId] : undefined;
    entries[r] = {
      id,
      relationship,
      value: typeof rating === 'number' ? rating : null,
      notApplicable: present && rating === null,
    };
  }
  return entries;
}

/** raterCompetencyScore of response `r` from the competency's item entries (same items, same order). */
function competencyScore(itemEntries: readonly MeasureEntry[][], r: number): number | null {
  const answered: number[] = [];
  for (const entries of itemEntries) {
    const value = entries[r]!.value;
    if (value !== null) answered.push(value);
  }
  if (answered.length === 0 || answered.length * 2 < itemEntries.length) return null;
  return mean(answered);
}

/** Per relationship (RELATIONSHIPS order): respondents, and those of them counted as N/A, of one measure. */
function relationshipCounts(entries: readonly MeasureEntry[]) {
  const respondents = [0, 0, 0, 0, 0];
  const notApplicable = [0, 0, 0, 0, 0];
  for (const entry of entries) {
    const index = RELATIONSHIP_INDEX.get(entry.relationship);
    if (index === undefined) continue;
    respondents[index] = respondents[index]! + 1;
    if (entry.notApplicable) notApplicable[index] = notApplicable[index]! + 1;
  }
  return { respondents, notApplicable };
}

// A map, so that nothing on Object.prototype can pass for a relationship.
const RELATIONSHIP_INDEX: ReadonlyMap<string, number> = new Map(
  RELATIONSHIPS.map((relationship, i) => [relationship, i]),
);

function publish(
  plan: MeasurePlan,
  entries: readonly MeasureEntry[],
  scale: { min: number; max: number },
  kind: 'item' | 'competency',
): GroupResults {
  const results = {} as GroupResults;
  const counts = relationshipCounts(entries);
  for (const group of GROUP_KEYS) {
    const set = plan[group];
    if (set.suppressed) {
      results[group] = { suppressed: true, reason: set.reason ?? 'fewer_than_k', k: set.k };
      continue;
    }
    // The set's respondents are the entries of its relationships (the N/A share's denominator).
    let respondents = 0;
    let naCount = 0;
    for (const relationship of set.relationships) {
      const index = RELATIONSHIP_INDEX.get(relationship);
      if (index === undefined) continue;
      respondents += counts.respondents[index]!;
      naCount += counts.notApplicable[index]!;
    }
    const values: number[] = new Array(set.raters.length);
    for (let i = 0; i < values.length; i += 1) values[i] = set.raters[i]!.value ?? Number.NaN;
    const stats = describeGroup(values, {
      naCount,
      respondents,
      scale,
      withRange: set.spread,
      withDistribution: set.spread && kind === 'item',
    });
    if (group === 'other' && set.merged && set.merged.length > 0) stats.merged = set.merged;
    if (group === 'all_others') {
      stats.groups = set.relationships.filter(notSelf);
    }
    results[group] = stats;
  }
  return results;
}

const notSelf = (r: Relationship): r is Exclude<Relationship, 'self'> => r !== 'self';

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
  const itemVariances: number[] = [];
  for (const item of items) {
    const itemStats = shown(item.groups[group]);
    if (itemStats && itemStats.sd !== null) itemVariances.push(itemStats.sd ** 2);
  }
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
  // Sorted by id so that floating-point sums, and hence the output, do not depend on input order.
  const responses = [...input.responses].sort(compareIds);
  const scale = { min: instrument.scale.min, max: instrument.scale.max };
  const scalePoints = scale.max - scale.min + 1;
  // assertValidResponses' checks on the ratings as scoring reads them (each looked up once); when one
  // fails, assertValidResponses itself throws, with its message.
  const ratings = ratingEntries(instrument, responses);
  if (!ratingsOnScale(ratings, scale) || hasDuplicateIds(responses)) {
    assertValidResponses(instrument, input.responses);
  }

  const competencies: CompetencyProfile[] = planProfile(instrument, responses, rules, ratings).map(
    (planned, c) => {
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
    },
  );

  const participation = {} as Record<Relationship, GroupParticipation>;
  for (const relationship of RELATIONSHIPS) {
    let count = 0;
    for (const response of responses) if (response.relationship === relationship) count += 1;
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
