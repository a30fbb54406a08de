import { describe, expect, it } from 'vitest';

import { createSeededRandom, seededShuffle } from './seeded-random.ts';

describe('createSeededRandom', () => {
  it('repeats for the same seed and differs between seeds', () => {
    const draw = (seed: string) => {
      const random = createSeededRandom(seed);
      return Array.from({ length: 5 }, () => random());
    };
    expect(draw('leader-1:v1')).toEqual(draw('leader-1:v1'));
    expect(draw('leader-1:v1')).not.toEqual(draw('leader-1:v2'));
  });

  it('stays in [0, 1) and is roughly uniform', () => {
    const random = createSeededRandom('uniform');
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i += 1) {
      const x = random();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      buckets[Math.floor(x * 4)]! += 1;
    }
    for (const count of buckets) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });
});

describe('seededShuffle', () => {
  const items = Array.from({ length: 20 }, (_, i) => i);

  it('permutes without losing or adding items, and leaves the input alone', () => {
    const shuffled = seededShuffle(items, 's');
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(items[0]).toBe(0);
  });

  it('is deterministic per seed', () => {
    expect(seededShuffle(items, 'a')).toEqual(seededShuffle(items, 'a'));
    expect(seededShuffle(items, 'a')).not.toEqual(seededShuffle(items, 'b'));
  });

  it('handles empty and single lists', () => {
    expect(seededShuffle([], 'x')).toEqual([]);
    expect(seededShuffle(['only'], 'x')).toEqual(['only']);
  });
});
