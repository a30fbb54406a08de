import { sampleVariance } from 'simple-statistics';
import { describe, expect, it } from 'vitest';

import {
  agreementBand,
  icc,
  isLowConsensus,
  kRaterReliability,
  rwg,
  rwgJ,
  uniformNullVariance,
} from './rater-agreement.ts';
import { loadVectors } from './test-vectors.ts';

describe('rwg', () => {
  it('matches vectors.json rwg and rwg(j)', () => {
    const { inputs, expected } = loadVectors().rwg;
    expect(uniformNullVariance(5)).toBe(2);
    expect(sampleVariance(inputs.ratings)).toBeCloseTo(0.5, 12);
    expect(rwg(inputs.ratings, 5)).toBeCloseTo(expected.rwg, 4);
    expect(rwgJ(inputs.items_J, inputs.mean_item_variance, 5)).toBeCloseTo(expected.rwg_j, 4);
  });

  it('clamps at 0 when raters disagree more than chance', () => {
    expect(rwg([1, 5, 1, 5], 5)).toBe(0);
    expect(rwgJ(4, 2.5, 5)).toBe(0);
    expect(rwgJ(4, 2, 5)).toBe(0);
  });

  it('is 1 for perfect agreement and null without two raters', () => {
    expect(rwg([3, 3, 3], 5)).toBe(1);
    expect(rwgJ(5, 0, 5)).toBe(1);
    expect(rwg([4], 5)).toBeNull();
  });

  it('uses A = number of scale points', () => {
    expect(uniformNullVariance(7)).toBe(4);
    expect(() => uniformNullVariance(1)).toThrow(RangeError);
  });
});

describe('agreementBand and isLowConsensus', () => {
  it('bands per LeBreton & Senter', () => {
    expect([0, 0.3, 0.31, 0.5, 0.51, 0.7, 0.71, 0.9, 0.91, 1].map(agreementBand)).toEqual([
      'none',
      'none',
      'weak',
      'weak',
      'moderate',
      'moderate',
      'strong',
      'strong',
      'very_strong',
      'very_strong',
    ]);
  });

  it('flags rwg < .50 or SD >= 1.0', () => {
    expect(isLowConsensus(0.49, 0.5)).toBe(true);
    expect(isLowConsensus(0.5, 0.99)).toBe(false);
    expect(isLowConsensus(0.9, 1.0)).toBe(true);
    expect(isLowConsensus(null, null)).toBe(false);
  });
});

describe('icc', () => {
  it('matches a hand calculation with equal groups', () => {
    // means 2 and 5, grand 3.5: MSB = 3 (2.25 + 2.25) / 1 = 13.5; MSW = 4 / (6 - 2) = 1; K = 3
    const result = icc([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(result.msb).toBeCloseTo(13.5, 12);
    expect(result.msw).toBeCloseTo(1, 12);
    expect(result.k).toBeCloseTo(3, 12);
    expect(result.icc1).toBeCloseTo(12.5 / 15.5, 12);
    expect(result.icc2).toBeCloseTo(12.5 / 13.5, 12);
  });

  it('uses the adjusted mean group size for unequal groups', () => {
    // sizes 2, 3, 5: (10 - 38/10) / 2 = 3.1
    const result = icc([
      [2, 3],
      [4, 4, 5],
      [1, 2, 2, 3, 2],
    ]);
    expect(result.k).toBeCloseTo(3.1, 12);
    // grand mean 28/10 = 2.8; means 2.5, 13/3, 2
    const ssb = 2 * 0.3 ** 2 + 3 * (13 / 3 - 2.8) ** 2 + 5 * 0.8 ** 2;
    const ssw = 0.5 + 2 / 3 + 2;
    expect(result.msb).toBeCloseTo(ssb / 2, 12);
    expect(result.msw).toBeCloseTo(ssw / 7, 12);
    expect(result.icc1).toBeCloseTo((ssb / 2 - ssw / 7) / (ssb / 2 + 2.1 * (ssw / 7)), 12);
  });

  it('refuses designs without within-group variance information', () => {
    expect(() => icc([[1, 2]])).toThrow(RangeError);
    expect(() => icc([[1], [2]])).toThrow(RangeError);
  });
});

describe('kRaterReliability', () => {
  it('is Spearman-Brown of ICC(1) and equals ICC(2) at k = K', () => {
    const result = icc([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(kRaterReliability(result.icc1, 3)).toBeCloseTo(result.icc2 ?? Number.NaN, 12);
    expect(kRaterReliability(0.2, 5)).toBeCloseTo(1 / 1.8, 12);
    expect(kRaterReliability(0.2, 1)).toBeCloseTo(0.2, 12);
  });
});
