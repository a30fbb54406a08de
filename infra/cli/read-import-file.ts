import { promises as fs } from 'node:fs';
import { ValidationError } from '@panorama/domain';

const MiB = 1024 * 1024;

/**
 * Largest file each import reads. The roster cap is the web upload's (`fileSize` in the report app), so a file
 * the page would refuse is refused here too. Response files have no upload; their cap leaves room for
 * `MAX_IMPORT_ROWS` (2,000,000) rows of about 128 bytes, and comments files for as many bytes again.
 */
export const IMPORT_FILE_LIMITS = {
  roster: 2 * MiB,
  responses: 256 * MiB,
  comments: 256 * MiB,
} as const;

const strict = new TextDecoder('utf-8', { fatal: true });

/** MiB with up to one decimal, for messages. */
const mib = (bytes: number) => `${Number((bytes / MiB).toFixed(1))} MiB`;

/**
 * Reads an import file as text: at most `maxBytes` (a larger file is refused without reading it all) and
 * strictly UTF-8, so a file saved in another encoding is refused with the line to look at instead of being
 * imported with U+FFFD in place of its accented letters. A leading byte-order mark is dropped. Refusals are
 * `ValidationError`s (the CLI's data-error exit code); a missing file stays Node's ENOENT.
 */
export async function readImportFile(file: string, maxBytes: number): Promise<string> {
  const handle = await fs.open(file, 'r');
  let bytes: Buffer;
  try {
    // Read up to one byte past the cap rather than trusting stat: a pipe or a growing file has no size.
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, 1024 * 1024));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, maxBytes + 1 - total));
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
      total += bytesRead;
      if (total > maxBytes) {
        const size = (await handle.stat()).size;
        throw new ValidationError(
          `${file} is larger than the ${mib(maxBytes)} limit${size > maxBytes ? ` (${size} bytes)` : ''}. ` +
            'Split it into smaller files.',
        );
      }
    }
    bytes = Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
  try {
    return strict.decode(bytes);
  } catch {
    // 0x0A never occurs inside a multi-byte UTF-8 sequence, so lines can be checked one by one.
    let line = 1;
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(0x0a, start);
      const slice = bytes.subarray(start, end === -1 ? bytes.length : end + 1);
      try {
        strict.decode(slice);
      } catch {
        break;
      }
      if (end === -1) break;
      line += 1;
      start = end + 1;
    }
    throw new ValidationError(
      `${file} is not valid UTF-8 (line ${line}). Save it as UTF-8 (CSV UTF-8 in Excel) and import it again.`,
    );
  }
}
