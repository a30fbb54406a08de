import { LRUCache } from 'lru-cache';
import type { RenderedBody } from './render.ts';
import type { SubjectAccess } from './view-models/access.ts';

/** Default bound of the rendered-report cache: 64 MiB of page text (a demo report is 90 to 200 KB). */
export const DEFAULT_REPORT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The format of cached entries and keys. Entries live in this process only, so a deploy (new templates or
 * view model) starts empty; bump this only if a running process could ever meet entries of another format.
 */
const FORMAT = 1;

/** A rendered leader report body (the page inside the layout), without anything of a viewer's. */
export type RenderedReport = RenderedBody;

/** The bounded cache of rendered report bodies. */
export interface ReportCache {
  get(key: string): RenderedReport | undefined;
  /** Stores an entry; one larger than the whole bound is not stored. */
  set(key: string, value: RenderedReport): void;
  /** Entries, their total size in bytes (as counted against the bound), hits and misses so far. */
  stats(): { entries: number; bytes: number; maxBytes: number; hits: number; misses: number };
}

/** Bytes an entry counts against the bound: the body's bytes, its strings at 2 bytes per UTF-16 unit. */
export function entryBytes(key: string, value: RenderedReport): number {
  let bytes = 2 * (key.length + value.pageTitle.length);
  for (const part of value.parts) bytes += part.byteLength;
  return bytes + 100 * (value.parts.length + 2);
}

export function createReportCache(options: { maxBytes?: number } = {}): ReportCache {
  const maxBytes = options.maxBytes ?? DEFAULT_REPORT_CACHE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new Error(`report cache size must be a positive whole number of bytes (got ${maxBytes})`);
  const lru = new LRUCache<string, RenderedReport>({
    maxSize: maxBytes,
    sizeCalculation: (v, k) => entryBytes(k, v),
  });
  let hits = 0;
  let misses = 0;
  return {
    get(key) {
      const found = lru.get(key);
      if (found) hits++;
      else misses++;
      return found;
    },
    set(key, value) {
      lru.set(key, value);
    },
    stats: () => ({ entries: lru.size, bytes: lru.calculatedSize, maxBytes, hits, misses }),
  };
}

/**
 * Everything a report body is rendered from, short of rows named by id. `facts` is the whole row of
 * `reportReadRepository.reportFacts` (subject, names, release state, the ids and versions of the latest and
 * released profiles and of the latest change, the sibling reports with their release state), so a new
 * profile version, a release, a new change or a renamed leader, cycle or programme gives a new key; the
 * profile and change rows those ids name are never updated, and the instrument version is pinned. `access`
 * and `canRelease` are the only facts about the viewer that reach the body.
 */
export function reportCacheKey(
  facts: object,
  access: NonNullable<SubjectAccess>,
  canRelease: boolean,
): string {
  return JSON.stringify([FORMAT, access, canRelease, facts]);
}
