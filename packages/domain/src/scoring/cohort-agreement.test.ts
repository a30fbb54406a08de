import { describe, expect, it } from 'vitest';

import { cohortAgreement } from './cohort-agreement.ts';
import type { Profile } from './profile.ts';

type Slim = Pick<Profile, 'competencies'>;

const shown = (mean: number) => ({ suppressed: false, n: 5, mean, sd: 0.5, naCount: 0, naShare: 0 });
const hidden = { suppressed: true, reason: 'fewer_than_k' };

/** A profile with two competencies; a null score is suppressed. */
function leader(scores: { a: [number | null, number | null]; b: [number | null, number | null] }): Slim {
  const groups = ([self, allOthers]: [number | null, number | null]) => ({
    self: self === null ? hidden : shown(self),
    all_others: allOthers === null ? hidden : shown(allOthers),
  });
  return {
    competencies: [
      { id: 'a', groups: groups(scores.a) },
      { id: 'b', groups: groups(scores.b) },
    ],
  } as unknown as Slim;
}

// Competency a: gaps -0.5, -0.4, ..., 0.4, all-others alternating 3 / 4 (the agreementCategories vector:
// 3 under, 3 over, 2 in agreement / good, 2 in agreement / poor). Competency b: the same leaders with
// all-others 1 higher and self unchanged, so every gap is 1 lower.
const cohort = Array.from({ length: 10 }, (_, i) => {
  const others = i % 2 === 0 ? 3 : 4;
  const self = others + (i - 5) / 10;
  return leader({ a: [self, others], b: [self, others + 1] });
});

describe('cohortAgreement', () => {
  it('counts leaders per category per competency', () => {
    const result = cohortAgreement(cohort);
    expect(result.minLeaders).toBe(10);
    const a = result.competencies.find((c) => c.id === 'a')!;
    expect(a.n).toBe(10);
    expect(a.counts).toEqual({
      over_estimator: 3,
      under_estimator: 3,
      in_agreement_good: 2,
      in_agreement_poor: 2,
    });
    expect(a.cutoffs?.meanGap).toBeCloseTo(-0.05, 12);
  });

  it('overall: D is the mean gap over the competencies where the leader has both scores', () => {
    const result = cohortAgreement(cohort);
    // Overall gap of leader i: mean of (i-5)/10 and (i-5)/10 - 1 = (i-5)/10 - 0.5; all-others mean others + .5.
    expect(result.overall.n).toBe(10);
    expect(result.overall.cutoffs?.meanGap).toBeCloseTo(-0.55, 12);
    expect(result.overall.cutoffs?.meanAllOthers).toBeCloseTo(4, 12);
    expect(result.overall.counts).toEqual({
      over_estimator: 3,
      under_estimator: 3,
      in_agreement_good: 2,
      in_agreement_poor: 2,
    });
  });

  it('uses only competencies with both scores shown for a leader overall', () => {
    // Leader 0 has competency b suppressed: overall D is its competency-a gap alone.
    const mixed = cohort.map((p, i) => (i === 0 ? leader({ a: [2.5, 3], b: [null, 4] }) : p));
    const result = cohortAgreement(mixed);
    expect(result.competencies.find((c) => c.id === 'b')?.n).toBe(9);
    expect(result.competencies.find((c) => c.id === 'b')?.counts).toBeNull();
    expect(result.overall.n).toBe(10);
    const gaps = [-0.5, ...Array.from({ length: 9 }, (_, j) => (j + 1 - 5) / 10 - 0.5)];
    expect(result.overall.cutoffs?.meanGap).toBeCloseTo(gaps.reduce((s, g) => s + g, 0) / 10, 12);
  });

  it('gives no counts under 10 leaders, but says how many it had', () => {
    const result = cohortAgreement(cohort.slice(0, 9));
    expect(result.overall).toEqual({ n: 9, counts: null, cutoffs: null });
    expect(result.competencies.every((c) => c.counts === null && c.n === 9)).toBe(true);
  });
});
