import { describe, expect, expectTypeOf, it } from 'vitest';
import { stringify } from 'yaml';

import { ValidationError } from '../errors.ts';
import { InstrumentError } from './errors.ts';
import { parseInstrument } from './load.ts';
import { InstrumentSchema } from './schema.ts';
import type { AnonymityRules, ScoringInstrument } from '../scoring/types.ts';
import type { Instrument } from './schema.ts';
import { nth, poke, validInstrument } from './test-fixture.ts';

const FILE = 'surveys/fixture-360/instrument.yaml';

function problemsOf(instrument: Instrument): string[] {
  try {
    parseInstrument(stringify(instrument), FILE);
  } catch (error) {
    if (error instanceof InstrumentError) return error.message.split('\n');
    throw error;
  }
  return [];
}

const competency = (i: Instrument, n: number) => nth(i.competencies, n);
const item = (i: Instrument, c: number, n: number) => nth(competency(i, c).items, n);
const question = (i: Instrument, n: number) => nth(i.questions, n);
const point = (i: Instrument, n: number) => nth(i.scale.points, n);

interface Case {
  rule: string;
  breakIt: (instrument: Instrument) => void;
  /** The expected problem, without the `<file>: ` prefix. */
  problem: string;
}

const cases: Case[] = [
  // Objects are strict.
  {
    rule: 'unknown top-level key',
    breakIt: (i) => poke(i, 'colour', 'blue'),
    problem: 'colour: is not a known field',
  },
  {
    rule: 'unknown key in an item',
    breakIt: (i) => poke(item(i, 2, 1), 'reverse_scored', true),
    problem: 'competencies[2].items[1].reverse_scored: is not a known field (allowed here: id, rater, self)',
  },
  {
    rule: 'unknown anonymity group',
    breakIt: (i) => poke(nonNull(i.anonymity).k, 'manager', 1),
    problem: 'anonymity.k.manager: is not a known field',
  },
  // Required fields and types.
  { rule: 'missing title', breakIt: (i) => poke(i, 'title', undefined), problem: 'title: is required' },
  {
    rule: 'missing competency description',
    breakIt: (i) => poke(competency(i, 2), 'description', undefined),
    problem: 'competencies[2].description: is required',
  },
  {
    rule: 'missing not_applicable label',
    breakIt: (i) => poke(i.scale, 'not_applicable', undefined),
    problem: 'scale.not_applicable: is required',
  },
  {
    rule: 'text that is a number',
    breakIt: (i) => poke(i, 'title', 360),
    problem: 'title: must be text, got 360',
  },
  // Ids.
  {
    rule: 'instrument id not kebab-case',
    breakIt: (i) => (i.id = 'Fixture_360'),
    problem: 'id: "Fixture_360" must be kebab-case',
  },
  {
    rule: 'competency id not snake_case',
    breakIt: (i) => (competency(i, 1).id = 'Competency-1'),
    problem: 'competencies[1].id: "Competency-1" must be snake_case',
  },
  {
    rule: 'item id without a competency part',
    breakIt: (i) => (item(i, 0, 0).id = 'item_0'),
    problem: 'competencies[0].items[0].id: "item_0" must be <competency_id>.<item_name>',
  },
  {
    rule: 'question id not snake_case',
    breakIt: (i) => (question(i, 1).id = 'start doing'),
    problem: 'questions[1].id: "start doing" must be snake_case',
  },
  {
    rule: 'item id prefixed with another competency',
    breakIt: (i) => (item(i, 3, 1).id = 'competency_2.item_9'),
    problem:
      'competencies[3].items[1].id: "competency_2.item_9" must start with its competency id "competency_3."',
  },
  {
    rule: 'duplicate item id',
    breakIt: (i) => (item(i, 4, 2).id = 'competency_4.item_0'),
    problem:
      'competencies[4].items[2].id: "competency_4.item_0" is already used at competencies[4].items[0].id',
  },
  {
    rule: 'question id equal to a competency id',
    breakIt: (i) => (question(i, 0).id = 'competency_5'),
    problem: 'questions[0].id: "competency_5" is already used at competencies[5].id',
  },
  {
    rule: 'duplicate question id',
    breakIt: (i) => (question(i, 1).id = 'keep_doing'),
    problem: 'questions[1].id: "keep_doing" is already used at questions[0].id',
  },
  // Counts.
  {
    rule: 'fewer than 10 competencies',
    breakIt: (i) => i.competencies.pop(),
    problem: 'competencies: must have at least 10 entries, has 9',
  },
  {
    rule: 'more than 12 competencies',
    breakIt: (i) => {
      for (const n of [10, 11, 12]) {
        i.competencies.push({
          id: `competency_${n}`,
          title: 'Extra',
          description: 'Extra.',
          items: [0, 1, 2].map((k) => ({
            id: `competency_${n}.item_${k}`,
            rater: 'Does it.',
            self: 'I do it.',
          })),
        });
      }
    },
    problem: 'competencies: must have at most 12 entries, has 13',
  },
  {
    rule: 'fewer than 3 items',
    breakIt: (i) => competency(i, 6).items.pop(),
    problem: 'competencies[6].items: must have at least 3 entries, has 2',
  },
  {
    rule: 'more than 5 items',
    breakIt: (i) => {
      for (const n of [3, 4, 5])
        competency(i, 6).items.push({ id: `competency_6.extra_${n}`, rater: 'Does.', self: 'I do.' });
    },
    problem: 'competencies[6].items: must have at most 5 entries, has 6',
  },
  {
    rule: 'fewer than 2 questions',
    breakIt: (i) => i.questions.pop(),
    problem: 'questions: must have at least 2 entries, has 1',
  },
  {
    rule: 'more than 3 questions',
    breakIt: (i) => {
      for (const n of [2, 3])
        i.questions.push({ id: `question_${n}`, rater: 'Q?', self: 'Q?', max_length: 100 });
    },
    problem: 'questions: must have at most 3 entries, has 4',
  },
  // Text.
  { rule: 'blank text', breakIt: (i) => (i.title = '   '), problem: 'title: must not be empty' },
  {
    rule: 'over-long item wording',
    breakIt: (i) => (item(i, 0, 0).rater = 'x'.repeat(201)),
    problem: 'competencies[0].items[0].rater: must be at most 200 characters long, is 201',
  },
  {
    rule: 'malformed locale',
    breakIt: (i) => (i.locale = 'English'),
    problem: 'locale: "English" must be a language tag',
  },
  // Version.
  { rule: 'version 0', breakIt: (i) => (i.version = 0), problem: 'version: must be at least 1, got 0' },
  {
    rule: 'fractional version',
    breakIt: (i) => (i.version = 1.5),
    problem: 'version: must be a whole number, got 1.5',
  },
  {
    rule: 'version as text',
    breakIt: (i) => poke(i, 'version', '1'),
    problem: 'version: must be a whole number, got "1"',
  },
  // Scale.
  {
    rule: 'scale point missing',
    breakIt: (i) => i.scale.points.splice(2, 1),
    problem: 'scale.points: needs a label for every value 1..5; missing 3',
  },
  {
    rule: 'scale value given twice',
    breakIt: (i) => (point(i, 3).value = 3),
    problem: 'scale.points[3].value: 3 already has a label at scale.points[2]',
  },
  {
    rule: 'scale value outside min..max',
    breakIt: (i) => (point(i, 4).value = 6),
    problem: 'scale.points[4].value: 6 is outside the scale 1..5',
  },
  {
    rule: 'scale label given twice',
    breakIt: (i) => (point(i, 1).label = 'Almost never'),
    problem: 'scale.points[1].label: "Almost never" is already the label of scale.points[0]',
  },
  {
    rule: 'scale max not above min',
    breakIt: (i) => (i.scale.max = 1),
    problem: 'scale.max: the scale must have 3 to 11 points, but min 1 and max 1 give 1',
  },
  {
    rule: 'fractional scale bound',
    breakIt: (i) => (i.scale.min = 0.5),
    problem: 'scale.min: must be a whole number',
  },
  // Anonymity floors.
  ...(['peer', 'direct_report', 'other'] as const).map((group): Case => ({
    rule: `${group} k below 3`,
    breakIt: (i) => (nonNull(i.anonymity).k[group] = 2),
    problem: `anonymity.k.${group}: must be at least 3, got 2`,
  })),
  {
    rule: 'all_others k below 4',
    breakIt: (i) => (nonNull(i.anonymity).k.all_others = 3),
    problem: 'anonymity.k.all_others: must be at least 4, got 3',
  },
  // Change norms and self-other settings.
  {
    rule: 'a norm for an unknown competency',
    breakIt: (i) => (i.norms = { sd1: { leadership: 0.5 } }),
    problem: 'norms.sd1.leadership: "leadership" is not a competency of this instrument',
  },
  {
    rule: 'rxx of 1',
    breakIt: (i) => (i.norms = { rxx: { competency_0: 1 } }),
    problem: 'norms.rxx.competency_0: must be less than 1',
  },
  {
    rule: 'SD1 of 0',
    breakIt: (i) => (i.norms = { sd1: { competency_0: 0 } }),
    problem: 'norms.sd1.competency_0: must be greater than 0',
  },
  {
    rule: 'a top/bottom fraction above one half',
    breakIt: (i) => (i.self_other = { fraction: 0.6 }),
    problem: 'self_other.fraction: must be at most 0.5',
  },
  {
    rule: 'a gap threshold of 0',
    breakIt: (i) => (i.self_other = { gap_threshold: 0 }),
    problem: 'self_other.gap_threshold: must be greater than 0',
  },
  // Questions.
  {
    rule: 'max_length of 0',
    breakIt: (i) => (question(i, 0).max_length = 0),
    problem: 'questions[0].max_length: must be at least 1, got 0',
  },
];

