import { sampleStandardDeviation } from 'simple-statistics';
import { describe, expect, it } from 'vitest';

import { buildChange, fixedWeightAllOthers, publicMixWarnings, reliableChange, welchZ } from './change.ts';
import { buildProfile, shownStats } from './profile.ts';
import { FIXTURE_INSTRUMENT, many, rate } from './test-fixtures.ts';
import { loadVectors } from './test-vectors.ts';
import { DEFAULT_ANONYMITY, type ScoringResponse } from './types.ts';

const profileOf = (responses: ScoringResponse[]) =>
  buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules: DEFAULT_ANONYMITY, seed: 'x' });

describe('reliableChange', () => {
  it('matches vectors.json rci', () => {
    const { inputs, expected } = loadVectors().rci;
    inputs.leaders.forEach((leader, i) => {
      const result = reliableChange({ delta: leader.x2 - leader.x1, sd1: inputs.sd1, rxx: inputs.rxx });
      expect(result.sem).toBeCloseTo(expected.sem, 4);
      expect(result.sdiff).toBeCloseTo(expected.sdiff, 4);
      expect(result.mdc95).toBeCloseTo(expected.mdc95, 4);
      expect(result.rci).toBeCloseTo(expected.rci[i] ?? Number.NaN, 4);
      expect(result.verdict === 'improved').toBe(expected.reliable[i]);
    });
  });

  it('matches vectors.json cohort_change rci with SD1 = sample SD of t1', () => {
    const { inputs, expected } = loadVectors().cohort_change;
    const sd1 = sampleStandardDeviation(inputs.t1);
    inputs.t1.forEach((x1, i) => {
      const result = reliableChange({ delta: (inputs.t2[i] ?? Number.NaN) - x1, sd1, rxx: inputs.rxx });
      expect(result.sdiff).toBeCloseTo(expected.rci_sdiff, 4);
      expect(result.rci).toBeCloseTo(expected.rci[i] ?? Number.NaN, 4);
    });
  });

  it('needs |RCI| strictly above 1.96 in either direction', () => {
    const sdiff = Math.SQRT2 * 0.5 * Math.sqrt(0.2);
    expect(reliableChange({ delta: 1.95 * sdiff, sd1: 0.5, rxx: 0.8 }).verdict).toBe('no_reliable_change');
    expect(reliableChange({ delta: -1.95 * sdiff, sd1: 0.5, rxx: 0.8 }).verdict).toBe('no_reliable_change');
    expect(reliableChange({ delta: 1.97 * sdiff, sd1: 0.5, rxx: 0.8 }).verdict).toBe('improved');
    expect(reliableChange({ delta: -1.97 * sdiff, sd1: 0.5, rxx: 0.8 }).verdict).toBe('deteriorated');
  });

  it('rejects inputs that make Sdiff zero or meaningless', () => {
    expect(() => reliableChange({ delta: 1, sd1: 0, rxx: 0.8 })).toThrow(RangeError);
    expect(() => reliableChange({ delta: 1, sd1: 0.5, rxx: 1 })).toThrow(RangeError);
    expect(() => reliableChange({ delta: Number.NaN, sd1: 0.5, rxx: 0.8 })).toThrow(RangeError);
  });
});

describe('welchZ', () => {
  it('divides by the unpooled standard error', () => {
    // sqrt(.64/4 + .36/5) = sqrt(.232)
    expect(welchZ(0.5, 0.8, 4, 0.6, 5)).toBeCloseTo(0.5 / Math.sqrt(0.232), 12);
  });

  it('is null without a standard error', () => {
    expect(welchZ(0.5, 0, 4, 0, 5)).toBeNull();
    expect(welchZ(0.5, 0.8, 0, 0.6, 5)).toBeNull();
  });
});

