import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { instrumentChecksum } from './checksum.ts';
import { loadInstrumentsDir, parseInstrument } from './load.ts';
import type { Instrument } from './schema.ts';
import { nth, validInstrument } from './test-fixture.ts';

const SURVEYS_DIR = resolve(import.meta.dirname, '../../../../surveys');

// Every shipped instrument version, with the checksum a survey cycle pins for it. If this test fails
// after you edited an instrument, bump its `version` and add a line here; never change an existing line,
// because cycles already running have pinned it (see surveys/README.md).
const PINNED: Record<string, string> = {
  'leadership-360@1': '0b55fedf7688d94009ea0291fd05b4b8d5654b2e89224ac7478c7edec2812186',
};

function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([key, child]) => [key, reverseKeys(child)]),
    );
  }
  return value;
}

const parse = (instrument: Instrument, file = 'x/instrument.yaml') =>
  parseInstrument(stringify(instrument), file);

describe('instrumentChecksum', () => {
  it('is a sha256 hex digest', () => {
    expect(instrumentChecksum(parse(validInstrument()))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order, file format, comments and surrounding whitespace', async () => {
    const source = await readFile(join(SURVEYS_DIR, 'leadership-360/instrument.yaml'), 'utf8');
    const original = parseInstrument(source, 'instrument.yaml');
    const reordered = reverseKeys(original) as Instrument;
    const fromJson = parseInstrument(JSON.stringify(reordered), 'instrument.json');
    const recommented = parseInstrument(
      `# a new comment\n${source.replace('title: Leadership 360', 'title: "  Leadership 360 "')}`,
      'instrument.yaml',
    );
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(original));
    expect(instrumentChecksum(reordered)).toBe(instrumentChecksum(original));
    expect(instrumentChecksum(fromJson)).toBe(instrumentChecksum(original));
    expect(instrumentChecksum(recommented)).toBe(instrumentChecksum(original));
  });

  it.each<[string, (i: Instrument) => void]>([
    ['item wording', (i) => (nth(nth(i.competencies, 0).items, 0).rater = 'Does something else.')],
    ['item order', (i) => nth(i.competencies, 0).items.reverse()],
    ['competency order', (i) => i.competencies.reverse()],
    ['version', (i) => (i.version = 2)],
    ['a scale label', (i) => (nth(i.scale.points, 0).label = 'Never')],
    ['anonymity', (i) => delete i.anonymity],
  ])('changes with %s', (_, change) => {
    const changed = validInstrument();
    change(changed);
    expect(instrumentChecksum(parse(changed))).not.toBe(instrumentChecksum(parse(validInstrument())));
  });

  it('matches the pinned checksum of every shipped instrument version', async () => {
    for (const instrument of await loadInstrumentsDir(SURVEYS_DIR)) {
      const key = `${instrument.id}@${instrument.version}`;
      const checksum = instrumentChecksum(instrument);
      expect(
        PINNED[key],
        `${key} has checksum ${checksum}. If you edited it, bump its version and pin the new checksum here.`,
      ).toBe(checksum);
    }
  });
});
