import {
  findDifferencingViolations,
  validateAnonymityRules,
  type DifferencingViolation,
  type PublishedRaterSet,
} from './anonymity.ts';
import { assertValidResponses } from './competency-scores.ts';
import { planProfile, type PlannedMeasure } from './profile.ts';
import { GROUP_KEYS, type AnonymityRules, type ScoringInstrument, type ScoringResponse } from './types.ts';

/** A differencing violation between two releases of the same report, for one item or competency. */
export interface RereleaseViolation extends DifferencingViolation {
  measureId: string;
  /** Whether the leak is in the means (`mean`) or in the published ranges and distributions (`spread`). */
  level: 'mean' | 'spread';
}

function publishedSets(
  measure: PlannedMeasure,
  release: string,
): { mean: PublishedRaterSet[]; spread: PublishedRaterSet[] } {
  const mean: PublishedRaterSet[] = [];
  const spread: PublishedRaterSet[] = [];
  for (const group of GROUP_KEYS) {
    const set = measure.plan[group];
    if (set.suppressed) continue;
    const published = { label: `${release}:${group}`, raters: set.raters };
    mean.push(published);
    if (set.spread) spread.push(published);
  }
  return { mean, spread };
}

/**
 * Measure-level check of a re-release (METHODS §2, late responses): treats the aggregates of both releases
 * as published together and looks for differencing, item by item and competency by competency. This is
 * stricter than canRerelease, which only sees response counts: a group that gained k responses can still
 * gain fewer than k ratings on one item once N/A is taken out. Assumes submitted ratings never change.
 */
export function findRereleaseViolations(input: {
  instrument: ScoringInstrument;
  previous: readonly ScoringResponse[];
  next: readonly ScoringResponse[];
  rules: AnonymityRules;
}): RereleaseViolation[] {
  const rules = validateAnonymityRules(input.rules);
  assertValidResponses(input.instrument, input.previous);
  assertValidResponses(input.instrument, input.next);
  const before = planProfile(input.instrument, input.previous, rules).flatMap((c) => [c, ...c.items]);
  const after = planProfile(input.instrument, input.next, rules).flatMap((c) => [c, ...c.items]);
  const violations: RereleaseViolation[] = [];
  after.forEach((measure, i) => {
    const previous = before[i];
    if (!previous) return;
    const a = publishedSets(previous, 'previous');
    const b = publishedSets(measure, 'next');
    for (const v of findDifferencingViolations([...a.mean, ...b.mean], rules)) {
      violations.push({ ...v, measureId: measure.id, level: 'mean' });
    }
    for (const v of findDifferencingViolations([...a.spread, ...b.spread], rules, {
      minimum: rules.distributionMinN,
    })) {
      violations.push({ ...v, measureId: measure.id, level: 'spread' });
    }
  });
  return violations;
}
