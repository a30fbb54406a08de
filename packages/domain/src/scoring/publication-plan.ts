import { thresholdFor, type RaterRef } from './anonymity.ts';
import {
  ANONYMOUS_GROUPS,
  RELATIONSHIPS,
  type AnonymityRules,
  type AnonymousGroup,
  type GroupKey,
  type Relationship,
} from './types.ts';

/** One respondent's contribution to one quantity (an item rating or a competency score). */
export interface MeasureEntry extends RaterRef {
  /** The rating or competency score; null when missing. */
  value: number | null;
  /** Counted in naCount: chose N/A (items) or has no competency score (competencies). */
  notApplicable: boolean;
}

/** A set that will be published, with the raters behind it (internal: ids never reach the profile). */
export interface PlannedSet {
  suppressed: false;
  /** Raters with a value. */
  raters: MeasureEntry[];
  /** Relationships whose respondents make up the set (for the N/A share). */
  relationships: Relationship[];
  /** Publish min/max/distribution. */
  spread: boolean;
  merged?: AnonymousGroup[];
}

/** A group that will be published only as a suppression marker. */
export interface PlannedSuppression {
  suppressed: true;
  k: number;
  /** Absent: fewer than k raters. `partial_answers`: see partial-answers.ts (items of a competency only). */
  reason?: 'partial_answers';
}

/** What is published for one quantity, group by group. */
export type MeasurePlan = Record<GroupKey, PlannedSet | PlannedSuppression>;

/**
 * Decides, for one item or competency, which rater sets are published (METHODS §2):
 * - self and manager are shown from n = 1, anonymous groups from their k, all-others from k.all_others;
 * - anonymous groups under k are pooled into "other" when the pool (other and every small group) is safe,
 *   see isSafeAnonymousSet; otherwise they are left out of everything, all-others included;
 * - all-others is exactly the union of the shown non-self sets, so differencing it against them isolates
 *   only shown groups;
 * - ranges and distributions need n >= distributionMinN, and for all-others also that the raters not
 *   covered by a group with a shown distribution are safe at distributionMinN;
 * - `blocked` groups (decided by partialAnswerBlocks for the items of a competency) are suppressed with
 *   reason `partial_answers` after the merging decision and, like any suppressed group, left out of
 *   all-others; all-others itself gets that reason when it falls under k only because of them.
 */