describe('fixedWeightAllOthers', () => {
  it('does not move when only the group mix moves', () => {
    const before = profileOf([
      ...many('manager', [2]),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [3, 3, 3]),
    ]);
    const after = profileOf([
      ...many('manager', [2]),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [3, 3, 3, 3, 3, 3, 3, 3]),
    ]);
    const b = before.competencies[0]!.groups;
    const a = after.competencies[0]!.groups;
    expect(shownStats(a, 'all_others')!.mean).not.toBeCloseTo(shownStats(b, 'all_others')!.mean, 4);
    const fixed = fixedWeightAllOthers(b, a, DEFAULT_ANONYMITY)!;
    expect(fixed.groups).toEqual(['manager', 'peer', 'direct_report']);
    expect(fixed.baseline).toBeCloseTo(3, 12);
    expect(fixed.followUp).toBeCloseTo(3, 12);
  });

  it('uses only groups shown in both cycles and needs k.all_others raters in them', () => {
    const before = profileOf([
      ...many('manager', [2]),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [1, 1, 1]),
    ]);
    const after = profileOf([...many('manager', [3]), ...many('peer', [5, 5, 5])]);
    const fixed = fixedWeightAllOthers(
      before.competencies[0]!.groups,
      after.competencies[0]!.groups,
      DEFAULT_ANONYMITY,
    );
    expect(fixed).toEqual({ groups: ['manager', 'peer'], baseline: 3, followUp: 4 });
    const noManager = profileOf(many('peer', [5, 5, 5]));
    expect(
      fixedWeightAllOthers(
        noManager.competencies[0]!.groups,
        noManager.competencies[0]!.groups,
        DEFAULT_ANONYMITY,
      ),
    ).toBeNull();
  });
});

