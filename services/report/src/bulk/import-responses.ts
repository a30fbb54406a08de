import { parse } from 'csv-parse/sync';
import type { Kysely } from 'kysely';
import {
  programmeRepository,
  responseImportRepository,
  rosterRepository,
  type Database,
  type ImportedResponse,
  type Relationship,
} from '@panorama/db';
import {
  checkCommentText,
  ConflictError,
  InstrumentSchema,
  NotFoundError,
  ValidationError,
  type Instrument,
} from '@panorama/domain';
import { planJob } from '@panorama/jobs';

export const RESPONSE_COLUMNS = [
  'subject_email',
  'relationship',
  'response_key',
  'item_id',
  'value',
] as const;
export const COMMENT_COLUMNS = [
  'subject_email',
  'relationship',
  'response_key',
  'question_id',
  'text',
] as const;
const RELATIONSHIPS: readonly Relationship[] = ['self', 'manager', 'peer', 'direct_report', 'other'];
export const MAX_IMPORT_ROWS = 2_000_000;
/** Problems quoted in the error message itself (all of them are in `problems`). */
const QUOTED = 20;

export interface ImportResponsesInput {
  cycleId: string;
  /** Long format: one row per rating; `value` 1..max of the scale or NA (can't say). */
  responsesCsv: string;
  /** Long format: one row per comment. */
  commentsCsv?: string | undefined;
}

export interface ImportResponsesResult {
  responses: number;
  ratings: number;
  comments: number;
  /** Leaders whose profile is queued for aggregation. */
  subjects: number;
}

type Problem = { path: string; message: string };