function nonNull<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('fixture is missing a value');
  return value;
}

describe('instrument schema', () => {
  it('accepts the fixture', () => {
    expect(problemsOf(validInstrument())).toEqual([]);
  });

  it.each(cases)('rejects $rule', ({ breakIt, problem }) => {
    const instrument = validInstrument();
    breakIt(instrument);
    const problems = problemsOf(instrument);
    expect(
      problems.some((line) => line.startsWith(`${FILE}: ${problem}`)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('lists every problem at once, structural and cross-field alike', () => {
    const instrument = validInstrument();
    poke(competency(instrument, 0), 'colour', 'blue');
    item(instrument, 7, 0).id = 'competency_1.item_0';
    instrument.version = 0;
    expect(problemsOf(instrument)).toEqual([
      `${FILE}: version: must be at least 1, got 0`,
      `${FILE}: competencies[0].colour: is not a known field (allowed here: id, title, description, items)`,
      `${FILE}: competencies[7].items[0].id: "competency_1.item_0" is already used at competencies[1].items[0].id; ids must be unique`,
      `${FILE}: competencies[7].items[0].id: "competency_1.item_0" must start with its competency id "competency_7."`,
    ]);
  });

  it('points YAML problems at their line', () => {
    const instrument = validInstrument();
    instrument.version = 0;
    const source = stringify(instrument);
    const error = catchError(() => parseInstrument(source, FILE));
    const versionLine = source.split('\n').findIndex((line) => line.startsWith('version:')) + 1;
    expect(error.problems).toEqual([
      { file: FILE, path: 'version', message: 'must be at least 1, got 0', line: versionLine, column: 10 },
    ]);
  });

  it('trims text and freezes the result', () => {
    const instrument = validInstrument();
    instrument.title = '  Fixture 360\n';
    const parsed = parseInstrument(stringify(instrument), FILE);
    expect(parsed.title).toBe('Fixture 360');
    expect(Object.isFrozen(nth(parsed.competencies, 0).items)).toBe(true);
  });

  it('leaves anonymity optional', () => {
    const instrument = validInstrument();
    delete instrument.anonymity;
    expect(problemsOf(instrument)).toEqual([]);
  });

  it('accepts configured change norms and self-other settings, both optional', () => {
    const instrument = validInstrument();
    instrument.norms = { sd1: { competency_0: 0.42 }, rxx: { competency_0: 0.85, competency_3: 0 } };
    instrument.self_other = { fraction: 0.2, gap_threshold: 0.8 };
    expect(problemsOf(instrument)).toEqual([]);
    const parsed = parseInstrument(stringify(instrument), FILE);
    expect(parsed.norms?.sd1).toEqual({ competency_0: 0.42 });
    expect(parsed.self_other).toEqual({ fraction: 0.2, gap_threshold: 0.8 });
  });

  it('fits what scoring expects of an instrument', () => {
    expectTypeOf<Instrument>().toExtend<ScoringInstrument>();
    expectTypeOf<NonNullable<Instrument['anonymity']>['k']>().toEqualTypeOf<AnonymityRules['k']>();
  });

  it('is a ValidationError, so the web error handler treats it as bad input', () => {
    const instrument = validInstrument();
    instrument.version = 0;
    const error = catchError(() => parseInstrument(stringify(instrument), FILE));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.name).toBe('InstrumentError');
  });

  it('enforces cross-field rules when the schema is used on its own', () => {
    const instrument = validInstrument();
    item(instrument, 3, 1).id = 'competency_2.item_9';
    const result = InstrumentSchema.safeParse(instrument);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['competencies', 3, 'items', 1, 'id']]);
  });
});

function catchError(fn: () => unknown): InstrumentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InstrumentError) return error;
    throw error;
  }
  throw new Error('expected an InstrumentError');
}
