import { describe, expect, it } from 'vitest';

import { regularizedIncompleteBeta, tCdf, tCritical, tTwoSidedP } from './t-distribution.ts';

describe('regularizedIncompleteBeta', () => {
  it('matches closed forms', () => {
    // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b
    expect(regularizedIncompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(regularizedIncompleteBeta(0.6, 3, 1)).toBeCloseTo(0.216, 12);
    expect(regularizedIncompleteBeta(0.2, 1, 4)).toBeCloseTo(1 - 0.8 ** 4, 12);
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
  });

  it('is symmetric: I_x(a, b) = 1 - I_(1-x)(b, a)', () => {
    expect(regularizedIncompleteBeta(0.35, 2.5, 7)).toBeCloseTo(
      1 - regularizedIncompleteBeta(0.65, 7, 2.5),
      12,
    );
  });

  it('rejects arguments outside its domain', () => {
    expect(() => regularizedIncompleteBeta(1.2, 1, 1)).toThrow(RangeError);
    expect(() => regularizedIncompleteBeta(0.5, 0, 1)).toThrow(RangeError);
  });
});

describe('t distribution', () => {
  it('gives the critical values of published tables', () => {
    expect(tCritical(0.975, 7)).toBeCloseTo(2.364624, 6);
    expect(tCritical(0.975, 1)).toBeCloseTo(12.706205, 5);
    expect(tCritical(0.975, 30)).toBeCloseTo(2.042272, 6);
    expect(tCritical(0.975, 120)).toBeCloseTo(1.97993, 5);
    expect(tCritical(0.95, 10)).toBeCloseTo(1.812461, 6);
    expect(tCritical(0.995, 4)).toBeCloseTo(4.604095, 6);
  });

  it('approaches the normal quantile for large df', () => {
    expect(tCritical(0.975, 1e6)).toBeCloseTo(1.959966, 5);
  });

  it('is symmetric around 0', () => {
    expect(tCritical(0.5, 5)).toBe(0);
    expect(tCritical(0.025, 7)).toBeCloseTo(-2.364624, 6);
    expect(tCdf(0, 3)).toBeCloseTo(0.5, 12);
    expect(tCdf(-1.5, 9) + tCdf(1.5, 9)).toBeCloseTo(1, 12);
  });

  it('gives p = .003 for the cohort vector (t = 4.445256, df = 7)', () => {
    const p = tTwoSidedP(4.445256, 7);
    expect(p.toFixed(3)).toBe('0.003');
    // 0.00298869 from scipy.stats.t.sf(4.445256, 7) * 2, as an independent check
    expect(p).toBeCloseTo(0.00298869, 7);
  });

  it('inverts: the two-sided p at the critical value is the tail mass', () => {
    for (const df of [1, 2, 5, 13, 60]) {
      expect(tTwoSidedP(tCritical(0.975, df), df)).toBeCloseTo(0.05, 10);
      expect(tCdf(tCritical(0.9, df), df)).toBeCloseTo(0.9, 10);
    }
  });

  it('matches the Cauchy distribution at df = 1', () => {
    expect(tCdf(1, 1)).toBeCloseTo(0.75, 12);
    expect(tCdf(2, 1)).toBeCloseTo(0.5 + Math.atan(2) / Math.PI, 12);
  });

  it('rejects bad df and p', () => {
    expect(() => tCritical(0.975, 0)).toThrow(RangeError);
    expect(() => tCritical(1, 5)).toThrow(RangeError);
    expect(() => tTwoSidedP(1, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
