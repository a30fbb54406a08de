import { parse } from 'csv-parse/sync';
import type { Kysely } from 'kysely';
import { personRepository, rosterRepository, type Database, type Relationship } from '@panorama/db';
import { ConflictError, NotFoundError, ValidationError } from '@panorama/domain';

export const RELATIONSHIPS: readonly Relationship[] = ['self', 'manager', 'peer', 'direct_report', 'other'];
export const ROSTER_COLUMNS = [
  'leader_email',
  'leader_name',
  'coach_email',
  'coach_name',
  'rater_email',
  'rater_name',
  'relationship',
] as const;

export interface RosterRow {
  line: number;
  leaderEmail: string;
  leaderName: string;
  coachEmail: string | null;
  coachName: string | null;
  raterEmail: string;
  raterName: string;
  relationship: Relationship;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MAX_ROSTER_ROWS = 20_000;
const MAX_NAME = 200;
const MAX_EMAIL = 254;
// Control characters (a NUL cannot even be stored: it was a 500), bidi overrides that make a name read
// differently from what is stored, and U+FFFD from a file that is not UTF-8. Found by
// test/security/fuzz-report.test.ts.
// eslint-disable-next-line no-control-regex
const UNSAFE_TEXT = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD]/;

/**
 * Parses and validates a roster CSV. Every problem is reported with its row number (the header is row 1,
 * as in a spreadsheet); when any row is wrong nothing is returned.
 */
