import { execFileSync, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

describe('pnpm start without redis-server', () => {
  it('says how to install it, exits 69 and leaves no Postgres running', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'panorama-start-data-'));
    // A PATH with nothing on it: node is started by its full path, redis-server cannot be found.
    const emptyBin = path.join(dataDir, 'bin');
    await fs.mkdir(emptyBin);
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'infra/local/start.ts'], {
        cwd: root,
        env: { PATH: emptyBin, PANORAMA_DATA_DIR: dataDir, HOME: process.env.HOME ?? dataDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(69);
      expect(err).toContain('redis-server was not found on PATH');
      expect(err).toContain('apt-get install -y redis-server');
      // Redis is checked before Postgres starts, so no Postgres ever ran on this data folder.
      expect(existsSync(path.join(dataDir, 'pg'))).toBe(false);
      const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(processes).not.toContain(dataDir);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
