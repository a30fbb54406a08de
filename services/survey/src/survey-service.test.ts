import { describe, expect, it } from 'vitest';
import { mergeAnswers } from './survey-service.ts';

describe('mergeAnswers', () => {
  const draft = { ratings: { 'a.x': 3, 'a.y': null }, comments: { keep: 'old keep', start: 'old start' } };

  it('lays a page over the draft', () => {
    expect(mergeAnswers(draft, { ratings: { 'a.x': 5, 'b.z': 1 }, comments: {} })).toEqual({
      ratings: { 'a.x': 5, 'a.y': null, 'b.z': 1 },
      comments: { keep: 'old keep', start: 'old start' },
    });
  });

  it('an emptied comment on the page removes the saved one; other questions keep theirs', () => {
    expect(
      mergeAnswers(
        draft,
        { ratings: {}, comments: { start: 'new start' } },
        { questionIds: ['keep', 'start'] },
      ),
    ).toEqual({ ratings: draft.ratings, comments: { start: 'new start' } });
  });
});
