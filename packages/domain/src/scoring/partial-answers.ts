import { answeredRating } from './competency-scores.ts';
import type { MeasurePlan, PlannedSet } from './publication-plan.ts';
import {
  ANONYMOUS_GROUPS,
  type AnonymityRules,
  type AnonymousGroup,
  type Relationship,
  type ScoringResponse,
} from './types.ts';

/*
 * Why item numbers and competency scores cannot always be published side by side.
 *
 * Per group, readers see the item sums s_j (n_j x mean_j over the raters who answered item j) and the
 * competency sum C (n x mean over the raters' competency scores c_r = (1/m_r) x the sum of the m_r items r
 * answered, counted when m_r >= J/2). When every rater answered all J items, J C = sum_j s_j and nothing is
 * new. Otherwise J C - sum_j s_j = sum over the raters with 0 < m_r < J of (J/m_r - 1) T_r (or -T_r when
 * r has no score), T_r the rater's item total: a combination of those raters alone. More generally, any
 * a C + sum_j b_j s_j puts weight a/m_r + b_j on rater r's item j, and r drops out of it exactly when
 * b_j = -a/m_r on every item r answered (b_j = 0 on an unpublished item). Choosing b_j = -a/m* on a set of
 * items I removes the raters with m* answers all inside I (and the raters without a score whose items lie
 * outside I); whoever is left is isolated. Two such "levels" cannot both remove scored raters (they need
 * disjoint item sets of at least J/2 items each, with different m), so these choices are all there is.
 * Example: four full answerers and one peer who skipped one item: b_j = -a/J removes the four and leaves the
 * skipper alone. Also: one full answerer and four who skipped the same item: b_j = -a/3 on the other items
 * leaves the full answerer alone, so "at least k partial answerers" is not enough on its own.
 *
 * The rule, per competency (partialAnswerBlocks):
 * 1. An item-level group set is kept only if its relationships are exactly those of a competency-level set
 *    that is shown (the same rater pool on both levels), or are disjoint from every shown competency-level
 *    set (then its raters' items meet no competency score). A different pool on the two levels (e.g.
 *    peers merged into "other" on one item only, because someone skipped it) would let the competency
 *    score split the item's pool: it is suppressed.
 * 2. For each competency-level set B whose items are kept, every combination above must leave either nobody
 *    or at least K_B raters of B (K_B: B's k; for a merged "other", the largest k of the groups it pools and
 *    k.other, so that any subset of that size is safe). If one does not, all of B's item numbers of the
 *    competency are suppressed; the competency number stays.
 * All-others is the union of the shown group sets plus the manager on both levels, so it adds no
 * information: planMeasure leaves a suppressed group out of it on that item, as it does for groups under k.
 * Self and manager are not anonymous and need nothing. With a = 0 a combination is a sum of whole item sets,
 * each already at k. Per-item n and N/A counts are counts of answer patterns, not ratings, and are published
 * only with shown numbers. This is a first-moment (sum) argument: SDs, ranges and distributions keep the
 * existing n >= distributionMinN and differencing rules and are withheld with the item numbers they belong to.
 */

/** Relationships behind a shown set, as a sorted key. */
const poolKey = (set: PlannedSet) => [...set.relationships].sort().join('+');

/** The size from which every subset of the set's raters is safe (see isSafeAnonymousSet). */
function robustK(group: AnonymousGroup, set: PlannedSet, rules: AnonymityRules): number {
  if (group !== 'other') return rules.k[group];
  return Math.max(rules.k.other, ...(set.merged ?? []).map((g) => rules.k[g]));
}

/** Enumerating subsets of the published items is exponential; above this, only full answerers pass. */
const MAX_ENUMERATED_ITEMS = 16;

const bitCount = (mask: number) => {
  let count = 0;
  for (let m = mask; m !== 0; m &= m - 1) count += 1;
  return count;
};

const toMask = (flags: readonly boolean[]) => flags.reduce((mask, on, j) => (on ? mask | (1 << j) : mask), 0);

/**
 * Whether a group's item sums (on the `published` items) and its competency sum can be combined to
 * isolate fewer than `k` of its raters, but at least one. `answered` holds, per rater of the group with at
 * least one answer in the competency, which of the competency's items the rater answered.
 */
