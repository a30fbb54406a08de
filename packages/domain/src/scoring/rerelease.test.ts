import { describe, expect, it } from 'vitest';

import { canRerelease } from './anonymity.ts';
import { findRereleaseViolations } from './rerelease.ts';
import { FIXTURE_INSTRUMENT, many, rate } from './test-fixtures.ts';
import { DEFAULT_ANONYMITY, type ScoringResponse } from './types.ts';

const check = (previous: ScoringResponse[], next: ScoringResponse[]) =>
  findRereleaseViolations({ instrument: FIXTURE_INSTRUMENT, previous, next, rules: DEFAULT_ANONYMITY });

const base = [rate('s', 'self', 4), ...many('manager', [3]), ...many('peer', [4, 4, 5])];

describe('findRereleaseViolations', () => {
  it('finds nothing when nothing changed', () => {
    expect(check(base, base)).toEqual([]);
  });

  it('finds the late 4th peer on every item and competency (4 m4 - 3 m3)', () => {
    const next = [...base, rate('late', 'peer', 2)];
    const violations = check(base, next).filter((v) => v.level === 'mean');
    expect(new Set(violations.map((v) => v.measureId)).size).toBe(12);
    expect(violations).toContainEqual({
      kind: 'nested',
      labels: ['previous:peer', 'next:peer'],
      anonymousRaters: 1,
      measureId: 'vision.a',
      level: 'mean',
    });
  });

  it('accepts four late peers who rated everything (peers +k, all-others +k.all_others)', () => {
    const next = [
      ...base,
      rate('l1', 'peer', 2),
      rate('l2', 'peer', 3),
      rate('l3', 'peer', 5),
      rate('l4', 'peer', 1),
    ];
    expect(
      canRerelease({ self: 1, manager: 1, peer: 3 }, { self: 1, manager: 1, peer: 7 }, DEFAULT_ANONYMITY)
        .allowed,
    ).toBe(true);
    expect(check(base, next)).toEqual([]);
  });

  it('catches what counts cannot see: enough late responses, too few ratings on one item', () => {
    const late = [
      rate('l1', 'peer', [2, 2, 2, 2, 2, 2, 2, 2, 2]),
      rate('l2', 'peer', [3, null, 3, 3, 3, 3, 3, 3, 3]),
      rate('l3', 'peer', [5, null, 5, 5, 5, 5, 5, 5, 5]),
      rate('l4', 'peer', [1, null, 1, 1, 1, 1, 1, 1, 1]),
    ];
    expect(
      canRerelease({ self: 1, manager: 1, peer: 3 }, { self: 1, manager: 1, peer: 7 }, DEFAULT_ANONYMITY)
        .allowed,
    ).toBe(true);
    const violations = check(base, [...base, ...late]);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations.every((v) => v.measureId === 'vision.b')).toBe(true);
  });
});
