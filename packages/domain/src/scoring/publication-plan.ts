import { isAnonymous, isSafeAnonymousSet, thresholdFor, type RaterRef } from './anonymity.ts';
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
  const valued = new Map<Relationship, MeasureEntry[]>(RELATIONSHIPS.map((r) => [r, []]));
  for (const entry of entries) if (entry.value !== null) valued.get(entry.relationship)?.push(entry);
  const ratersOf = (relationship: Relationship) => valued.get(relationship) ?? [];
  const suppressed = (group: GroupKey): PlannedSuppression => ({
    suppressed: true,
    k: thresholdFor(group, rules),
  });
  const shown = (raters: MeasureEntry[], relationships: Relationship[]): PlannedSet => ({
    suppressed: false,
    raters,
    relationships,
    spread: raters.length >= rules.distributionMinN,
  });

  const plan = {} as MeasurePlan;
  for (const relationship of ['self', 'manager'] as const) {
    const raters = ratersOf(relationship);
    plan[relationship] = raters.length >= 1 ? shown(raters, [relationship]) : suppressed(relationship);
  }

  const small = ANONYMOUS_GROUPS.filter((g) => ratersOf(g).length > 0 && ratersOf(g).length < rules.k[g]);
  for (const group of ANONYMOUS_GROUPS) {
    plan[group] =
      ratersOf(group).length >= rules.k[group] ? shown(ratersOf(group), [group]) : suppressed(group);
  }
  if (small.length > 0) {
    const poolGroups = ANONYMOUS_GROUPS.filter((g) => g === 'other' || small.includes(g)).filter(
      (g) => ratersOf(g).length > 0,
    );
    const pool = poolGroups.flatMap((g) => ratersOf(g));
    if (isSafeAnonymousSet(pool, rules)) {
      const merged = poolGroups.filter((g) => g !== 'other');
      for (const group of merged) plan[group] = suppressed(group);
      plan.other = { ...shown(pool, ['other', ...merged]), merged };
    }
  }

  let blockedRaters = 0;
  for (const group of options.blocked ?? []) {
    const set = plan[group];
    if (set.suppressed) continue;
    blockedRaters += set.raters.length;
    plan[group] = { ...suppressed(group), reason: 'partial_answers' };
  }

  const composite = (['manager', ...ANONYMOUS_GROUPS] as const)
    .map((group) => plan[group])
    .filter((set): set is PlannedSet => !set.suppressed);
  const compositeRaters = composite.flatMap((set) => set.raters);
  if (compositeRaters.length >= rules.k.all_others) {
    const uncovered = composite.filter((set) => !set.spread).flatMap((set) => set.raters);
    plan.all_others = {
      suppressed: false,
      raters: compositeRaters,
      relationships: RELATIONSHIPS.filter((r) => composite.some((set) => set.relationships.includes(r))),
      spread:
        compositeRaters.length >= rules.distributionMinN &&
        isSafeAnonymousSet(
          uncovered.filter((r) => isAnonymous(r.relationship)),
          rules,
          rules.distributionMinN,
        ),
    };
  } else if (compositeRaters.length + blockedRaters >= rules.k.all_others) {
    plan.all_others = { ...suppressed('all_others'), reason: 'partial_answers' };
  } else {
    plan.all_others = suppressed('all_others');
  }
  return plan;
}
