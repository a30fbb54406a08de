import { describe, expect, it } from 'vitest';

import { findDifferencingViolations, type PublishedRaterSet } from './anonymity.ts';
import { planMeasure, type MeasureEntry, type MeasurePlan, type PlannedSet } from './publication-plan.ts';
import { DEFAULT_ANONYMITY, GROUP_KEYS, type AnonymityRules, type Relationship } from './types.ts';

const entries = (relationship: Relationship, values: (number | null)[]): MeasureEntry[] =>
  values.map((value, i) => ({
    id: `${relationship}-${i}`,
    relationship,
    value,
    notApplicable: value === null,
  }));

const shownSet = (plan: MeasurePlan, group: keyof MeasurePlan): PlannedSet => {
  const set = plan[group];
  if (set.suppressed) throw new Error(`${group} is suppressed`);
  return set;
};

const published = (plan: MeasurePlan, spreadOnly = false): PublishedRaterSet[] =>
  GROUP_KEYS.flatMap((group) => {
    const set = plan[group];
    return set.suppressed || (spreadOnly && !set.spread) ? [] : [{ label: group, raters: set.raters }];
  });

const assertSafe = (plan: MeasurePlan, rules: AnonymityRules = DEFAULT_ANONYMITY) => {
  expect(findDifferencingViolations(published(plan), rules)).toEqual([]);
  expect(
    findDifferencingViolations(published(plan, true), rules, { minimum: rules.distributionMinN }),
  ).toEqual([]);
};

describe('planMeasure', () => {
  it('never publishes the vectors.json differencing combination (3 peers, 1 direct report, no others)', () => {
    const plan = planMeasure(
      [...entries('peer', [4, 4, 4]), ...entries('direct_report', [3])],
      DEFAULT_ANONYMITY,
    );
    expect(shownSet(plan, 'peer').raters).toHaveLength(3);
    expect(plan.direct_report).toEqual({ suppressed: true, k: 3 });
    // The direct report is left out of all-others, which then has n = 3 < 4 and is itself suppressed.
    expect(plan.all_others).toEqual({ suppressed: true, k: 4 });
    expect(plan.other).toEqual({ suppressed: true, k: 3 });
    assertSafe(plan);
  });

  it('shows all-others without the lone direct report when a manager brings it to 4', () => {
    const plan = planMeasure(
      [...entries('manager', [5]), ...entries('peer', [4, 4, 4]), ...entries('direct_report', [3])],
      DEFAULT_ANONYMITY,
    );
    const allOthers = shownSet(plan, 'all_others');
    expect(allOthers.raters.map((r) => r.id).sort()).toEqual(['manager-0', 'peer-0', 'peer-1', 'peer-2']);
    expect(allOthers.relationships).toEqual(['manager', 'peer']);
    assertSafe(plan);
  });

  it('shows self and manager from n = 1 and suppresses them at n = 0 (k = 1)', () => {
    const plan = planMeasure([...entries('self', [4]), ...entries('manager', [null])], DEFAULT_ANONYMITY);
    expect(shownSet(plan, 'self').raters).toHaveLength(1);
    expect(plan.manager).toEqual({ suppressed: true, k: 1 });
  });

  it('counts raters after N/A', () => {
    const plan = planMeasure(entries('peer', [4, null, 5, 3]), DEFAULT_ANONYMITY);
    expect(shownSet(plan, 'peer').raters).toHaveLength(3);
    const fewer = planMeasure(entries('peer', [4, null, 5]), DEFAULT_ANONYMITY);
    expect(fewer.peer).toEqual({ suppressed: true, k: 3 });
  });

  it('merges small groups into "other" when the pool reaches k', () => {
    const plan = planMeasure(
      [...entries('peer', [4, 5]), ...entries('direct_report', [2])],
      DEFAULT_ANONYMITY,
    );
    const other = shownSet(plan, 'other');
    expect(other.merged).toEqual(['peer', 'direct_report']);
    expect(other.raters).toHaveLength(3);
    expect(other.relationships).toEqual(['other', 'peer', 'direct_report']);
    expect(plan.peer).toEqual({ suppressed: true, k: 3 });
    expect(plan.direct_report).toEqual({ suppressed: true, k: 3 });
    expect(plan.all_others).toEqual({ suppressed: true, k: 4 });
    assertSafe(plan);
  });

  it('merges a small group into an "other" group that is already shown', () => {
    const plan = planMeasure(
      [...entries('other', [3, 3, 4]), ...entries('peer', [5, 5, 5]), ...entries('direct_report', [1])],
      DEFAULT_ANONYMITY,
    );
    expect(shownSet(plan, 'other').merged).toEqual(['direct_report']);
    expect(shownSet(plan, 'other').raters).toHaveLength(4);
    expect(shownSet(plan, 'all_others').raters).toHaveLength(7);
    assertSafe(plan);
  });

  it('leaves small groups out of everything when the pool stays under k', () => {
    const plan = planMeasure(
      [...entries('other', [1]), ...entries('peer', [5, 5, 5, 4]), ...entries('direct_report', [1])],
      DEFAULT_ANONYMITY,
    );
    expect(plan.other).toEqual({ suppressed: true, k: 3 });
    expect(plan.direct_report).toEqual({ suppressed: true, k: 3 });
    expect(shownSet(plan, 'all_others').raters.map((r) => r.relationship)).toEqual([
      'peer',
      'peer',
      'peer',
      'peer',
    ]);
    assertSafe(plan);
  });

  it('never relabels a small group as "other" on its own, or pools below the k of a member group', () => {
    const rules: AnonymityRules = { ...DEFAULT_ANONYMITY, k: { ...DEFAULT_ANONYMITY.k, peer: 5 } };
    const alone = planMeasure(entries('peer', [4, 4, 4, 4]), rules);
    expect(alone.other).toEqual({ suppressed: true, k: 3 });
    const pooledTooSmall = planMeasure([...entries('peer', [4, 4, 4]), ...entries('other', [2])], rules);
    expect(pooledTooSmall.other).toEqual({ suppressed: true, k: 3 });
    const pooled = planMeasure([...entries('peer', [4, 4, 4, 4]), ...entries('other', [2])], rules);
    expect(shownSet(pooled, 'other').merged).toEqual(['peer']);
    assertSafe(pooled, rules);
  });

  it('publishes ranges from n = 4 only', () => {
    expect(shownSet(planMeasure(entries('peer', [1, 2, 3]), DEFAULT_ANONYMITY), 'peer').spread).toBe(false);
    expect(shownSet(planMeasure(entries('peer', [1, 2, 3, 4]), DEFAULT_ANONYMITY), 'peer').spread).toBe(true);
  });

  it('withholds the all-others range when a known rating would reveal a smaller group spread', () => {
    const plan = planMeasure([...entries('manager', [2]), ...entries('peer', [4, 4, 5])], DEFAULT_ANONYMITY);
    expect(shownSet(plan, 'all_others').spread).toBe(false);
    const covered = planMeasure(
      [...entries('manager', [2]), ...entries('peer', [4, 4, 5, 3]), ...entries('direct_report', [1, 2, 3])],
      DEFAULT_ANONYMITY,
    );
    expect(shownSet(covered, 'all_others').spread).toBe(false);
    const pooled = planMeasure(
      [...entries('peer', [4, 4, 5]), ...entries('direct_report', [1, 2, 3])],
      DEFAULT_ANONYMITY,
    );
    expect(shownSet(pooled, 'all_others').spread).toBe(true);
    for (const plan_ of [plan, covered, pooled]) assertSafe(plan_);
  });
});
