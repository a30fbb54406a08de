import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '@panorama/domain';
import { COMMENT_COLUMNS, parseRosterCsv, RESPONSE_COLUMNS, ROSTER_COLUMNS } from '@panorama/report';
import { runCli } from '../../infra/cli/commands.ts';
import { IMPORT_FILE_LIMITS, readImportFile } from '../../infra/cli/read-import-file.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, rosterCsv, TEST_SECRET } from '../support/scenario.ts';
import { contentDigest } from '../security/support.ts';

let t: TestDatabase;
let env: Record<string, string>;
let dir = '';
beforeAll(async () => {
  t = await createTestDatabase();
  env = { DATABASE_URL: t.url, APP_SECRET: TEST_SECRET, SURVEY_PUBLIC_URL: 'http://survey.test' };
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-cli-imports-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
  await t?.drop();
});

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let fileCount = 0;
async function file(contents: string | Uint8Array): Promise<string> {
  const name = path.join(dir, `f${++fileCount}.csv`);
  await fs.writeFile(name, contents);
  return name;
}

/** Whether bytes are UTF-8, judged by Node's (lenient) decoder: a round trip gives back the same bytes. */
const isUtf8 = (bytes: Uint8Array) => Buffer.from(Buffer.from(bytes).toString('utf8')).equals(bytes);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Byte strings near real CSV files: valid UTF-8 text, with sometimes a BOM and sometimes a few bytes broken. */
const csvBytes = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.constantFrom('Zoë Ångström', 'مرحبا', '🏳️‍🌈', ',', '"', '\n', '\r\n', ROSTER_COLUMNS.join(',')),
      ),
      { maxLength: 12 },
    ),
    fc.boolean(),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0x80, max: 0xff })), { maxLength: 3 }),
    fc.uint8Array({ maxLength: 40 }),
  )
  .map(([pieces, bom, breaks, tail]) => {
    const bytes = Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(pieces.join(''))]);
    // Latin-1 style bytes dropped into the text, and sometimes arbitrary trailing bytes.
    for (const [at, byte] of breaks) if (bytes.length > 0) bytes[at % bytes.length] = byte;
    return tail.length % 3 === 0 ? Buffer.concat([bytes, tail]) : bytes;
  });

describe('reading import files', () => {
  it('returns exactly the bytes as text, or refuses invalid UTF-8 naming the first bad line', async () => {
    await fc.assert(
      fc.asyncProperty(csvBytes, async (bytes) => {
        const name = await file(bytes);
        let text: string;
        try {
          text = await readImportFile(name, IMPORT_FILE_LIMITS.roster);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
          expect(isUtf8(bytes)).toBe(false);
          const line = Number(/is not valid UTF-8 \(line (\d+)\)/.exec((error as Error).message)?.[1]);
          // Every line before the one named decodes; the one named does not.
          const lines: Buffer[] = [];
          for (let start = 0; start <= bytes.length;) {
            const end = bytes.indexOf(0x0a, start);
            lines.push(bytes.subarray(start, end === -1 ? bytes.length : end + 1));
            if (end === -1) break;
            start = end + 1;
          }
          expect(lines.slice(0, line - 1).every(isUtf8)).toBe(true);
          expect(isUtf8(lines[line - 1]!)).toBe(false);
          return;
        }
        expect(isUtf8(bytes)).toBe(true);
        expect(text).not.toMatch(/^\uFEFF/);
        const withoutBom = bytes.subarray(0, 3).equals(BOM) ? bytes.subarray(3) : bytes;
        expect(Buffer.from(text).equals(withoutBom)).toBe(true);
        // What the roster reader then makes of it: rows, or a ValidationError, never anything else.
        try {
          parseRosterCsv(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 400, seed: 2026 },
    );
  });

  it('refuses a file over the cap, and reads one at the cap', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: -3, max: 3 }),
        async (cap, over) => {
          const size = Math.max(0, cap + over);
          const name = await file(Buffer.alloc(size, 'a'));
          const read = readImportFile(name, cap);
          if (size > cap) await expect(read).rejects.toThrow(/is larger than the .* limit/);
          else expect((await read).length).toBe(size);
        },
      ),
      { numRuns: 100, seed: 7 },
    );
  });

  it('caps the roster at the web upload limit', () => {
    expect(IMPORT_FILE_LIMITS.roster).toBe(2 * 1024 * 1024);
  });
});

