import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { parseInstrument } from './load.ts';
import { nth, validInstrument } from './test-fixture.ts';
import { formText, itemsOf } from './views.ts';

function fixture() {
  const instrument = validInstrument();
  instrument.scale.points.reverse();
  return parseInstrument(stringify(instrument), 'x/instrument.yaml');
}

describe('itemsOf', () => {
  it('flattens items in form order with their competency id', () => {
    const items = itemsOf(fixture());
    expect(items).toHaveLength(30);
    expect(items[0]).toEqual({
      competencyId: 'competency_0',
      id: 'competency_0.item_0',
      rater: 'Does observable thing 0.0.',
      self: 'I do observable thing 0.0.',
    });
    expect(items.map((item) => item.id.split('.')[0])).toEqual(items.map((item) => item.competencyId));
    expect(nth(items, 29).id).toBe('competency_9.item_2');
  });
});

describe('formText', () => {
  it('uses rater wording for raters', () => {
    const form = formText(fixture(), 'rater');
    expect(nth(nth(form.competencies, 1).items, 2)).toEqual({
      id: 'competency_1.item_2',
      text: 'Does observable thing 1.2.',
    });
    expect(nth(form.questions, 0)).toEqual({
      id: 'keep_doing',
      text: 'What should this leader keep doing?',
      maxLength: 2000,
    });
  });

  it('uses self wording for the leader', () => {
    const form = formText(fixture(), 'self');
    expect(form.perspective).toBe('self');
    expect(nth(nth(form.competencies, 1).items, 2).text).toBe('I do observable thing 1.2.');
    expect(nth(form.questions, 1).text).toBe('What should I start doing?');
  });

  it('orders scale points ascending and carries the not-applicable label', () => {
    const { scale } = formText(fixture(), 'rater');
    expect(scale.points.map((p) => p.value)).toEqual([1, 2, 3, 4, 5]);
    expect(scale.notApplicable).toBe("Can't say");
  });
});
