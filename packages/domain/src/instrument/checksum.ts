import { createHash } from 'node:crypto';

import type { Instrument } from './schema.ts';

// Key order is an accident of how the file was written; array order (competencies, items, scale points)
// is meaning. So objects are serialised with sorted keys and arrays as they are.
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, child]) => child !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalJson(child)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * SHA-256 (lowercase hex) of the instrument's content as canonical JSON with sorted keys. Formatting,
 * comments, key order and the file format do not change it; any change to a value or to the order of
 * competencies, items, scale points or questions does. A survey cycle pins `id`, `version` and this
 * checksum, so an instrument edited without a version bump can be detected.
 */
export function instrumentChecksum(instrument: Instrument): string {
  return createHash('sha256').update(canonicalJson(instrument)).digest('hex');
}
