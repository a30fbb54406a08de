import { describe, expect, it } from 'vitest';

import { ValidationError } from '../errors.ts';
import {
  DifferencingError,
  assertNoDifferencing,
  canRerelease,
  findDifferencingViolations,
  isSafeAnonymousSet,
  thresholdFor,
  validateAnonymityRules,
  type RaterRef,
} from './anonymity.ts';
import { loadVectors } from './test-vectors.ts';
import { DEFAULT_ANONYMITY, type AnonymityRules, type Relationship } from './types.ts';

const raters = (relationship: Relationship, count: number, prefix = relationship): RaterRef[] =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, relationship }));

const rulesWith = (k: Partial<AnonymityRules['k']>, distributionMinN = 4): AnonymityRules => ({
  k: { ...DEFAULT_ANONYMITY.k, ...k },
  distributionMinN,
});

describe('validateAnonymityRules', () => {
  it('accepts the defaults and stricter rules', () => {
    expect(validateAnonymityRules(DEFAULT_ANONYMITY)).toBe(DEFAULT_ANONYMITY);
    expect(() => validateAnonymityRules(rulesWith({ peer: 5, all_others: 6 }, 6))).not.toThrow();
  });

  it('never allows k < 3 for an anonymous group', () => {
    for (const group of ['peer', 'direct_report', 'other'] as const) {
      expect(() => validateAnonymityRules(rulesWith({ [group]: 2 }))).toThrow(ValidationError);
    }
  });

  it('never allows all-others under 4 or distributions under n = 4', () => {
    expect(() => validateAnonymityRules(rulesWith({ all_others: 3 }))).toThrow(/k\.all_others/);
    expect(() => validateAnonymityRules(rulesWith({}, 3))).toThrow(/distributionMinN/);
  });

  it('rejects fractional k and lists every bad key', () => {
    try {
      validateAnonymityRules(rulesWith({ peer: 3.5, other: 1 }, 2));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).problems.map((p) => p.path)).toEqual([
        'k.peer',
        'k.other',
        'distributionMinN',
      ]);
    }
  });
});

describe('thresholdFor', () => {
  it('is 1 for self and manager, k otherwise', () => {
    const rules = rulesWith({ peer: 4, direct_report: 5, other: 6, all_others: 7 });
    expect(
      ['self', 'manager', 'peer', 'direct_report', 'other', 'all_others'].map((g) =>
        thresholdFor(g as never, rules),
      ),
    ).toEqual([1, 1, 4, 5, 6, 7]);
  });
});

describe('isSafeAnonymousSet', () => {
  it('treats sets without anonymous raters as safe', () => {
    expect(isSafeAnonymousSet([], DEFAULT_ANONYMITY)).toBe(true);
    expect(isSafeAnonymousSet([...raters('manager', 1), ...raters('self', 1)], DEFAULT_ANONYMITY)).toBe(true);
  });

  it('needs k of a single group', () => {
    expect(isSafeAnonymousSet(raters('peer', 2), DEFAULT_ANONYMITY)).toBe(false);
    expect(isSafeAnonymousSet(raters('peer', 3), DEFAULT_ANONYMITY)).toBe(true);
    expect(isSafeAnonymousSet([...raters('peer', 2), ...raters('manager', 1)], DEFAULT_ANONYMITY)).toBe(
      false,
    );
  });

  it('lets a pool of groups reach k.other, but never less than the k of a group in it', () => {
    expect(isSafeAnonymousSet([...raters('peer', 2), ...raters('direct_report', 1)], DEFAULT_ANONYMITY)).toBe(
      true,
    );
    const strictPeers = rulesWith({ peer: 5 });
    expect(isSafeAnonymousSet([...raters('peer', 2), ...raters('other', 2)], strictPeers)).toBe(false);
    expect(isSafeAnonymousSet([...raters('peer', 4), ...raters('other', 1)], strictPeers)).toBe(true);
  });

  it('accepts a union of groups that each reach their own k, whatever k.other is', () => {
    const strictOther = rulesWith({ other: 10 });
    expect(isSafeAnonymousSet([...raters('peer', 3), ...raters('direct_report', 3)], strictOther)).toBe(true);
    expect(isSafeAnonymousSet([...raters('peer', 3), ...raters('direct_report', 2)], strictOther)).toBe(
      false,
    );
  });

  it('applies a minimum (distributionMinN) on top of k', () => {
    expect(isSafeAnonymousSet(raters('peer', 3), DEFAULT_ANONYMITY, 4)).toBe(false);
    expect(isSafeAnonymousSet(raters('peer', 4), DEFAULT_ANONYMITY, 4)).toBe(true);
    expect(
      isSafeAnonymousSet([...raters('peer', 3), ...raters('direct_report', 3)], DEFAULT_ANONYMITY, 4),
    ).toBe(true);
  });
});

