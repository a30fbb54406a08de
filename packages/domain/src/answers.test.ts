import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAnswers } from './answers.ts';
import { ValidationError } from './errors.ts';
import { loadInstrument, type Instrument } from './instrument/index.ts';

let instrument: Instrument;
let first: string;
let question: string;
beforeAll(async () => {
  instrument = await loadInstrument(
    path.resolve(import.meta.dirname, '../../../surveys/leadership-360/instrument.yaml'),
  );
  first = instrument.competencies[0]!.items[0]!.id;
  question = instrument.questions[0]!.id;
});

const problemsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems;
  }
  throw new Error('expected a ValidationError');
};

describe('parseAnswers', () => {
  it('accepts ratings, "can\'t say" and comments', () => {
    const answers = parseAnswers(
      instrument,
      {
        _csrf: 'x',
        [`r.${first}`]: '4',
        [`r.${instrument.competencies[0]!.items[1]!.id}`]: 'na',
        [`c.${question}`]: '  Great\r\nwork  ',
      },
      { complete: false },
    );
    expect(answers.ratings[first]).toBe(4);
    expect(answers.ratings[instrument.competencies[0]!.items[1]!.id]).toBeNull();
    expect(answers.comments[question]).toBe('Great\nwork');
  });

  it('requires every item when complete', () => {
    const problems = problemsOf(() => parseAnswers(instrument, { [`r.${first}`]: '3' }, { complete: true }));
    expect(problems).toHaveLength(instrument.competencies.flatMap((c) => c.items).length - 1);
  });

  it.each([
    ['0', 'whole number from 1 to 5'],
    ['6', 'whole number from 1 to 5'],
    ['3.5', 'whole number'],
    ['abc', 'whole number'],
    [' 3', 'whole number'],
  ])('rejects rating %j', (value, message) => {
    const problems = problemsOf(() =>
      parseAnswers(instrument, { [`r.${first}`]: value }, { complete: false }),
    );
    expect(problems[0]).toMatchObject({ path: `r.${first}` });
    expect(problems[0]!.message).toContain(message);
  });

  it('rejects unknown items, duplicate answers, odd fields and __proto__', () => {
    const fields = JSON.parse(
      `{"r.nope.item": "3", "r.${first}": ["3", "4"], "x": "1", "__proto__": "1", "c.nope": "hi"}`,
    ) as Record<string, unknown>;
    const problems = problemsOf(() => parseAnswers(instrument, fields, { complete: false }));
    expect(problems.map((p) => p.path).sort()).toEqual(
      ['__proto__', 'c.nope', `r.${first}`, 'r.nope.item', 'x'].sort(),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('caps comments, rejects invalid UTF-8 and control characters, keeps RTL and zero-width text', () => {
    const max = instrument.questions[0]!.max_length;
    expect(
      problemsOf(() =>
        parseAnswers(instrument, { [`c.${question}`]: 'a'.repeat(max + 1) }, { complete: false }),
      )[0]!.message,
    ).toContain('limit');
    expect(
      problemsOf(() => parseAnswers(instrument, { [`c.${question}`]: 'bad \uFFFD' }, { complete: false }))[0]!
        .message,
    ).toContain('UTF-8');
    expect(
      problemsOf(() => parseAnswers(instrument, { [`c.${question}`]: 'a\u0000b' }, { complete: false }))[0]!
        .message,
    ).toContain('control');
    expect(
      problemsOf(() => parseAnswers(instrument, { [`c.${question}`]: 'a\u202Eb' }, { complete: false }))[0]!
        .message,
    ).toContain('control');
    const ok = parseAnswers(instrument, { [`c.${question}`]: 'مرحبا\u200Dעולם' }, { complete: false });
    expect(ok.comments[question]).toBe('مرحبا\u200Dעולם');
  });

  it('limits a page to its own items', () => {
    const other = instrument.competencies[1]!.items[0]!.id;
    const problems = problemsOf(() =>
      parseAnswers(
        instrument,
        { [`r.${other}`]: '3' },
        { complete: false, itemIds: [first], questionIds: [] },
      ),
    );
    expect(problems[0]!.path).toBe(`r.${other}`);
  });

  it('rejects a body that is not a form', () => {
    expect(() => parseAnswers(instrument, null, { complete: false })).toThrow(ValidationError);
    expect(() => parseAnswers(instrument, 'r=1', { complete: false })).toThrow(ValidationError);
  });
});
