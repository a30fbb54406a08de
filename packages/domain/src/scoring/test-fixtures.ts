import type { Relationship, ScoringInstrument, ScoringResponse } from './types.ts';

// Test-only helpers: a small instrument and a terse way to write responses.

/** Three competencies (4, 3 and 2 items) and two open questions on a 1..5 scale. */
export const FIXTURE_INSTRUMENT: ScoringInstrument = {
  scale: { min: 1, max: 5 },
  competencies: [
    { id: 'vision', title: 'Vision', items: ['a', 'b', 'c', 'd'].map((x) => ({ id: `vision.${x}` })) },
    { id: 'coaching', title: 'Coaching', items: ['a', 'b', 'c'].map((x) => ({ id: `coaching.${x}` })) },
    { id: 'delivery', title: 'Delivery', items: ['a', 'b'].map((x) => ({ id: `delivery.${x}` })) },
  ],
  questions: [{ id: 'strengths' }, { id: 'improve' }],
};

/** Item ids of the fixture instrument, in order. */
export const FIXTURE_ITEMS = FIXTURE_INSTRUMENT.competencies.flatMap((c) => c.items.map((i) => i.id));

/**
 * A response rating the fixture's items in order: a number, null (N/A) or undefined (blank, key omitted).
 * A single number rates every item the same.
 */
export function rate(
  id: string,
  relationship: Relationship,
  ratings: number | (number | null | undefined)[],
  comments: Record<string, string> = {},
): ScoringResponse {
  const values = typeof ratings === 'number' ? FIXTURE_ITEMS.map(() => ratings) : ratings;
  const record: Record<string, number | null> = {};
  FIXTURE_ITEMS.forEach((itemId, i) => {
    const value = values[i];
    if (value !== undefined) record[itemId] = value;
  });
  return { id, relationship, ratings: record, comments };
}

/** `count` responses of one relationship, ids `${relationship}-${i}`, all rating `value`. */
export function many(relationship: Relationship, values: readonly number[]): ScoringResponse[] {
  return values.map((value, i) => rate(`${relationship}-${i}`, relationship, value));
}