function readCsv(
  text: string,
  columns: readonly string[],
  label: string,
): { line: number; cell: (c: string) => string }[] {
  let records: string[][];
  try {
    records = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true });
  } catch (error) {
    throw new ValidationError(`The ${label} file is not valid CSV: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) throw new ValidationError(`The ${label} file is empty: expected a header row and rows.`);
  const names = header.map((h) => h.trim().toLowerCase());
  const missing = columns.filter((c) => !names.includes(c));
  const unknown = names.filter((c) => !columns.includes(c));
  if (missing.length > 0 || unknown.length > 0) {
    throw new ValidationError(
      `The ${label} file has ${[
        missing.length > 0 ? `missing column(s) ${missing.join(', ')}` : '',
        unknown.length > 0 ? `unknown column(s) ${unknown.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join(' and ')}. Expected: ${columns.join(',')}`,
    );
  }
  if (rows.length > MAX_IMPORT_ROWS) {
    throw new ValidationError(`The ${label} file has ${rows.length} rows; the limit is ${MAX_IMPORT_ROWS}.`);
  }
  return rows.map((cells, i) => ({
    // The header is row 1, as in a spreadsheet.
    line: i + 2,
    cell: (c: string) => (cells[names.indexOf(c)] ?? '').trim(),
  }));
}

/**
 * Imports responses collected elsewhere into a cycle from long-format CSVs
 * (`subject_email,relationship,response_key,item_id,value` and optionally
 * `subject_email,relationship,response_key,question_id,text`). Rows sharing a `response_key` form one
 * response; the key is not stored (each response gets a fresh random id). Every problem is reported with its
 * row number (header = row 1) and nothing is stored unless the whole import is valid. Aggregation of every
 * leader touched is queued through the job outbox in the same transaction.
 */
export async function importResponses(
  db: Kysely<Database>,
  input: ImportResponsesInput,
): Promise<ImportResponsesResult> {
  const cycle = await responseImportRepository.cycleForImport(db, input.cycleId);
  if (!cycle) throw new NotFoundError('cycle not found');
  if (cycle.status === 'released') {
    throw new ConflictError('responses cannot be imported into a released cycle');
  }
  const instrument = InstrumentSchema.parse(
    await programmeRepository.instrumentDefinition(db, cycle.instrument_id, cycle.instrument_version),
  ) as Instrument;
  const instrumentName = `${instrument.id} v${instrument.version}`;
  const items = new Map(instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)));
  const questions = new Map(instrument.questions.map((q) => [q.id, q.max_length]));
  const subjects = new Map(
    (await rosterRepository.subjectsOfCycle(db, input.cycleId)).map((s) => [s.leader_email, s.id]),
  );
  const { min, max } = instrument.scale;

  const problems: Problem[] = [];
  const responses = new Map<string, ImportedResponse & { line: number; email: string; label: string }>();
  const selfOf = new Map<string, string>();
  const seen = new Map<string, number>();

  const responseFor = (
    row: { line: number; cell: (c: string) => string },
    label: string,
    fail: (m: string) => void,
  ): ImportedResponse | null => {
    const email = row.cell('subject_email').toLowerCase();
    const relationship = row.cell('relationship');
    const key = row.cell('response_key');
    let ok = true;
    const subjectId = subjects.get(email);
    if (!subjectId) {
      fail(`subject_email '${row.cell('subject_email')}' is not a leader of this cycle`);
      ok = false;
    }
    if (!(RELATIONSHIPS as readonly string[]).includes(relationship)) {
      fail(`relationship '${relationship}' is not one of ${RELATIONSHIPS.join(', ')}`);
      ok = false;
    }
    if (!key) {
      fail('response_key is empty');
      ok = false;
    }
    if (!ok || !subjectId) return null;
    const existing = responses.get(key);
    if (existing) {
      if (existing.email !== email || existing.relationship !== relationship) {
        fail(
          `response_key '${key}' belongs to ${existing.email} as ${existing.relationship} ` +
            `(${existing.label} ${existing.line}); one response has one subject and relationship`,
        );
        return null;
      }
      return existing;
    }
    if (relationship === 'self') {
      const other = selfOf.get(email);
      if (other !== undefined) {
        fail(`a second self response for ${email} (response_key '${other}'); a leader rates themselves once`);
        return null;
      }
      selfOf.set(email, key);
    }
    const created = {
      subjectId,
      relationship: relationship as Relationship,
      ratings: [],
      comments: [],
      line: row.line,
      email,
      label,
    };
    responses.set(key, created);
    return created;
  };

  for (const row of readCsv(input.responsesCsv, RESPONSE_COLUMNS, 'responses')) {
    const fail = (message: string) => problems.push({ path: `row ${row.line}`, message });
    const before = problems.length;
    const itemId = row.cell('item_id');
    const competencyId = items.get(itemId);
    if (!competencyId) fail(`item_id '${itemId}' is not an item of ${instrumentName}`);
    const raw = row.cell('value');
    let value: number | null = null;
    if (raw.toUpperCase() !== 'NA') {
      value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(value >= min && value <= max))
        fail(`value '${raw}' is not a whole number from ${min} to ${max} or NA`);
    }
    const response = responseFor(row, 'row', fail);
    if (!response || !competencyId || problems.length > before) continue;
    const dupKey = `${row.cell('response_key')}\u0000${itemId}`;
    const first = seen.get(dupKey);
    if (first !== undefined) {
      fail(
        `item_id '${itemId}' is rated twice for response_key '${row.cell('response_key')}' (first on row ${first})`,
      );
      continue;
    }
    seen.set(dupKey, row.line);
    response.ratings.push({ itemId, competencyId, value });
  }

  if (input.commentsCsv !== undefined && input.commentsCsv.trim() !== '') {
    for (const row of readCsv(input.commentsCsv, COMMENT_COLUMNS, 'comments')) {
      const fail = (message: string) => problems.push({ path: `comments row ${row.line}`, message });
      const before = problems.length;
      const questionId = row.cell('question_id');
      const maxLength = questions.get(questionId);
      let text = row.cell('text');
      if (maxLength === undefined) fail(`question_id '${questionId}' is not a question of ${instrumentName}`);
      else {
        // The same rule as the rater form (control characters, bidi overrides, invalid UTF-8, length in
        // characters): imported comments used to be stored unchecked (test/security/fuzz-report.test.ts).
        const checked = checkCommentText(text, maxLength);
        if ('problem' in checked) fail(`text ${checked.problem}`);
        else text = checked.text;
      }
      if (!text) fail('text is empty');
      const response = responseFor(row, 'comments row', fail);
      if (!response || problems.length > before) continue;
      const dupKey = `${row.cell('response_key')}\u0000?${questionId}`;
      const first = seen.get(dupKey);
      if (first !== undefined) {
        fail(
          `question_id '${questionId}' is answered twice for response_key '${row.cell('response_key')}' (first on comments row ${first})`,
        );
        continue;
      }
      seen.set(dupKey, row.line);
      response.comments.push({ questionId, body: text });
    }
  }

  if (problems.length > 0) {
    const quoted = problems.slice(0, QUOTED).map((p) => `${p.path}: ${p.message}`);
    if (problems.length > QUOTED) quoted.push(`… and ${problems.length - QUOTED} more`);
    throw new ValidationError(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in the file; nothing was imported.\n` +
        quoted.join('\n'),
      problems,
    );
  }
  if (responses.size === 0) throw new ValidationError('The responses file has a header but no rows.');

  const list = [...responses.values()].map(({ subjectId, relationship, ratings, comments }) => ({
    subjectId,
    relationship,
    ratings,
    comments,
  }));
  const touched = [...new Set(list.map((r) => r.subjectId))].sort();
  await db.transaction().execute(async (trx) => {
    await responseImportRepository.insert(
      trx,
      list,
      touched.map((subjectId) => planJob('aggregate-subject', { subjectId })),
      input.cycleId,
    );
  });
  return {
    responses: list.length,
    ratings: list.reduce((n, r) => n + r.ratings.length, 0),
    comments: list.reduce((n, r) => n + r.comments.length, 0),
    subjects: touched.length,
  };
}
