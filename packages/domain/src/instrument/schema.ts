import { z } from 'zod';

import { formatPath } from './errors.ts';

const INSTRUMENT_ID = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const SNAKE_ID = /^[a-z][a-z0-9_]*$/;
const ITEM_ID = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;
const LOCALE = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;

// The floors of METHODS §2, also enforced on a cycle's rules by scoring/anonymity.ts: an instrument
// may raise a group's k, never lower it.
const MIN_GROUP_K = 3;
const MIN_ALL_OTHERS_K = 4;

const quote = (input: unknown): string => JSON.stringify(input) ?? String(input);

const id = (pattern: RegExp, rule: string) =>
  z
    .string()
    .max(64, {
      error: (iss) => `must be at most 64 characters long, is ${String((iss.input as string).length)}`,
    })
    .regex(pattern, { error: (iss) => `${quote(iss.input)} must be ${rule}` });

const snakeId = () => id(SNAKE_ID, 'snake_case: a lowercase letter, then lowercase letters, digits or _');

// Trimming (rather than rejecting surrounding whitespace) lets authors use YAML block scalars, which
// keep a trailing newline, without the stored text or the checksum depending on that choice.
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { error: 'must not be empty' })
    .max(max, {
      error: (iss) => `must be at most ${max} characters long, is ${String((iss.input as string).length)}`,
    });

const threshold = (min: number) => z.int().min(min).max(50);

const ItemSchema = z.strictObject({
  id: id(ITEM_ID, '<competency_id>.<item_name>, both parts snake_case'),
  rater: text(200),
  self: text(200),
});

const CompetencySchema = z.strictObject({
  id: snakeId(),
  title: text(80),
  description: text(300),
  items: z.array(ItemSchema).min(3).max(5),
});

const QuestionSchema = z.strictObject({
  id: snakeId(),
  rater: text(300),
  self: text(300),
  max_length: z.int().min(1).max(10_000),
});

const ScaleSchema = z.strictObject({
  min: z.int().min(0).max(10),
  max: z.int().min(0).max(10),
  points: z
    .array(
      z.strictObject({
        value: z.int(),
        label: text(40),
      }),
    )
    .min(1),
  not_applicable: text(40),
});

const AnonymitySchema = z.strictObject({
  k: z.strictObject({
    peer: threshold(MIN_GROUP_K),
    direct_report: threshold(MIN_GROUP_K),
    other: threshold(MIN_GROUP_K),
    all_others: threshold(MIN_ALL_OTHERS_K),
  }),
});

// Change norms (METHODS §6): a configured SD1 or reliability replaces the one computed from the cohort for
// that competency. rxx must stay below 1, or the reliable change index divides by zero.
const NormsSchema = z.strictObject({
  sd1: z.record(snakeId(), z.number().gt(0).max(10)).optional(),
  rxx: z.record(snakeId(), z.number().min(0).lt(1)).optional(),
});

// Blind spots and hidden strengths (METHODS §3): the top/bottom share and the gap that is flagged.
const SelfOtherSchema = z.strictObject({
  fraction: z.number().gt(0).max(0.5).optional(),
  gap_threshold: z.number().gt(0).max(10).optional(),
});

const StructureSchema = z.strictObject({
  id: id(INSTRUMENT_ID, 'kebab-case: lowercase letters and digits, words joined by -'),
  version: z.int().min(1),
  title: text(120),
  description: text(800),
  /** The self form's introduction (first person); without it the survey's own words for the self form. */
  self_description: text(800).optional(),
  locale: z
    .string()
    .regex(LOCALE, { error: (iss) => `${quote(iss.input)} must be a language tag like "en"` }),
  scale: ScaleSchema,
  anonymity: AnonymitySchema.optional(),
  norms: NormsSchema.optional(),
  self_other: SelfOtherSchema.optional(),
  competencies: z.array(CompetencySchema).min(10).max(12),
  questions: z.array(QuestionSchema).min(2).max(3),
});