describe('findDifferencingViolations', () => {
  const peers = raters('peer', 3);
  const directReport = raters('direct_report', 1);
  const manager = raters('manager', 1);

  it('finds the leak of the vectors.json differencing example, and the arithmetic it enables', () => {
    const { inputs, expected } = loadVectors().differencing;
    const recovered = inputs.all_others.n * inputs.all_others.mean - inputs.peers.n * inputs.peers.mean;
    expect(recovered).toBeCloseTo(expected.recovered_direct_report_rating, 4);
    expect(inputs.all_others.n - inputs.peers.n).toBe(inputs.direct_reports.n);

    const published = [
      { label: 'all_others', raters: [...peers, ...directReport] },
      { label: 'peer', raters: peers },
    ];
    const violations = findDifferencingViolations(published, DEFAULT_ANONYMITY);
    expect(violations).toContainEqual({ kind: 'nested', labels: ['peer', 'all_others'], anonymousRaters: 1 });
    expect(violations).toContainEqual({ kind: 'cell', labels: ['all_others'], anonymousRaters: 1 });
    expect(() => assertNoDifferencing(published, DEFAULT_ANONYMITY)).toThrow(DifferencingError);
  });

  it('allows differences that are empty, non-anonymous, or at least k', () => {
    const directReports = raters('direct_report', 3);
    const published = [
      { label: 'manager', raters: manager },
      { label: 'peer', raters: peers },
      { label: 'direct_report', raters: directReports },
      { label: 'all_others', raters: [...manager, ...peers, ...directReports] },
      { label: 'same_as_peer', raters: peers },
    ];
    expect(findDifferencingViolations(published, DEFAULT_ANONYMITY)).toEqual([]);
    expect(() => assertNoDifferencing(published, DEFAULT_ANONYMITY)).not.toThrow();
  });

  it('catches overlaps that are not nested (A and B differ by one rater each way)', () => {
    const base = raters('peer', 3);
    const published = [
      { label: 'a', raters: [...base, { id: 'x', relationship: 'peer' as const }] },
      { label: 'b', raters: [...base, { id: 'y', relationship: 'peer' as const }] },
    ];
    const violations = findDifferencingViolations(published, DEFAULT_ANONYMITY);
    expect(violations.filter((v) => v.kind === 'nested')).toEqual([]);
    expect(violations.filter((v) => v.kind === 'cell').map((v) => v.anonymousRaters)).toEqual([1, 1]);
  });

  it('checks published distributions at distributionMinN', () => {
    const published = [
      { label: 'all_others', raters: [...manager, ...peers] },
      { label: 'manager', raters: manager },
    ];
    expect(findDifferencingViolations(published, DEFAULT_ANONYMITY)).toEqual([]);
    expect(findDifferencingViolations(published, DEFAULT_ANONYMITY, { minimum: 4 })).toContainEqual({
      kind: 'nested',
      labels: ['manager', 'all_others'],
      anonymousRaters: 3,
    });
  });
});

describe('canRerelease', () => {
  const before = { self: 1, manager: 1, peer: 3, direct_report: 3 };

  it('allows an unchanged report', () => {
    expect(canRerelease(before, { ...before }, DEFAULT_ANONYMITY)).toEqual({ allowed: true, problems: [] });
  });

  it('refuses a late 4th peer (4 m4 - 3 m3 reveals it)', () => {
    expect(canRerelease(before, { ...before, peer: 4 }, DEFAULT_ANONYMITY)).toEqual({
      allowed: false,
      problems: [
        { group: 'peer', gained: 1, required: 3 },
        { group: 'all_others', gained: 1, required: 4 },
      ],
    });
  });

  it('allows a group that gained k when all-others gains k.all_others too', () => {
    expect(canRerelease(before, { ...before, peer: 7 }, DEFAULT_ANONYMITY).allowed).toBe(true);
    const result = canRerelease(before, { ...before, peer: 6 }, DEFAULT_ANONYMITY);
    expect(result.problems).toEqual([{ group: 'all_others', gained: 3, required: 4 }]);
  });

  it('needs every changed group to gain its k', () => {
    const result = canRerelease(before, { ...before, peer: 6, direct_report: 4 }, DEFAULT_ANONYMITY);
    expect(result.problems).toEqual([{ group: 'direct_report', gained: 1, required: 3 }]);
  });

  it('refuses a late manager response, since it moves all-others by one (strict reading)', () => {
    const result = canRerelease(
      { peer: 3, direct_report: 3 },
      { peer: 3, direct_report: 3, manager: 1 },
      DEFAULT_ANONYMITY,
    );
    expect(result).toEqual({ allowed: false, problems: [{ group: 'all_others', gained: 1, required: 4 }] });
  });

  it('allows a late self response, which no anonymous aggregate contains', () => {
    expect(canRerelease({ ...before, self: 0 }, before, DEFAULT_ANONYMITY).allowed).toBe(true);
  });

  it('refuses a withdrawn response', () => {
    expect(canRerelease({ ...before, peer: 7 }, before, DEFAULT_ANONYMITY).allowed).toBe(false);
  });

  it('uses the k of the survey', () => {
    const rules = rulesWith({ peer: 5, all_others: 5 });
    expect(canRerelease(before, { ...before, peer: 7 }, rules).allowed).toBe(false);
    expect(canRerelease(before, { ...before, peer: 8 }, rules).allowed).toBe(true);
  });
});
