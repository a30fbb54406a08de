import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, localEnv, reportEnv, surveyEnv } from '@panorama/config';
import { workerProcessEnv } from '../../services/worker/src/config.ts';
import { chromiumPath } from '../e2e/support/chromium.ts';

const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

function section(heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  expect(start, heading).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe('README.md', () => {
  it('lists every configuration key of every process in its table, and no other', () => {
    const table = section('Configuration')
      .split('\n')
      .filter((line) => line.startsWith('| `'));
    const documented = table.flatMap((line) =>
      [...line.split('|')[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!),
    );
    const schemas = [surveyEnv, reportEnv, workerProcessEnv, cliEnv, localEnv];
    const keys = new Set(schemas.flatMap((schema) => Object.keys(schema.shape)));
    expect(documented.length).toBe(new Set(documented).size);
    expect([...documented].sort()).toEqual([...keys].sort());
  });

  it('opens with three lines, then the two commands, then what a fresh machine needs to run them', () => {
    const [intro, rest] = readme.split('\n```sh\n') as [string, string];
    const lines = intro.split('\n').filter((line) => line !== '' && !line.startsWith('# '));
    expect(lines).toHaveLength(3);
    const commands = rest.slice(0, rest.indexOf('```')).trim().split('\n');
    expect(commands.map((c) => c.split('#')[0]!.trim())).toEqual([
      'pnpm install && pnpm start',
      'pnpm install && pnpm test',
    ]);
    const after = rest.slice(rest.indexOf('```') + 3, rest.indexOf('\n## '));
    const pnpm = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { packageManager: string }
    ).packageManager;
    expect(after).toContain(`npm i -g ${pnpm}`);
    expect(after).toContain('redis-server');
    expect(after).toContain('/usr/bin/chromium');
    expect(after).toContain('CHROMIUM_PATH');
  });

  it('lets CHROMIUM_PATH point the browser tests at another Chromium, /usr/bin/chromium by default', () => {
    expect(chromiumPath({})).toBe('/usr/bin/chromium');
    expect(chromiumPath({ CHROMIUM_PATH: '' })).toBe('/usr/bin/chromium');
    expect(chromiumPath({ CHROMIUM_PATH: '/opt/chromium/chrome' })).toBe('/opt/chromium/chrome');
  });
});