// A problem found by a rule that spans several fields.
export interface CrossFieldIssue {
  path: (string | number)[];
  message: string;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const listAt = (value: unknown, key: string): unknown[] =>
  isRecord(value) && Array.isArray(value[key]) ? (value[key] as unknown[]) : [];

const stringAt = (value: unknown, key: string, pattern: RegExp): string | undefined => {
  const found = isRecord(value) ? value[key] : undefined;
  return typeof found === 'string' && pattern.test(found) ? found : undefined;
};

const intAt = (value: unknown, key: string): number | undefined => {
  const found = isRecord(value) ? value[key] : undefined;
  return Number.isSafeInteger(found) ? (found as number) : undefined;
};

// Rules that relate one field to another. They read the input defensively, because they must also run
// when other parts of the input are malformed: an author should see every problem in one pass.
export function crossFieldIssues(input: unknown): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];

  const seen = new Map<string, (string | number)[]>();
  const claim = (value: string | undefined, path: (string | number)[]) => {
    if (value === undefined) return;
    const first = seen.get(value);
    if (first) {
      issues.push({
        path,
        message: `${quote(value)} is already used at ${formatPath(first)}; ids must be unique`,
      });
    } else {
      seen.set(value, path);
    }
  };

  listAt(input, 'competencies').forEach((competency, c) => {
    const competencyId = stringAt(competency, 'id', SNAKE_ID);
    claim(competencyId, ['competencies', c, 'id']);
    listAt(competency, 'items').forEach((item, i) => {
      const itemId = stringAt(item, 'id', ITEM_ID);
      const path = ['competencies', c, 'items', i, 'id'];
      claim(itemId, path);
      if (itemId !== undefined && competencyId !== undefined && !itemId.startsWith(`${competencyId}.`)) {
        issues.push({
          path,
          message: `${quote(itemId)} must start with its competency id ${quote(`${competencyId}.`)}`,
        });
      }
    });
  });
  listAt(input, 'questions').forEach((question, q) => {
    claim(stringAt(question, 'id', SNAKE_ID), ['questions', q, 'id']);
  });

  issues.push(...scaleIssues(isRecord(input) ? input['scale'] : undefined));

  const competencyIds = new Set(
    listAt(input, 'competencies').flatMap((c) => stringAt(c, 'id', SNAKE_ID) ?? []),
  );
  const norms = isRecord(input) ? input['norms'] : undefined;
  for (const key of ['sd1', 'rxx'] as const) {
    const byCompetency = isRecord(norms) ? norms[key] : undefined;
    if (!isRecord(byCompetency)) continue;
    for (const competencyId of Object.keys(byCompetency)) {
      if (SNAKE_ID.test(competencyId) && !competencyIds.has(competencyId)) {
        issues.push({
          path: ['norms', key, competencyId],
          message: `${quote(competencyId)} is not a competency of this instrument`,
        });
      }
    }
  }
  return issues;
}

function scaleIssues(scale: unknown): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];
  const min = intAt(scale, 'min');
  const max = intAt(scale, 'max');
  const rangeKnown = min !== undefined && max !== undefined && max - min >= 2 && max - min <= 10;
  if (min !== undefined && max !== undefined && !rangeKnown) {
    issues.push({
      path: ['scale', 'max'],
      message: `the scale must have 3 to 11 points, but min ${min} and max ${max} give ${Math.max(0, max - min + 1)}`,
    });
  }

  const byValue = new Map<number, number>();
  const byLabel = new Map<string, number>();
  listAt(scale, 'points').forEach((point, p) => {
    const value = intAt(point, 'value');
    if (value !== undefined && rangeKnown) {
      const first = byValue.get(value);
      if (value < min || value > max) {
        issues.push({
          path: ['scale', 'points', p, 'value'],
          message: `${value} is outside the scale ${min}..${max}`,
        });
      } else if (first !== undefined) {
        issues.push({
          path: ['scale', 'points', p, 'value'],
          message: `${value} already has a label at scale.points[${first}]`,
        });
      } else {
        byValue.set(value, p);
      }
    }
    const label = isRecord(point) && typeof point['label'] === 'string' ? point['label'].trim() : undefined;
    if (label) {
      const first = byLabel.get(label);
      if (first === undefined) byLabel.set(label, p);
      else
        issues.push({
          path: ['scale', 'points', p, 'label'],
          message: `${quote(label)} is already the label of scale.points[${first}]`,
        });
    }
  });

  if (rangeKnown) {
    const missing: number[] = [];
    for (let value = min; value <= max; value += 1) if (!byValue.has(value)) missing.push(value);
    if (missing.length > 0) {
      issues.push({
        path: ['scale', 'points'],
        message: `needs a label for every value ${min}..${max}; missing ${missing.join(', ')}`,
      });
    }
  }
  return issues;
}

/**
 * The shape of a survey instrument as written in `surveys/<id>/instrument.yaml`. Keys keep the file's
 * snake_case. Strings are trimmed. Use `parseInstrument` rather than this schema directly to get one
 * readable error listing every problem.
 */
export const InstrumentSchema = StructureSchema.superRefine((instrument, ctx) => {
  for (const issue of crossFieldIssues(instrument)) ctx.addIssue({ code: 'custom', ...issue });
});

/** A validated survey instrument. */
export type Instrument = z.output<typeof InstrumentSchema>;
/** One competency of an instrument, with its items. */
export type Competency = Instrument['competencies'][number];
/** One rated statement, worded for raters and for the leader. */
export type InstrumentItem = Competency['items'][number];
/** One open (free-text) question. */
export type OpenQuestion = Instrument['questions'][number];
/** The rating scale shared by every item. */
export type RatingScale = Instrument['scale'];
