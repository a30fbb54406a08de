import { ValidationError } from './errors.ts';
import type { Instrument } from './instrument/index.ts';

/** A rater's answers as stored: item -> 1..5 or null ("Can't say"); question -> text. */
export interface Answers {
  ratings: Record<string, number | null>;
  comments: Record<string, string>;
}

export const RATING_FIELD = 'r.';
export const COMMENT_FIELD = 'c.';
export const NOT_APPLICABLE = 'na';
/** Form fields that are not answers and are allowed alongside them. */
const CONTROL_FIELDS = new Set(['_csrf', 'action', 'page']);

// C0/C1 controls other than tab and newlines, and the bidi overrides that can make text read differently
// from what is stored. Zero-width joiners and right-to-left text are legitimate and kept.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A comment as it is stored (NFC, newlines normalised, trimmed), or why it cannot be: invalid UTF-8, control
 * characters or bidi overrides, or longer than `maxLength` characters (code points). Every way a comment
 * enters Panorama (the form, the response import) goes through this one rule.
 */
export function checkCommentText(raw: string, maxLength: number): { text: string } | { problem: string } {
  const text = raw.normalize('NFC').replace(/\r\n?/g, '\n').trim();
  // A lone surrogate cannot be stored as UTF-8 either; it would silently become U+FFFD.
  if (text.includes('\uFFFD') || LONE_SURROGATE.test(text))
    return { problem: 'contains characters that could not be read (invalid UTF-8)' };
  if (FORBIDDEN_CHARS.test(text)) return { problem: 'contains control characters; please remove them' };
  const length = [...text].length;
  if (length > maxLength) return { problem: `is ${length} characters long; the limit is ${maxLength}` };
  return { text };
}

export interface ParseAnswersOptions {
  /** Require an answer (a rating or "Can't say") for every item in scope. */
  complete: boolean;
  /** Limit the check to these items and questions (one page of the form); default: the whole instrument. */
  itemIds?: readonly string[];
  questionIds?: readonly string[];
}

/**
 * Turns posted form fields into answers, or throws a ValidationError listing every problem by field.
 * Only the instrument's own item and question ids are accepted, each at most once.
 */
export function parseAnswers(instrument: Instrument, fields: unknown, options: ParseAnswersOptions): Answers {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new ValidationError('The form was empty or not sent as a form.', []);
  }
  const items = new Map(instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, i] as const)));
  const questions = new Map(instrument.questions.map((q) => [q.id, q] as const));
  const itemScope = new Set(options.itemIds ?? items.keys());
  const questionScope = new Set(options.questionIds ?? questions.keys());
  const { min, max } = instrument.scale;

  const ratings: Record<string, number | null> = Object.create(null);
  const comments: Record<string, string> = Object.create(null);
  const problems: { path: string; message: string }[] = [];

  for (const key of Object.keys(fields)) {
    const raw = (fields as Record<string, unknown>)[key];
    if (CONTROL_FIELDS.has(key)) continue;
    if (Array.isArray(raw)) {
      problems.push({ path: key, message: 'was sent more than once; each item takes one answer' });
      continue;
    }
    if (typeof raw !== 'string') {
      problems.push({ path: key, message: 'must be text' });
      continue;
    }
    if (key.startsWith(RATING_FIELD)) {
      const id = key.slice(RATING_FIELD.length);
      if (!items.has(id) || !itemScope.has(id)) {
        problems.push({ path: key, message: 'is not an item of this survey' });
      } else if (raw === NOT_APPLICABLE) {
        ratings[id] = null;
      } else if (raw === '') {
        // Left blank; `complete` decides whether that is allowed.
      } else if (/^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max) {
        ratings[id] = Number(raw);
      } else {
        problems.push({
          path: key,
          message: `must be a whole number from ${min} to ${max}, or "${instrument.scale.not_applicable}"`,
        });
      }
    } else if (key.startsWith(COMMENT_FIELD)) {
      const id = key.slice(COMMENT_FIELD.length);
      const question = questions.get(id);
      if (!question || !questionScope.has(id)) {
        problems.push({ path: key, message: 'is not a question of this survey' });
        continue;
      }
      const checked = checkCommentText(raw, question.max_length);
      if ('problem' in checked) problems.push({ path: key, message: checked.problem });
      else if (checked.text !== '') comments[id] = checked.text;
    } else {
      problems.push({ path: key, message: 'is not a field of this form' });
    }
  }

  if (options.complete) {
    for (const id of itemScope) {
      if (items.has(id) && !(id in ratings) && !problems.some((p) => p.path === RATING_FIELD + id)) {
        problems.push({
          path: RATING_FIELD + id,
          message: `choose a rating, or "${instrument.scale.not_applicable}" if you have not seen this`,
        });
      }
    }
  }
  if (problems.length > 0) {
    throw new ValidationError(
      problems.length === 1
        ? 'One answer needs your attention.'
        : `${problems.length} answers need your attention.`,
      problems,
    );
  }
  return { ratings: { ...ratings }, comments: { ...comments } };
}
