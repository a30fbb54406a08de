import { describe, expect, it } from 'vitest';
import { createReportCache, entryBytes, reportCacheKey, type RenderedReport } from './report-cache.ts';

const entry = (bytes: number): RenderedReport => ({
  parts: [Buffer.alloc(bytes, 'a'), Buffer.from('</form>')],
  pageTitle: 'Amara Okafor · Follow-up',
});

describe('createReportCache', () => {
  it('keeps the total size within its bound, dropping the least recently used first', () => {
    const cache = createReportCache({ maxBytes: 50_000 });
    for (const key of ['a', 'b', 'c', 'd']) {
      cache.set(key, entry(15_000));
      expect(cache.stats().bytes).toBeLessThanOrEqual(50_000);
    }
    expect(cache.stats().entries).toBe(3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeDefined();
    cache.set('e', entry(15_000)); // 'c' is now the least recently used
    expect(cache.get('c')).toBeUndefined();
    expect(cache.get('b')).toBeDefined();
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2, maxBytes: 50_000 });
  });

  it('counts every byte of an entry, and does not store one larger than the bound', () => {
    const cache = createReportCache({ maxBytes: 10_000 });
    const big = entry(10_000);
    expect(entryBytes('k', big)).toBeGreaterThan(10_007);
    cache.set('k', big);
    expect(cache.get('k')).toBeUndefined();
    expect(cache.stats().bytes).toBe(0);
  });

  it('has a default bound of 64 MiB and refuses a bound that is not a positive whole number', () => {
    expect(createReportCache().stats().maxBytes).toBe(64 * 1024 * 1024);
    for (const maxBytes of [0, -1, 1.5, Number.NaN]) expect(() => createReportCache({ maxBytes })).toThrow();
  });
});

describe('reportCacheKey', () => {
  const facts = {
    id: 's1',
    released_version: null as number | null,
    leader_name: 'Amara Okafor',
    latest_profile: { id: 'p1', version: 1 },
    latest_change: null as { id: string; version: number } | null,
    siblings: [{ id: 's0', released_version: null as number | null, cycle_name: 'Baseline' }],
  };
  const key = reportCacheKey(facts, 'published', true);

  it('changes with every fact, the access kind and whether the viewer may release', () => {
    const variants = [
      reportCacheKey({ ...facts, released_version: 1 }, 'published', true),
      reportCacheKey({ ...facts, leader_name: 'Amara O.' }, 'published', true),
      reportCacheKey({ ...facts, latest_profile: { id: 'p2', version: 2 } }, 'published', true),
      reportCacheKey({ ...facts, latest_change: { id: 'c1', version: 1 } }, 'published', true),
      reportCacheKey(
        { ...facts, siblings: [{ ...facts.siblings[0]!, released_version: 1 }] },
        'published',
        true,
      ),
      reportCacheKey(facts, 'released', true),
      reportCacheKey(facts, 'published', false),
    ];
    for (const variant of variants) expect(variant).not.toBe(key);
    expect(new Set(variants).size).toBe(variants.length);
    expect(reportCacheKey({ ...facts }, 'published', true)).toBe(key);
  });
});