export function parseRosterCsv(text: string): RosterRow[] {
  let records: string[][];
  try {
    records = parse(text.replace(/^\uFEFF/, ''), {
      relax_column_count: true,
      skip_empty_lines: true,
      bom: true,
    });
  } catch (error) {
    throw new ValidationError(`The file is not valid CSV: ${(error as Error).message}`, []);
  }
  const [header, ...rows] = records;
  if (!header)
    throw new ValidationError('The file is empty: expected a header row and at least one row.', []);
  const columns = header.map((h) => h.trim().toLowerCase());
  const missing = ROSTER_COLUMNS.filter((c) => !columns.includes(c) && !c.startsWith('coach_'));
  const unknown = columns.filter((c) => !(ROSTER_COLUMNS as readonly string[]).includes(c));
  if (missing.length > 0 || unknown.length > 0) {
    throw new ValidationError(
      [
        missing.length > 0 ? `missing column(s): ${missing.join(', ')}` : '',
        unknown.length > 0 ? `unknown column(s): ${unknown.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ') + `. Expected: ${ROSTER_COLUMNS.join(', ')}`,
      [],
    );
  }
  if (rows.length === 0) throw new ValidationError('The file has a header but no rows.', []);
  if (rows.length > MAX_ROSTER_ROWS)
    throw new ValidationError(`The file has ${rows.length} rows; the limit is ${MAX_ROSTER_ROWS}.`, []);

  const problems: { path: string; message: string }[] = [];
  const parsed: RosterRow[] = [];
  const seen = new Map<string, number>();
  rows.forEach((cells, index) => {
    const line = index + 2;
    const at = (name: string) => cells[columns.indexOf(name)] ?? '';
    const fail = (message: string) => problems.push({ path: `row ${line}`, message });
    const rowProblems = problems.length;
    if (cells.length !== columns.length) fail(`has ${cells.length} cells; the header has ${columns.length}`);
    const leaderEmail = at('leader_email').trim().toLowerCase();
    const raterEmail = at('rater_email').trim().toLowerCase();
    const coachEmail = at('coach_email').trim().toLowerCase();
    const relationship = at('relationship');
    if (!EMAIL.test(leaderEmail)) fail(`leader_email '${at('leader_email')}' is not an email address`);
    if (!at('leader_name').trim()) fail('leader_name is empty');
    if (coachEmail && !EMAIL.test(coachEmail))
      fail(`coach_email '${at('coach_email')}' is not an email address`);
    if (!EMAIL.test(raterEmail)) fail(`rater_email '${at('rater_email')}' is not an email address`);
    if (!at('rater_name').trim()) fail('rater_name is empty');
    for (const column of ROSTER_COLUMNS) {
      const value = at(column);
      const max = column.endsWith('_email') ? MAX_EMAIL : MAX_NAME;
      if (UNSAFE_TEXT.test(value)) fail(`${column} contains control characters or text that is not UTF-8`);
      else if (value.length > max) fail(`${column} is longer than ${max} characters`);
    }
    if (!(RELATIONSHIPS as readonly string[]).includes(relationship)) {
      fail(`relationship '${relationship}' is not one of ${RELATIONSHIPS.join(', ')}`);
    } else if (relationship === 'self' && raterEmail !== leaderEmail) {
      fail('relationship self needs rater_email to be the leader’s own email');
    } else if (relationship !== 'self' && raterEmail === leaderEmail) {
      fail(`a leader cannot rate themselves as ${relationship}; use relationship self`);
    }
    const key = `${leaderEmail}|${raterEmail}`;
    if (seen.has(key))
      fail(`repeats the rater ${raterEmail} for leader ${leaderEmail} (first on row ${seen.get(key)})`);
    else seen.set(key, line);
    if (problems.length === rowProblems) {
      parsed.push({
        line,
        leaderEmail,
        leaderName: at('leader_name').trim(),
        coachEmail: coachEmail || null,
        coachName: at('coach_name').trim() || null,
        raterEmail,
        raterName: at('rater_name').trim(),
        relationship: relationship as Relationship,
      });
    }
  });
  if (problems.length > 0) {
    throw new ValidationError(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in the file; nothing was imported.`,
      problems,
    );
  }
  return parsed;
}

/**
 * Adds leaders, coaches and raters to a draft or open cycle, in one transaction. Each leader also gets
 * their self-assessment invitation. Returns how many leaders and invitations the cycle now has from this file.
 */
export async function importRoster(
  db: Kysely<Database>,
  input: { cycleId: string; rows: RosterRow[] },
): Promise<{ leaders: number; invitations: number }> {
  return db.transaction().execute(async (trx) => {
    const cycle = await trx
      .selectFrom('cycles')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .select(['cycles.status', 'programmes.organisation_id'])
      .where('cycles.id', '=', input.cycleId)
      .executeTakeFirst();
    if (!cycle) throw new NotFoundError('cycle not found');
    if (cycle.status !== 'draft' && cycle.status !== 'open') {
      throw new ConflictError(
        `raters can only be added to a draft or open cycle; this one is ${cycle.status}`,
      );
    }
    const organisationId = cycle.organisation_id;
    const people = new Map<string, string>();
    const person = async (email: string, name: string) => {
      const known = people.get(email);
      if (known) return known;
      const row = await personRepository.upsert(trx, { organisationId, email, name });
      people.set(email, row.id);
      return row.id;
    };
    const subjects = new Map<string, string>();
    let invitations = 0;
    for (const row of input.rows) {
      let subjectId = subjects.get(row.leaderEmail);
      if (!subjectId) {
        const leaderId = await person(row.leaderEmail, row.leaderName);
        await personRepository.grantRole(trx, leaderId, 'leader');
        const coachId = row.coachEmail ? await person(row.coachEmail, row.coachName ?? row.coachEmail) : null;
        if (coachId) await personRepository.grantRole(trx, coachId, 'coach');
        subjectId = (await rosterRepository.addSubject(trx, { cycleId: input.cycleId, leaderId, coachId }))
          .id;
        subjects.set(row.leaderEmail, subjectId);
        await rosterRepository.addInvitation(trx, { subjectId, raterId: leaderId, relationship: 'self' });
        invitations++;
      }
      if (row.relationship === 'self') continue;
      const raterId = await person(row.raterEmail, row.raterName);
      await rosterRepository.addInvitation(trx, { subjectId, raterId, relationship: row.relationship });
      invitations++;
    }
    return { leaders: subjects.size, invitations };
  });
}
