import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { InstrumentError } from './errors.ts';
import { loadInstrument, loadInstrumentsDir, parseInstrument } from './load.ts';
import { validInstrument } from './test-fixture.ts';
import { itemsOf } from './views.ts';

const SURVEYS_DIR = resolve(import.meta.dirname, '../../../../surveys');
const SHIPPED = join(SURVEYS_DIR, 'leadership-360/instrument.yaml');

async function rejection(promise: Promise<unknown>): Promise<InstrumentError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof InstrumentError) return error;
  throw new Error(`expected an InstrumentError, got ${String(error)}`);
}

function thrown(fn: () => unknown): InstrumentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InstrumentError) return error;
    throw error;
  }
  throw new Error('expected an InstrumentError');
}

describe('the shipped leadership-360 instrument', () => {
  it('loads with 11 competencies, 44 items and 3 questions', async () => {
    const instrument = await loadInstrument(SHIPPED);
    expect(instrument.id).toBe('leadership-360');
    expect(instrument.version).toBe(1);
    expect(instrument.competencies.map((c) => c.id)).toEqual([
      'communication',
      'decision_making',
      'delegation',
      'conflict_resolution',
      'emotional_intelligence',
      'goal_setting_accountability',
      'teamwork_building_teams',
      'leading_through_crisis',
      'feedback_developing_others',
      'trust_relationships',
      'clarity_alignment',
    ]);
    expect(instrument.competencies.every((c) => c.items.length === 4)).toBe(true);
    expect(itemsOf(instrument)).toHaveLength(44);
    expect(instrument.questions).toHaveLength(3);
    expect(instrument.questions.every((q) => q.max_length === 2000)).toBe(true);
    expect(instrument.scale).toMatchObject({ min: 1, max: 5, not_applicable: "Can't say" });
  });

  it('words every rater item in the third person and every self item in the first', async () => {
    const items = itemsOf(await loadInstrument(SHIPPED));
    for (const item of items) {
      expect(item.rater, item.id).toMatch(/^[A-Z][a-z]+s\b.*\.$/);
      expect(item.self, item.id).toMatch(/^(I|When I) .*\.$/);
    }
  });

  it('is found by loadInstrumentsDir', async () => {
    const instruments = await loadInstrumentsDir(SURVEYS_DIR);
    expect(instruments.map((i) => i.id)).toContain('leadership-360');
  });
});

describe('parseInstrument', () => {
  const FILE = 'surveys/broken/instrument.yaml';

  it('reports YAML syntax errors with file, line and column', () => {
    const error = thrown(() => parseInstrument('id: broken\nversion: [1, 2\ntitle: x\n', FILE));
    expect(error.message).toBe(
      `${FILE}: line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    );
    expect(error.problems[0]).toMatchObject({ file: FILE, line: 3, column: 1 });
  });

  it('reports duplicate YAML keys', () => {
    const error = thrown(() => parseInstrument('id: a\nid: b\n', FILE));
    expect(error.message).toBe(`${FILE}: line 2, column 1: Map keys must be unique`);
  });

  it('reports an empty file', () => {
    expect(thrown(() => parseInstrument('\n', FILE)).message).toBe(`${FILE}: (root): the file is empty`);
  });

  it('reads JSON to the same result as YAML', async () => {
    const fromYaml = await loadInstrument(SHIPPED);
    const fromJson = parseInstrument(
      JSON.stringify(fromYaml, null, 2),
      'surveys/leadership-360/instrument.json',
    );
    expect(fromJson).toEqual(fromYaml);
  });

  it('reports JSON syntax errors with file, line and column', () => {
    const error = thrown(() => parseInstrument('{\n  "id": "x",\n  "version" 1\n}', 'x/instrument.json'));
    expect(error.message).toMatch(/^x\/instrument\.json: line 3, column 13: /);
  });

  it('reports JSON schema problems with their path', () => {
    const instrument = { ...validInstrument(), version: 0 };
    const error = thrown(() => parseInstrument(JSON.stringify(instrument), 'x/instrument.json'));
    expect(error.message).toBe('x/instrument.json: version: must be at least 1, got 0');
  });

  it('rejects other file types', () => {
    expect(thrown(() => parseInstrument('{}', 'x/instrument.toml')).message).toBe(
      'x/instrument.toml: (root): unsupported file type; use .yaml, .yml or .json',
    );
  });
});

describe('loading from disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'panorama-instruments-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function put(relative: string, content: string): Promise<string> {
    const path = join(dir, relative);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
    return path;
  }

  it('loads one instrument per folder, sorted by folder, skipping dot-folders and loose files', async () => {
    await put('b-survey/instrument.json', JSON.stringify({ ...validInstrument(), id: 'b-survey' }));
    await put('a-survey/instrument.yml', stringify({ ...validInstrument(), id: 'a-survey' }));
    await put('.drafts/instrument.yaml', 'not: valid');
    await put('README.md', '# Surveys');
    const instruments = await loadInstrumentsDir(dir);
    expect(instruments.map((i) => i.id)).toEqual(['a-survey', 'b-survey']);
  });

  it('reports every problem across the folder in one error', async () => {
    const broken = await put(
      'broken/instrument.yaml',
      stringify({ ...validInstrument(), id: 'broken', version: 0 }),
    );
    await put('empty/notes.txt', '');
    await put('twice/instrument.yaml', stringify({ ...validInstrument(), id: 'twice' }));
    await put('twice/instrument.json', JSON.stringify({ ...validInstrument(), id: 'twice' }));
    const first = await put('x-one/instrument.yaml', stringify(validInstrument()));
    const second = await put('x-two/instrument.yaml', stringify(validInstrument()));

    const error = await rejection(loadInstrumentsDir(dir));
    expect(error.message.split('\n')).toEqual([
      `${broken}: version: must be at least 1, got 0`,
      `${join(dir, 'empty')}: (root): has no instrument.yaml, instrument.yml, instrument.json`,
      `${join(dir, 'twice')}: (root): has more than one instrument file (instrument.yaml, instrument.json); keep one`,
      `${second}: id: "fixture-360" is already the id of ${first}`,
    ]);
  });

  it('passes file-system errors through', async () => {
    await expect(loadInstrument(join(dir, 'missing/instrument.yaml'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('names the file as it was given', async () => {
    const path = await put(
      'x/instrument.yaml',
      (await readFile(SHIPPED, 'utf8')).replace('version: 1', 'version: 0'),
    );
    const error = await rejection(loadInstrument(path));
    expect(error.message).toBe(`${path}: version: must be at least 1, got 0`);
  });
});

describe('YAML aliases', () => {
  it('reports an alias without its anchor as an instrument problem, not a crash', () => {
    expect(() => parseInstrument('id: *missing\n', 'surveys/x/instrument.yaml')).toThrow(InstrumentError);
    expect(() => parseInstrument('id: *missing\n', 'surveys/x/instrument.yaml')).toThrow(
      /surveys\/x\/instrument\.yaml: .*could not be read/,
    );
  });

  it('refuses an alias bomb', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    expect(() => parseInstrument(bomb, 'bomb.yaml')).toThrow(InstrumentError);
  });
});