export function partialAnswersIsolate(
  answered: readonly (readonly boolean[])[],
  published: readonly boolean[],
  k: number,
): boolean {
  const itemCount = published.length;
  if (!published.includes(true)) return false;
  if (itemCount > MAX_ENUMERATED_ITEMS) return answered.some((flags) => flags.includes(false));
  const pub = toMask(published);
  const masks = answered.map(toMask);
  const counts = masks.map(bitCount);
  const scored = (m: number) => m > 0 && m * 2 >= itemCount;
  const levels = [...new Set(counts.filter(scored))];
  for (const level of levels) {
    // Every subset I of the published items (b_j = -a/level on I, 0 elsewhere), the empty set last.
    for (let items = pub; ; items = (items - 1) & pub) {
      if (bitCount(items) >= level) {
        let removed = 0;
        let removedScored = 0;
        masks.forEach((mask, r) => {
          const m = counts[r]!;
          if (scored(m)) {
            if (m === level && (mask & ~items) === 0) {
              removed += 1;
              removedScored += 1;
            }
          } else if ((mask & items) === 0) {
            removed += 1;
          }
        });
        // With no scored rater removed, what is left contains the whole competency set, which is safe.
        // With nobody left, the combination is 0, or (keeping some N/A items out of I) contains a whole
        // published item set, which is safe too.
        const left = masks.length - removed;
        if (removedScored > 0 && left > 0 && left < k) return true;
      }
      if (items === 0) break;
    }
  }
  return false;
}

/**
 * For one competency: per item (in order), the anonymous groups whose item-level numbers must not be
 * published next to the competency-level ones (rules 1 and 2 above). `itemPlans` are the items' plans
 * without any blocking.
 */
export function partialAnswerBlocks(
  itemIds: readonly string[],
  competencyPlan: MeasurePlan,
  itemPlans: readonly MeasurePlan[],
  responses: readonly ScoringResponse[],
  rules: AnonymityRules,
  /** Per response, which of the items it answered (answeredRating not null); derived when absent. */
  answeredItems?: readonly (readonly boolean[])[],
): Set<AnonymousGroup>[] {
  const blocks = itemPlans.map(() => new Set<AnonymousGroup>());
  const shownSets: { group: AnonymousGroup; set: PlannedSet }[] = [];
  const covered = new Set<Relationship>();
  for (const group of ANONYMOUS_GROUPS) {
    const set = competencyPlan[group];
    if (set.suppressed) continue;
    shownSets.push({ group, set });
    for (const relationship of set.relationships) covered.add(relationship);
  }
  // Per shown group: the items whose set has the same pool as the competency's set of that group.
  const matching = new Map<AnonymousGroup, boolean[]>();
  for (const { group } of shownSets) matching.set(group, new Array<boolean>(itemPlans.length).fill(false));
  for (let j = 0; j < itemPlans.length; j += 1) {
    const plan = itemPlans[j]!;
    for (const group of ANONYMOUS_GROUPS) {
      const set = plan[group];
      if (set.suppressed) continue;
      // Shown competency-level sets have distinct pools, so at most one has this set's pool.
      const same = shownSets.find((s) => samePool(s.set, set));
      if (same && same.group === group) {
        matching.get(group)![j] = true;
      } else if (set.relationships.some((r) => covered.has(r))) {
        blocks[j]!.add(group);
      }
    }
  }
  for (const { group, set } of shownSets) {
    const published = matching.get(group)!;
    const answered: (readonly boolean[])[] = [];
    responses.forEach((r, i) => {
      if (!set.relationships.includes(r.relationship)) return;
      const flags = answeredItems?.[i] ?? itemIds.map((itemId) => answeredRating(r.ratings, itemId) !== null);
      if (flags.includes(true)) answered.push(flags);
    });
    if (partialAnswersIsolate(answered, published, robustK(group, set, rules))) {
      published.forEach((on, j) => {
        if (on) blocks[j]!.add(group);
      });
    }
  }
  return blocks;
}

/** Whether two sets pool the same relationships (poolKey equality, without building the keys). */
function samePool(a: PlannedSet, b: PlannedSet): boolean {
  if (a.relationships.length !== b.relationships.length) return false;
  return a.relationships.length === 1 ? a.relationships[0] === b.relationships[0] : poolKey(a) === poolKey(b);
}