describe('buildChange', () => {
  const baseline = profileOf([
    rate('s', 'self', 4),
    ...many('manager', [2]),
    ...many('peer', [3, 3, 4]),
    ...many('direct_report', [3, 3, 3]),
    ...many('other', [4]),
  ]);
  const followUp = profileOf([
    rate('s', 'self', 4),
    ...many('manager', [3]),
    ...many('peer', [4, 4, 5]),
    ...many('direct_report', [2]),
    ...many('other', [4, 4, 4]),
  ]);
  const report = buildChange({
    baseline,
    followUp,
    sd1ByCompetency: { vision: 0.5, coaching: 0.5 },
    rxxByCompetency: { vision: 0.85, coaching: 0.85 },
    overlap: { manager: 1, peer: 2 },
  });
  const vision = report.competencies.find((c) => c.id === 'vision')!;

  it('gives delta, reliable change and Welch z per group shown in both cycles', () => {
    expect(report.competencies.map((c) => c.id)).toEqual(['vision', 'coaching', 'delivery']);
    const peers = vision.groups.peer;
    if (!peers.available) throw new Error('peers should be comparable');
    expect(peers.delta).toBeCloseTo(13 / 3 - 10 / 3, 12);
    expect(peers.reliableChange?.rci).toBeCloseTo(1 / (Math.SQRT2 * 0.5 * Math.sqrt(0.15)), 12);
    expect(peers.welchZ).toBeCloseTo(1 / Math.sqrt(1 / 3 / 3 + 1 / 3 / 3), 12);
    expect(vision.groups.self).toMatchObject({ available: true, delta: 0, welchZ: null });
    expect(vision.groups.manager).toMatchObject({ available: true, delta: 1, welchZ: null });
  });

  it('gives no delta for a group suppressed in either cycle', () => {
    expect(vision.groups.direct_report).toEqual({ available: false, reason: 'suppressed' });
    expect(vision.groups.other).toEqual({ available: false, reason: 'suppressed' });
    expect(vision.notComparable).toEqual(['direct_report', 'other']);
  });

  it('gives all-others with fixed weights over the groups comparable in both cycles', () => {
    if (!vision.allOthers.available) throw new Error('all-others should be comparable');
    expect(vision.allOthers.groups).toEqual(['manager', 'peer']);
    expect(vision.allOthers.baseline).toBeCloseTo((2 + 10 / 3) / 2, 12);
    expect(vision.allOthers.followUp).toBeCloseTo((3 + 13 / 3) / 2, 12);
    expect(vision.allOthers.welchZ).not.toBeNull();
  });

  it('leaves reliable change out where no SD1 or rxx is configured', () => {
    const delivery = report.competencies.find((c) => c.id === 'delivery')!;
    expect(delivery.groups.peer).toMatchObject({ available: true, reliableChange: null });
  });

  it('passes rater overlap through and warns about the group mix', () => {
    expect(report.overlap).toEqual({ manager: 1, peer: 2 });
    // Non-self raters: 8 then 8; direct reports 3/8 -> 1/8, others 1/8 -> 3/8. Direct reports are under k in
    // the follow-up and others at baseline, so their shares (which would give away 1 of 8) are not named:
    // one general warning instead.
    expect(report.mixWarnings).toEqual([{ type: 'mix_changed' }]);
    // Peers 3 -> 6 and direct reports 6 -> 3 of 10: both shown in both cycles, so their shares are given.
    const before = profileOf([
      ...many('manager', [3]),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [3, 3, 3, 3, 3, 3]),
    ]);
    const after = profileOf([
      ...many('manager', [3]),
      ...many('peer', [4, 4, 4, 4, 4, 4]),
      ...many('direct_report', [3, 3, 3]),
    ]);
    expect(
      buildChange({ baseline: before, followUp: after, sd1ByCompetency: {}, rxxByCompetency: {} })
        .mixWarnings,
    ).toEqual([
      { type: 'share_changed', group: 'peer', baselineShare: 0.3, followUpShare: 0.6, countsShown: true },
      {
        type: 'share_changed',
        group: 'direct_report',
        baselineShare: 0.6,
        followUpShare: 0.3,
        countsShown: true,
      },
    ]);
    const noOthers = profileOf([
      ...many('manager', [3]),
      ...many('peer', [4, 4, 5]),
      ...many('direct_report', [2, 2, 2]),
    ]);
    // Others go from 1 (under k, shown as "fewer than 3") to 0: "removed" would give the 1 away.
    const warnings = buildChange({
      baseline,
      followUp: noOthers,
      sd1ByCompetency: {},
      rxxByCompetency: {},
    }).mixWarnings;
    expect(warnings).toContainEqual({ type: 'mix_changed' });
    expect(warnings.some((w) => w.type === 'group_removed')).toBe(false);
    // A manager (k = 1, "no response" is shown for 0) is named when added or removed.
    const noManager = profileOf([...many('peer', [4, 4, 5]), ...many('direct_report', [2, 2, 2])]);
    expect(
      buildChange({ baseline: noManager, followUp: noOthers, sd1ByCompetency: {}, rxxByCompetency: {} })
        .mixWarnings,
    ).toContainEqual({ type: 'group_added', group: 'manager', countsShown: true });
    expect(
      buildChange({ baseline: noOthers, followUp: noManager, sd1ByCompetency: {}, rxxByCompetency: {} })
        .mixWarnings,
    ).toContainEqual({ type: 'group_removed', group: 'manager', countsShown: true });
  });

  it('folds stored warnings without the countsShown marker into one general warning', () => {
    expect(
      publicMixWarnings([
        { type: 'share_changed', group: 'peer', baselineShare: 0.375, followUpShare: 0.125 },
        { type: 'group_added', group: 'other' },
        { type: 'group_removed', group: 'manager', countsShown: true },
      ]),
    ).toEqual([{ type: 'group_removed', group: 'manager', countsShown: true }, { type: 'mix_changed' }]);
  });

  it('flags an "other" group that pooled different groups in the two cycles', () => {
    const pooled = profileOf([
      ...many('manager', [3]),
      ...many('peer', [4, 4, 5]),
      ...many('other', [4, 4, 4]),
      ...many('direct_report', [1]),
    ]);
    const plain = profileOf([
      ...many('manager', [3]),
      ...many('peer', [4, 4, 5]),
      ...many('other', [4, 4, 4]),
    ]);
    const change = buildChange({
      baseline: plain,
      followUp: pooled,
      sd1ByCompetency: {},
      rxxByCompetency: {},
    });
    expect(change.competencies[0]!.otherCompositionChanged).toBe(true);
    expect(
      buildChange({ baseline: plain, followUp: plain, sd1ByCompetency: {}, rxxByCompetency: {} })
        .competencies[0]!.otherCompositionChanged,
    ).toBe(false);
  });
});
