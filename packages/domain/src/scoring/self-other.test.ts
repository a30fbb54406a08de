import { describe, expect, it } from 'vitest';

import { agreementCategories, midPercentiles, selfOtherAnalysis, selfOtherGap } from './self-other.ts';

describe('midPercentiles', () => {
  it('gives tied values the same percentile', () => {
    expect(midPercentiles([1, 2, 3, 4])).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect(midPercentiles([4, 4, 4])).toEqual([0.5, 0.5, 0.5]);
    expect(midPercentiles([5, 3, 3, 1])).toEqual([0.875, 0.5, 0.5, 0.125]);
  });
});

describe('selfOtherAnalysis', () => {
  // Eight items: self ranks a and b top, others rank them bottom; the reverse for g and h.
  const pairs = [
    { id: 'a', self: 5, allOthers: 3.0 },
    { id: 'b', self: 4.8, allOthers: 3.2 },
    { id: 'c', self: 4, allOthers: 3.6 },
    { id: 'd', self: 3.9, allOthers: 3.7 },
    { id: 'e', self: 3.8, allOthers: 3.8 },
    { id: 'f', self: 3.7, allOthers: 3.9 },
    { id: 'g', self: 3, allOthers: 4.4 },
    { id: 'h', self: 2, allOthers: 4.5 },
  ];

  it('computes D = self - all-others', () => {
    expect(selfOtherGap(4, 3.25)).toBe(0.75);
    const { gaps } = selfOtherAnalysis(pairs);
    expect(gaps[0]).toEqual({ id: 'a', gap: 2 });
    expect(gaps[7]?.gap).toBeCloseTo(-2.5, 12);
  });

  it('finds rank-based blind spots and hidden strengths (top/bottom quarter)', () => {
    const result = selfOtherAnalysis(pairs);
    expect(result.blindSpots.rank).toEqual(['a', 'b']);
    expect(result.hiddenStrengths.rank).toEqual(['g', 'h']);
  });

  it('finds gap-based flags at |D| >= 1.0, including exactly 1.0 despite float noise', () => {
    const result = selfOtherAnalysis([...pairs, { id: 'i', self: 4, allOthers: 3.0000000000000004 }]);
    expect(result.blindSpots.gap).toEqual(['a', 'b', 'i']);
    expect(result.hiddenStrengths.gap).toEqual(['g', 'h']);
  });

  it('makes fraction and threshold configurable', () => {
    const result = selfOtherAnalysis(pairs, { fraction: 0.125, gapThreshold: 2 });
    expect(result.blindSpots).toEqual({ rank: ['a'], gap: ['a'] });
    expect(result.hiddenStrengths).toEqual({ rank: ['h'], gap: ['h'] });
    expect(() => selfOtherAnalysis(pairs, { fraction: 0.6 })).toThrow(RangeError);
    expect(() => selfOtherAnalysis(pairs, { gapThreshold: 0 })).toThrow(RangeError);
  });

  it('flags nothing by rank when the leader rated everything the same', () => {
    const flat = pairs.map((p) => ({ ...p, self: 4 }));
    const result = selfOtherAnalysis(flat);
    expect(result.blindSpots.rank).toEqual([]);
    expect(result.hiddenStrengths.rank).toEqual([]);
  });
});

describe('agreementCategories', () => {
  // Gaps -0.5, -0.4, ..., 0.4 (mean -0.05, SD ~0.3028); all-others alternate 3.0 / 4.0 (mean 3.5).
  const leaders = Array.from({ length: 10 }, (_, i) => ({
    leaderId: `L${i}`,
    allOthers: i % 2 === 0 ? 3 : 4,
    self: (i % 2 === 0 ? 3 : 4) + (i - 5) / 10,
  }));

  it('categorises with mean +- .5 SD of D and the cohort mean of all-others', () => {
    const result = agreementCategories(leaders);
    expect(result.n).toBe(10);
    expect(result.cutoffs?.meanGap).toBeCloseTo(-0.05, 12);
    expect(result.cutoffs?.sdGap).toBeCloseTo(Math.sqrt(0.0916666666666667), 12);
    expect(result.cutoffs?.meanAllOthers).toBeCloseTo(3.5, 12);
    // cut-offs: -0.05 +- 0.1514 -> under below -0.2014, over above 0.1014
    expect(result.leaders.map((l) => l.category)).toEqual([
      'under_estimator',
      'under_estimator',
      'under_estimator',
      'in_agreement_good',
      'in_agreement_poor',
      'in_agreement_good',
      'in_agreement_poor',
      'over_estimator',
      'over_estimator',
      'over_estimator',
    ]);
  });

  it('returns null categories under 10 leaders with both scores', () => {
    const partial = leaders.map((l, i) => (i === 0 ? { ...l, self: null } : l));
    const result = agreementCategories(partial);
    expect(result.n).toBe(9);
    expect(result.cutoffs).toBeNull();
    expect(result.leaders.every((l) => l.category === null)).toBe(true);
    expect(result.leaders[0]?.gap).toBeNull();
    expect(result.leaders[1]?.gap).toBeCloseTo(-0.4, 12);
  });

  it('gives no category to a leader without both scores in a large enough cohort', () => {
    const result = agreementCategories([...leaders, { leaderId: 'X', self: 4, allOthers: null }]);
    expect(result.leaders.at(-1)).toEqual({ leaderId: 'X', gap: null, category: null });
    expect(result.n).toBe(10);
  });
});
