import { describe, expect, it } from 'vitest';

import { alphaLabel, competencyItemMatrix, cronbachAlpha } from './reliability.ts';
import { loadVectors } from './test-vectors.ts';

describe('cronbachAlpha', () => {
  it('matches vectors.json cronbach_alpha', () => {
    const { items_by_rater, expected } = loadVectors().cronbach_alpha;
    const result = cronbachAlpha(items_by_rater);
    expect(result.itemVariances).toHaveLength(expected.item_variances.length);
    result.itemVariances.forEach((v, i) =>
      expect(v).toBeCloseTo(expected.item_variances[i] ?? Number.NaN, 4),
    );
    expect(result.totalVariance).toBeCloseTo(expected.total_variance, 4);
    expect(result.alpha).toBeCloseTo(expected.alpha, 4);
    expect(result.n).toBe(6);
    expect(result.items).toBe(4);
    expect(alphaLabel(result.alpha ?? 0)).toBe('good');
  });

  it('is 0 for uncorrelated items and null without total variance', () => {
    // Two items whose covariance is 0: total variance = sum of item variances.
    expect(
      cronbachAlpha([
        [1, 1],
        [1, 3],
        [3, 1],
        [3, 3],
      ]).alpha,
    ).toBeCloseTo(0, 12);
    expect(
      cronbachAlpha([
        [2, 2],
        [2, 2],
      ]).alpha,
    ).toBeNull();
  });

  it('rejects ragged or too small matrices', () => {
    expect(() => cronbachAlpha([[1, 2]])).toThrow(RangeError);
    expect(() => cronbachAlpha([[1], [2]])).toThrow(RangeError);
    expect(() => cronbachAlpha([[1, 2], [3]])).toThrow(RangeError);
  });

  it('labels alpha', () => {
    expect([0.69, 0.7, 0.8].map(alphaLabel)).toEqual(['low', 'acceptable', 'good']);
  });
});

describe('competencyItemMatrix', () => {
  const instrument = {
    competencies: [{ id: 'c', title: 'C', items: [{ id: 'c.a' }, { id: 'c.b' }, { id: 'c.c' }] }],
  };

  it('keeps complete rows in item order and drops rows with any N/A or blank', () => {
    const rows = competencyItemMatrix(instrument, 'c', [
      { ratings: { 'c.c': 3, 'c.a': 1, 'c.b': 2 } },
      { ratings: { 'c.a': 4, 'c.b': null, 'c.c': 5 } },
      { ratings: { 'c.a': 4, 'c.c': 5 } },
      { ratings: { 'c.a': 5, 'c.b': 5, 'c.c': 4, 'x.y': 1 } },
    ]);
    expect(rows).toEqual([
      [1, 2, 3],
      [5, 5, 4],
    ]);
  });

  it('rejects an unknown competency', () => {
    expect(() => competencyItemMatrix(instrument, 'nope', [])).toThrow(RangeError);
  });
});
