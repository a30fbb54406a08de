import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

import { isNode, LineCounter, parseDocument } from 'yaml';

import { formatPath, InstrumentError, ROOT_PATH } from './errors.ts';
import type { InstrumentProblem } from './errors.ts';
import { findingsFromZod, uniqueFindings } from './issues.ts';
import type { Finding } from './issues.ts';
import { crossFieldIssues, InstrumentSchema } from './schema.ts';
import type { Instrument } from './schema.ts';

/** File names `loadInstrumentsDir` looks for in each instrument folder, in order of preference. */
export const INSTRUMENT_FILE_NAMES = ['instrument.yaml', 'instrument.yml', 'instrument.json'] as const;

interface Position {
  line: number;
  column: number;
}

interface Document {
  data: unknown;
  locate: (path: readonly PropertyKey[]) => Position | undefined;
}

const problemAt = (file: string, position: Position | undefined, message: string): InstrumentProblem =>
  position
    ? { file, path: `line ${position.line}, column ${position.column}`, message, ...position }
    : { file, path: ROOT_PATH, message };

function readYaml(source: string, file: string): Document {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InstrumentError(
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        const message =
          error.code === 'MULTIPLE_DOCS'
            ? 'an instrument file must hold a single YAML document (remove the second "---")'
            : error.message;
        return problemAt(file, { line, column: col }, message);
      }),
    );
  }
  let data: unknown;
  try {
    // Aliases are resolved here: an alias without its anchor, or one that expands past yaml's limit (an
    // "alias bomb"), throws rather than failing validation.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new InstrumentError([
      problemAt(
        file,
        undefined,
        `the YAML could not be read: ${error instanceof Error ? error.message : String(error)}`,
      ),
    ]);
  }
  return {
    data,
    locate(path) {
      // A missing key has no node of its own, so point at the nearest ancestor that exists.
      for (let depth = path.length; depth >= 0; depth -= 1) {
        const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) {
          const { line, col } = lineCounter.linePos(node.range[0]);
          return { line, column: col };
        }
      }
      return undefined;
    },
  };
}

function readJson(source: string, file: string): Document {
  try {
    return { data: JSON.parse(source), locate: () => undefined };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const offset = /at position (\d+)/.exec(message)?.[1];
    let position: Position | undefined;
    if (offset !== undefined) {
      const before = source.slice(0, Number(offset)).split('\n');
      position = { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
    }
    throw new InstrumentError([problemAt(file, position, message.replace(/\s*in JSON at position.*$/s, ''))]);
  }
}

/**
 * Parses and validates an instrument definition. `fileName` picks the format (`.yaml`/`.yml` or `.json`)
 * and prefixes every error line.
 *
 * @throws {InstrumentError} listing every problem found, each as `<file>: <path>: <what is wrong>`.
 */
export function parseInstrument(source: string, fileName: string): Instrument {
  const extension = extname(fileName).toLowerCase();
  const read =
    extension === '.json' ? readJson : extension === '.yaml' || extension === '.yml' ? readYaml : null;
  if (!read) {
    throw new InstrumentError([
      { file: fileName, path: ROOT_PATH, message: 'unsupported file type; use .yaml, .yml or .json' },
    ]);
  }
  const { data, locate } = read(source.replace(/^\uFEFF/, ''), fileName);
  if (data === null || data === undefined) {
    throw new InstrumentError([{ file: fileName, path: ROOT_PATH, message: 'the file is empty' }]);
  }

  const result = InstrumentSchema.safeParse(data, { reportInput: true });
  if (result.success) return deepFreeze(result.data);

  // The schema runs the cross-field rules only when the structure is sound; running them on the raw
  // input as well means a typo in one place does not hide a duplicate id in another.
  const findings: Finding[] = uniqueFindings([
    ...findingsFromZod(result.error.issues),
    ...crossFieldIssues(data),
  ]);
  const problems = findings.map(({ path, message }): InstrumentProblem => {
    const position = locate(path);
    return { file: fileName, path: formatPath(path), message, ...position };
  });
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new InstrumentError(problems);
}

/**
 * Reads and validates one instrument file. File-system errors (missing file, permissions) are passed
 * through unchanged.
 *
 * @throws {InstrumentError} when the file is not a valid instrument.
 */
export async function loadInstrument(path: string): Promise<Instrument> {
  return parseInstrument(await readFile(path, 'utf8'), path);
}

/**
 * Loads every instrument under `dir`: one per sub-folder, from its `instrument.yaml`, `instrument.yml`
 * or `instrument.json`. Folders starting with `.` are skipped. Returns instruments sorted by folder name.
 *
 * @throws {InstrumentError} listing the problems of every file at once, plus folders without exactly one
 * instrument file and ids used by more than one instrument.
 */
export async function loadInstrumentsDir(dir: string): Promise<Instrument[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const folders = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();

  const problems: InstrumentProblem[] = [];
  const loaded: { instrument: Instrument; file: string }[] = [];
  for (const folder of folders) {
    const folderPath = join(dir, folder);
    const names = new Set(await readdir(folderPath));
    const present = INSTRUMENT_FILE_NAMES.filter((name) => names.has(name));
    if (present.length !== 1) {
      problems.push({
        file: folderPath,
        path: ROOT_PATH,
        message:
          present.length === 0
            ? `has no ${INSTRUMENT_FILE_NAMES.join(', ')}`
            : `has more than one instrument file (${present.join(', ')}); keep one`,
      });
      continue;
    }
    const file = join(folderPath, present[0] as string);
    try {
      loaded.push({ instrument: await loadInstrument(file), file });
    } catch (error) {
      if (!(error instanceof InstrumentError)) throw error;
      problems.push(...error.problems);
    }
  }

  const fileById = new Map<string, string>();
  for (const { instrument, file } of loaded) {
    const first = fileById.get(instrument.id);
    if (first === undefined) fileById.set(instrument.id, file);
    else problems.push({ file, path: 'id', message: `"${instrument.id}" is already the id of ${first}` });
  }

  if (problems.length > 0) throw new InstrumentError(problems);
  return loaded.map(({ instrument }) => instrument);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