describe('pnpm panorama import-roster and import-responses', () => {
  it('refuse a roster in Latin-1 with the line to fix, exit 65 and store nothing', async () => {
    const { baseline } = await createProgramme(t.db);
    const csv = rosterCsv(['zoe']).replace('zoe Peer 1', 'Zoë Peer 1');
    const latin1 = await file(Buffer.from(csv, 'latin1'));
    const before = await contentDigest(t.db);
    const result = await run(['import-roster', '--cycle', baseline.id, latin1]);
    expect(result.code).toBe(65);
    expect(result.err).toContain(`${latin1} is not valid UTF-8 (line 4)`);
    expect(result.out).toBe('');
    expect(await contentDigest(t.db)).toBe(before);

    // The same roster saved as UTF-8 (with the BOM Excel writes) imports, the name intact.
    const utf8 = await file(Buffer.concat([BOM, Buffer.from(csv)]));
    const imported = await run(['import-roster', '--cycle', baseline.id, utf8]);
    expect(imported.err).toBe('');
    expect(imported.code).toBe(0);
    const names = await t.db.selectFrom('people').select('name').execute();
    expect(names.map((n) => n.name)).toContain('Zoë Peer 1');
    expect(names.some((n) => n.name.includes('\uFFFD'))).toBe(false);
  });

  it('refuse a roster over 2 MiB before parsing it, exit 65', async () => {
    const { baseline } = await createProgramme(t.db);
    const header = ROSTER_COLUMNS.join(',') + '\n';
    const big = await file(header + 'x'.repeat(IMPORT_FILE_LIMITS.roster));
    const before = await contentDigest(t.db);
    const result = await run(['import-roster', '--cycle', baseline.id, big]);
    expect(result.code).toBe(65);
    expect(result.err).toContain(
      `${big} is larger than the 2 MiB limit (${header.length + IMPORT_FILE_LIMITS.roster} bytes)`,
    );
    expect(await contentDigest(t.db)).toBe(before);
  });

  it('refuse a responses or comments file that is not UTF-8, exit 65, nothing stored', async () => {
    const { baseline, instrument } = await createProgramme(t.db);
    await run(['import-roster', '--cycle', baseline.id, await file(rosterCsv(['hal']))]);
    const item = instrument.competencies[0]!.items[0]!.id;
    const question = instrument.questions[0]!.id;
    const responses = await file(`${RESPONSE_COLUMNS.join(',')}\nhal@acme.test,peer,k1,${item},4\n`);
    const badResponses = await file(
      Buffer.concat([Buffer.from(`${RESPONSE_COLUMNS.join(',')}\n`), Buffer.from([0xff, 0xfe, 0x0a])]),
    );
    const badComments = await file(
      Buffer.concat([
        Buffer.from(`${COMMENT_COLUMNS.join(',')}\nhal@acme.test,peer,k1,${question},`),
        Buffer.from('Très bien\n', 'latin1'),
      ]),
    );
    const before = await contentDigest(t.db);
    const a = await run(['import-responses', '--cycle', baseline.id, badResponses]);
    expect(a.code).toBe(65);
    expect(a.err).toContain(`${badResponses} is not valid UTF-8 (line 2)`);
    const b = await run(['import-responses', '--cycle', baseline.id, responses, '--comments', badComments]);
    expect(b.code).toBe(65);
    expect(b.err).toContain(`${badComments} is not valid UTF-8 (line 2)`);
    expect(await contentDigest(t.db)).toBe(before);
  });
});
