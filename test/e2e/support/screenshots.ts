import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Where the browser tests save their screenshots: `docs/screenshots/` when asked to refresh them
 * (`PANORAMA_SCREENSHOTS=docs pnpm test`), otherwise a temporary folder, so an ordinary run leaves the
 * working tree clean. The layout checks run on every screenshot either way.
 */
export const SCREENSHOTS =
  process.env.PANORAMA_SCREENSHOTS === 'docs'
    ? path.resolve(import.meta.dirname, '../../../docs/screenshots')
    : mkdtempSync(path.join(os.tmpdir(), 'panorama-screenshots-'));
