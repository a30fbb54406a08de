import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import setup from '../support/global-setup.ts';

/** Runs the integration global setup as vitest does, keeping what it provides. */
async function runSetup() {
  const provided: Record<string, unknown> = {};
  const teardown = await setup({
    provide: ((key: string, value: unknown) => (provided[key] = value)) as never,
  });
  return { root: provided.testRoot as string, teardown };
}

const saved = {
  PATH: process.env.PATH,
  TMPDIR: process.env.TMPDIR,
  KEEP: process.env.PANORAMA_KEEP_TEST_DATA,
};
const restore = (key: string, value: string | undefined) => {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
};
afterEach(() => {
  restore('PATH', saved.PATH);
  restore('TMPDIR', saved.TMPDIR);
  restore('PANORAMA_KEEP_TEST_DATA', saved.KEEP);
});

describe('the integration test setup', () => {
  it("deletes the run's temporary folder at teardown", async () => {
    delete process.env.PANORAMA_KEEP_TEST_DATA;
    const { root, teardown } = await runSetup();
    expect(readdirSync(root).sort()).toEqual(['pg', 'redis']);
    await teardown();
    expect(existsSync(root)).toBe(false);
  });

  it('keeps it with PANORAMA_KEEP_TEST_DATA=1', async () => {
    process.env.PANORAMA_KEEP_TEST_DATA = '1';
    const { root, teardown } = await runSetup();
    await teardown();
    expect(existsSync(root)).toBe(true);
    rmSync(root, { recursive: true, force: true });
  });

  it('without redis-server, starts no Postgres and leaves no folder behind', async () => {
    // A private TMPDIR, so whatever the setup creates (and fails to delete) is visible here alone.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'panorama-setup-check-'));
    process.env.TMPDIR = tmp;
    process.env.PATH = '/nonexistent';
    try {
      await expect(runSetup()).rejects.toThrow(/redis-server was not found/);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
