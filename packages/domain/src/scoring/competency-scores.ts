import { mean } from 'simple-statistics';

import { ValidationError } from '../errors.ts';
import type { ScoringInstrument, ScoringResponse } from './types.ts';

/** A rater's rating of one item, or null when the item is N/A or blank (both are missing, never 0). */
export function answeredRating(
  ratings: Readonly<Record<string, number | null>>,
  itemId: string,
): number | null {
  // hasOwn, so that an item id like "constructor" cannot pick up something from the prototype.
  if (!Object.hasOwn(ratings, itemId)) return null;
  const value = ratings[itemId];
  return typeof value === 'number' ? value : null;
}

/** True when the rater explicitly chose N/A ("can't say") for the item; a blank is not N/A. */
export function choseNotApplicable(
  ratings: Readonly<Record<string, number | null>>,
  itemId: string,
): boolean {
  return Object.hasOwn(ratings, itemId) && ratings[itemId] === null;
}

/**
 * A rater's competency score (METHODS §1): the mean of the competency's items the rater answered, or null
 * when the rater answered fewer than half of them (CCL Benchmarks rule).
 */
export function raterCompetencyScore(
  ratings: Readonly<Record<string, number | null>>,
  itemIds: readonly string[],
): number | null {
  const answered: number[] = [];
  for (const itemId of itemIds) {
    const value = answeredRating(ratings, itemId);
    if (value !== null) answered.push(value);
  }
  if (answered.length === 0 || answered.length * 2 < itemIds.length) return null;
  return mean(answered);
}

/** Competency id -> the rater's competency score (null when not enough items were answered). */
export function competencyScores(
  instrument: ScoringInstrument,
  response: Pick<ScoringResponse, 'ratings'>,
): Record<string, number | null> {
  const scores: Record<string, number | null> = {};
  for (const competency of instrument.competencies) {
    scores[competency.id] = raterCompetencyScore(
      response.ratings,
      competency.items.map((item) => item.id),
    );
  }
  return scores;
}

/**
 * Rejects ratings that are not whole numbers on the instrument's scale, and duplicate response ids (ids
 * tell raters apart in the anonymity checks). Ratings of items the instrument does not have are ignored.
 */
export function assertValidResponses(
  instrument: ScoringInstrument,
  responses: readonly ScoringResponse[],
): void {
  const problems: { path: string; message: string }[] = [];
  const { min, max } = instrument.scale;
  const ids = new Set<string>();
  const itemIds = instrument.competencies.flatMap((competency) => competency.items.map((item) => item.id));
  for (let r = 0; r < responses.length; r += 1) {
    const response = responses[r]!;
    if (ids.has(response.id)) problems.push({ path: `responses[${r}].id`, message: 'duplicate response id' });
    ids.add(response.id);
    for (const itemId of itemIds) {
      const value = answeredRating(response.ratings, itemId);
      if (value !== null && !(Number.isInteger(value) && value >= min && value <= max)) {
        problems.push({
          path: `responses[${r}].ratings.${itemId}`,
          message: `${value} is not a whole number in ${min}..${max}`,
        });
      }
    }
  }
  if (problems.length > 0) {
    throw new ValidationError(
      `invalid responses: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      problems,
    );
  }
}
