import { describe, expect, it } from 'vitest';

import {
  describeGroup,
  distribution,
  fixedWeightMean,
  raterWeightedMean,
  sampleSdOrNull,
} from './group-stats.ts';

const scale = { min: 1, max: 5 };

describe('describeGroup', () => {
  it('gives n, mean and the n-1 SD', () => {
    const stats = describeGroup([2, 4, 4, 5], {
      naCount: 0,
      respondents: 4,
      scale,
      withRange: false,
      withDistribution: false,
    });
    expect(stats).toEqual({
      suppressed: false,
      n: 4,
      mean: 3.75,
      sd: expect.any(Number),
      naCount: 0,
      naShare: 0,
      naFlag: false,
    });
    // sum of squares about 3.75 = 3.0625 + 0.0625 * 2 + 1.5625 = 4.75; / 3
    expect(stats.sd).toBeCloseTo(Math.sqrt(4.75 / 3), 12);
  });

  it('has no SD for a single rater', () => {
    expect(
      describeGroup([3], { naCount: 0, respondents: 1, scale, withRange: false, withDistribution: false }).sd,
    ).toBeNull();
    expect(sampleSdOrNull([])).toBeNull();
  });

  it('flags more than 25% N/A, not exactly 25%', () => {
    const base = { scale, withRange: false, withDistribution: false };
    expect(describeGroup([3, 3, 3], { ...base, naCount: 1, respondents: 4 }).naFlag).toBe(false);
    const flagged = describeGroup([3, 3, 3], { ...base, naCount: 2, respondents: 5 });
    expect(flagged.naShare).toBeCloseTo(0.4, 12);
    expect(flagged.naFlag).toBe(true);
  });

  it('adds range and distribution only when asked', () => {
    const stats = describeGroup([2, 4, 4, 5], {
      naCount: 0,
      respondents: 4,
      scale,
      withRange: true,
      withDistribution: true,
    });
    expect(stats.min).toBe(2);
    expect(stats.max).toBe(5);
    expect(stats.distribution).toEqual([
      { value: 1, count: 0 },
      { value: 2, count: 1 },
      { value: 3, count: 0 },
      { value: 4, count: 2 },
      { value: 5, count: 1 },
    ]);
    const rangeOnly = describeGroup([2.5, 4], {
      naCount: 0,
      respondents: 2,
      scale,
      withRange: true,
      withDistribution: false,
    });
    expect(rangeOnly).not.toHaveProperty('distribution');
    expect(rangeOnly.min).toBe(2.5);
  });

  it('refuses an empty group', () => {
    expect(() =>
      describeGroup([], { naCount: 1, respondents: 1, scale, withRange: false, withDistribution: false }),
    ).toThrow(RangeError);
  });
});

describe('distribution', () => {
  it('lists every scale point', () => {
    expect(distribution([0, 0, 2], { min: 0, max: 2 })).toEqual([
      { value: 0, count: 2 },
      { value: 1, count: 0 },
      { value: 2, count: 1 },
    ]);
  });
});

describe('composites', () => {
  it('rater-weighted all-others equals the mean over the raters', () => {
    const peers = [4, 4, 5];
    const manager = [2];
    const directReports = [3, 3, 4, 4, 5];
    const all = [...peers, ...manager, ...directReports];
    const weighted = raterWeightedMean([
      { n: 3, mean: 13 / 3 },
      { n: 1, mean: 2 },
      { n: 5, mean: 3.8 },
    ]);
    expect(weighted).toBeCloseTo(all.reduce((a, b) => a + b, 0) / all.length, 12);
  });

  it('fixed-weight all-others is the mean of group means and ignores the mix', () => {
    expect(fixedWeightMean([13 / 3, 2, 3.8])).toBeCloseTo((13 / 3 + 2 + 3.8) / 3, 12);
    expect(() => fixedWeightMean([])).toThrow(RangeError);
    expect(() => raterWeightedMean([])).toThrow(RangeError);
  });
});
