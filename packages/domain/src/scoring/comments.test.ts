import { describe, expect, it } from 'vitest';

import { buildComments, commentLabels } from './comments.ts';
import { DEFAULT_ANONYMITY, type Relationship, type ScoringResponse } from './types.ts';

let counter = 0;
const response = (relationship: Relationship, comments: Record<string, string> = {}): ScoringResponse => ({
  id: `r-${(counter += 1)}`,
  relationship,
  ratings: {},
  comments,
});

const instrument = { questions: [{ id: 'strengths' }, { id: 'improve' }] };

describe('commentLabels', () => {
  it('labels groups at k, self and manager always', () => {
    const responses = [
      response('self'),
      response('manager'),
      ...['peer', 'peer', 'peer'].map((r) => response(r as Relationship)),
    ];
    expect(commentLabels(responses, DEFAULT_ANONYMITY)).toEqual({
      self: 'self',
      manager: 'manager',
      peer: 'peer',
      direct_report: null,
      other: null,
    });
  });

  it('pools small groups as "other" when the pool reaches k', () => {
    const responses = [response('peer'), response('peer'), response('direct_report')];
    expect(commentLabels(responses, DEFAULT_ANONYMITY)).toMatchObject({
      peer: 'other',
      direct_report: 'other',
      other: null,
    });
    const withOthers = [response('other'), response('other'), response('other'), response('peer')];
    expect(commentLabels(withOthers, DEFAULT_ANONYMITY)).toMatchObject({ peer: 'other', other: 'other' });
  });

  it('withholds small groups when the pool stays under k', () => {
    const responses = [
      response('peer'),
      response('other'),
      ...[1, 2, 3].map(() => response('direct_report')),
    ];
    expect(commentLabels(responses, DEFAULT_ANONYMITY)).toMatchObject({
      peer: null,
      direct_report: 'direct_report',
      other: null,
    });
    expect(commentLabels([response('peer'), response('peer')], DEFAULT_ANONYMITY).peer).toBeNull();
  });
});

describe('buildComments', () => {
  const responses = [
    response('self', { strengths: 'I listen.' }),
    response('manager', { strengths: 'Delivers.', improve: '  Delegate more.  ' }),
    response('peer', { strengths: 'Calm under pressure.', improve: '' }),
    response('peer', { strengths: 'Generous with time.' }),
    response('peer', { improve: 'Say no more often.' }),
    response('direct_report', { strengths: 'Gives me room.', improve: 'Faster decisions.' }),
  ];

  it('labels, pools and withholds as the rules say, and never exposes response ids', () => {
    const result = buildComments({ instrument, responses, rules: DEFAULT_ANONYMITY, seed: 'leader:1' });
    expect(result.map((q) => q.questionId)).toEqual(['strengths', 'improve']);
    const strengths = result[0]!.comments;
    expect([...strengths].sort((a, b) => a.text.localeCompare(b.text))).toEqual([
      { group: 'peer', text: 'Calm under pressure.' },
      { group: 'manager', text: 'Delivers.' },
      { group: 'peer', text: 'Generous with time.' },
      { group: 'self', text: 'I listen.' },
    ]);
    // The lone direct report cannot be pooled (pool of 1 < 3): withheld.
    expect(JSON.stringify(result)).not.toContain('Gives me room.');
    expect(JSON.stringify(result)).not.toMatch(/r-\d/);
    expect(result[1]!.comments).toContainEqual({ group: 'manager', text: 'Delegate more.' });
    expect(result[1]!.comments).toHaveLength(2);
  });

  it('is deterministic for a seed and independent of response order', () => {
    const many = Array.from({ length: 12 }, (_, i) => response('peer', { strengths: `comment ${i}` }));
    const first = buildComments({ instrument, responses: many, rules: DEFAULT_ANONYMITY, seed: 'x' });
    const again = buildComments({
      instrument,
      responses: [...many].reverse(),
      rules: DEFAULT_ANONYMITY,
      seed: 'x',
    });
    expect(again).toEqual(first);
    const texts = first[0]!.comments.map((c) => c.text);
    expect(texts).not.toEqual(many.map((r) => r.comments['strengths']));
    const otherSeed = buildComments({ instrument, responses: many, rules: DEFAULT_ANONYMITY, seed: 'y' });
    expect(otherSeed[0]!.comments.map((c) => c.text)).not.toEqual(texts);
  });
});