export function planMeasure(
  entries: readonly MeasureEntry[],
  rules: AnonymityRules,
  options: { blocked?: ReadonlySet<AnonymousGroup> } = {},
): MeasurePlan {
  // Written for speed (it runs about a hundred times per profile): plain loops over the five relationships
  // instead of maps, filters and closures. Raters keep the order of `entries` within each relationship, and
  // pooled and composite sets concatenate relationships in RELATIONSHIPS order, as the sums depend on it.
  const self: MeasureEntry[] = [];
  const manager: MeasureEntry[] = [];
  const peer: MeasureEntry[] = [];
  const directReport: MeasureEntry[] = [];
  const other: MeasureEntry[] = [];
  for (const entry of entries) {
    if (entry.value === null) continue;
    switch (entry.relationship) {
      case 'self':
        self.push(entry);
        break;
      case 'manager':
        manager.push(entry);
        break;
      case 'peer':
        peer.push(entry);
        break;
      case 'direct_report':
        directReport.push(entry);
        break;
      case 'other':
        other.push(entry);
        break;
      default:
        break;
    }
  }
  const { k, distributionMinN } = rules;
  const plan = {} as MeasurePlan;
  plan.self = self.length >= 1 ? shownSet(self, ['self'], distributionMinN) : suppressedSet(1);
  plan.manager = manager.length >= 1 ? shownSet(manager, ['manager'], distributionMinN) : suppressedSet(1);
  plan.peer = peer.length >= k.peer ? shownSet(peer, ['peer'], distributionMinN) : suppressedSet(k.peer);
  plan.direct_report =
    directReport.length >= k.direct_report
      ? shownSet(directReport, ['direct_report'], distributionMinN)
      : suppressedSet(k.direct_report);
  plan.other =
    other.length >= k.other ? shownSet(other, ['other'], distributionMinN) : suppressedSet(k.other);

  // Anonymous groups with some raters but fewer than k are pooled into "other" when the pool is safe.
  const peerSmall = peer.length > 0 && peer.length < k.peer;
  const directReportSmall = directReport.length > 0 && directReport.length < k.direct_report;
  const otherSmall = other.length > 0 && other.length < k.other;
  if (peerSmall || directReportSmall || otherSmall) {
    // The pool: "other" and every small group, those with raters, in ANONYMOUS_GROUPS order.
    const counts: [number, number, number] = [
      peerSmall ? peer.length : 0,
      directReportSmall ? directReport.length : 0,
      other.length,
    ];
    if (isSafeCounts(counts, rules, 0)) {
      const merged: AnonymousGroup[] = [];
      let pool: MeasureEntry[] = [];
      if (peerSmall) {
        merged.push('peer');
        pool = pool.concat(peer);
        plan.peer = suppressedSet(k.peer);
      }
      if (directReportSmall) {
        merged.push('direct_report');
        pool = pool.concat(directReport);
        plan.direct_report = suppressedSet(k.direct_report);
      }
      if (other.length > 0) pool = pool.concat(other);
      plan.other = { ...shownSet(pool, ['other', ...merged], distributionMinN), merged };
    }
  }

  let blockedRaters = 0;
  if (options.blocked) {
    for (const group of options.blocked) {
      const set = plan[group];
      if (set.suppressed) continue;
      blockedRaters += set.raters.length;
      plan[group] = { suppressed: true, k: thresholdFor(group, rules), reason: 'partial_answers' };
    }
  }

  // All-others: the union of the shown manager and anonymous sets, in that order.
  let compositeRaters: MeasureEntry[] = [];
  const relationships = new Set<Relationship>();
  // Anonymous raters of the sets without a published spread, per anonymous group.
  const uncovered: [number, number, number] = [0, 0, 0];
  for (const group of COMPOSITE_GROUPS) {
    const set = plan[group];
    if (set.suppressed) continue;
    compositeRaters = compositeRaters.concat(set.raters);
    for (const relationship of set.relationships) relationships.add(relationship);
    if (!set.spread) {
      for (const rater of set.raters) {
        const index = anonymousIndex(rater.relationship);
        if (index >= 0) uncovered[index] = uncovered[index]! + 1;
      }
    }
  }
  if (compositeRaters.length >= k.all_others) {
    plan.all_others = {
      suppressed: false,
      raters: compositeRaters,
      relationships: RELATIONSHIPS.filter((r) => relationships.has(r)),
      spread: compositeRaters.length >= distributionMinN && isSafeCounts(uncovered, rules, distributionMinN),
    };
  } else if (compositeRaters.length + blockedRaters >= k.all_others) {
    plan.all_others = { suppressed: true, k: k.all_others, reason: 'partial_answers' };
  } else {
    plan.all_others = suppressedSet(k.all_others);
  }
  return plan;
}

const COMPOSITE_GROUPS = ['manager', ...ANONYMOUS_GROUPS] as const;

const shownSet = (
  raters: MeasureEntry[],
  relationships: Relationship[],
  distributionMinN: number,
): PlannedSet => ({
  suppressed: false,
  raters,
  relationships,
  spread: raters.length >= distributionMinN,
});

const suppressedSet = (k: number): PlannedSuppression => ({ suppressed: true, k });

/** Index of an anonymous group in ANONYMOUS_GROUPS, -1 for self and manager. */
function anonymousIndex(relationship: Relationship): number {
  switch (relationship) {
    case 'peer':
      return 0;
    case 'direct_report':
      return 1;
    case 'other':
      return 2;
    default:
      return -1;
  }
}

/**
 * isSafeAnonymousSet from the count of raters per anonymous group (in ANONYMOUS_GROUPS order) rather than
 * from the raters: the same decision, without building the set.
 */
function isSafeCounts(
  counts: readonly [number, number, number],
  rules: AnonymityRules,
  minimum: number,
): boolean {
  let groups = 0;
  let total = 0;
  let partsReachK = true;
  let required = Math.max(rules.k.other, minimum);
  for (let g = 0; g < 3; g += 1) {
    const count = counts[g]!;
    if (count === 0) continue;
    const k = rules.k[ANONYMOUS_GROUPS[g]!];
    groups += 1;
    total += count;
    if (count < Math.max(k, minimum)) partsReachK = false;
    if (k > required) required = k;
  }
  if (groups === 0 || partsReachK) return true;
  if (groups < 2) return false;
  return total >= required;
}
