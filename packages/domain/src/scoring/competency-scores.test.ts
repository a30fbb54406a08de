import { describe, expect, it } from 'vitest';

import { ValidationError } from '../errors.ts';
import {
  answeredRating,
  assertValidResponses,
  choseNotApplicable,
  competencyScores,
  raterCompetencyScore,
} from './competency-scores.ts';
import type { ScoringInstrument, ScoringResponse } from './types.ts';

const items4 = ['c.a', 'c.b', 'c.c', 'c.d'];

describe('raterCompetencyScore', () => {
  it('is the mean of the answered items', () => {
    expect(raterCompetencyScore({ 'c.a': 4, 'c.b': 5, 'c.c': 3, 'c.d': 4 }, items4)).toBe(4);
  });

  it('leaves N/A and blanks out of numerator and denominator (never scores them 0)', () => {
    expect(raterCompetencyScore({ 'c.a': 4, 'c.b': null, 'c.c': 5 }, items4)).toBe(4.5);
  });

  it('counts a rater who answered exactly half of the items', () => {
    expect(raterCompetencyScore({ 'c.a': 2, 'c.b': 3, 'c.c': null, 'c.d': null }, items4)).toBe(2.5);
    expect(raterCompetencyScore({ 'c.a': 2, 'c.b': 4 }, ['c.a', 'c.b', 'c.c'])).toBe(3);
  });

  it('drops a rater who answered fewer than half', () => {
    expect(raterCompetencyScore({ 'c.a': 2, 'c.b': null, 'c.c': null, 'c.d': null }, items4)).toBeNull();
    expect(raterCompetencyScore({ 'c.a': 2 }, ['c.a', 'c.b', 'c.c'])).toBeNull();
    expect(raterCompetencyScore({}, items4)).toBeNull();
    expect(raterCompetencyScore({}, [])).toBeNull();
  });

  it('ignores inherited properties as item ids', () => {
    expect(answeredRating({}, 'constructor')).toBeNull();
    expect(choseNotApplicable({ x: null }, 'x')).toBe(true);
    expect(choseNotApplicable({}, 'x')).toBe(false);
  });
});

const instrument: ScoringInstrument = {
  scale: { min: 1, max: 5 },
  competencies: [
    { id: 'c', title: 'C', items: items4.map((id) => ({ id })) },
    { id: 'd', title: 'D', items: [{ id: 'd.a' }, { id: 'd.b' }, { id: 'd.c' }] },
  ],
  questions: [],
};

const response = (id: string, ratings: ScoringResponse['ratings']): ScoringResponse => ({
  id,
  relationship: 'peer',
  ratings,
  comments: {},
});

describe('competencyScores', () => {
  it('scores every competency of the instrument', () => {
    expect(competencyScores(instrument, response('r', { 'c.a': 5, 'c.b': 3, 'd.a': 1 }))).toEqual({
      c: 4,
      d: null,
    });
  });
});

describe('assertValidResponses', () => {
  it('accepts whole numbers on the scale, N/A and blanks', () => {
    expect(() =>
      assertValidResponses(instrument, [response('a', { 'c.a': 1, 'c.b': 5, 'c.c': null })]),
    ).not.toThrow();
  });

  it('rejects off-scale, fractional and non-finite ratings', () => {
    for (const bad of [0, 6, 2.5, Number.NaN]) {
      expect(() => assertValidResponses(instrument, [response('a', { 'c.a': bad })])).toThrow(
        ValidationError,
      );
    }
  });

  it('rejects duplicate response ids', () => {
    expect(() => assertValidResponses(instrument, [response('a', {}), response('a', {})])).toThrow(
      /duplicate/,
    );
  });
});
