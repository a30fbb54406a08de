import { sampleVariance, sum } from 'simple-statistics';

import { answeredRating } from './competency-scores.ts';
import type { ScoringInstrument, ScoringResponse } from './types.ts';

/** Cronbach's alpha with the variances it was computed from. */
export interface CronbachAlphaResult {
  /** Null when the total variance is 0 (alpha undefined). */
  alpha: number | null;
  itemVariances: number[];
  totalVariance: number;
  /** Raters (rows) used. */
  n: number;
  /** Items (columns). */
  items: number;
}

/** Conventional reading of alpha (METHODS §5). */
export function alphaLabel(alpha: number): 'good' | 'acceptable' | 'low' {
  if (alpha >= 0.8) return 'good';
  if (alpha >= 0.7) return 'acceptable';
  return 'low';
}

/**
 * Cronbach's alpha = J/(J-1) (1 - sum s2_item / s2_total) on a raters x items matrix, n-1 variances
 * (METHODS §5). Rows must be complete (listwise deletion is the caller's, see competencyItemMatrix).
 */
export function cronbachAlpha(itemsByRater: readonly (readonly number[])[]): CronbachAlphaResult {
  const items = itemsByRater[0]?.length ?? 0;
  if (itemsByRater.length < 2) throw new RangeError("Cronbach's alpha needs at least 2 raters");
  if (items < 2) throw new RangeError("Cronbach's alpha needs at least 2 items");
  if (itemsByRater.some((row) => row.length !== items || row.some((x) => !Number.isFinite(x)))) {
    throw new RangeError('every row needs a finite rating for every item');
  }
  const itemVariances = Array.from({ length: items }, (_, j) =>
    sampleVariance(itemsByRater.map((row) => row[j] ?? 0)),
  );
  const totalVariance = sampleVariance(itemsByRater.map((row) => sum([...row])));
  return {
    alpha: totalVariance === 0 ? null : (items / (items - 1)) * (1 - sum(itemVariances) / totalVariance),
    itemVariances,
    totalVariance,
    n: itemsByRater.length,
    items,
  };
}

/**
 * The raters x items matrix of one competency, listwise: a response with any item of the competency N/A or
 * blank is dropped. Pass the responses to pool (METHODS §5: all leaders of a cycle; self excluded by the
 * caller if wanted).
 */
export function competencyItemMatrix(
  instrument: Pick<ScoringInstrument, 'competencies'>,
  competencyId: string,
  responses: readonly Pick<ScoringResponse, 'ratings'>[],
): number[][] {
  const competency = instrument.competencies.find((c) => c.id === competencyId);
  if (!competency) throw new RangeError(`unknown competency ${competencyId}`);
  const rows: number[][] = [];
  for (const response of responses) {
    const row = competency.items.map((item) => answeredRating(response.ratings, item.id));
    if (row.every((value): value is number => value !== null)) rows.push(row);
  }
  return rows;
}
