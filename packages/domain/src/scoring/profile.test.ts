import { describe, expect, it } from 'vitest';

import { ValidationError } from '../errors.ts';
import { rwg } from './rater-agreement.ts';
import { buildProfile, shownStats, type Profile } from './profile.ts';
import { FIXTURE_INSTRUMENT, many, rate } from './test-fixtures.ts';
import { DEFAULT_ANONYMITY, type GroupResults, type ScoringResponse, type ShownGroup } from './types.ts';

const build = (
  responses: ScoringResponse[],
  overrides: Partial<Parameters<typeof buildProfile>[0]> = {},
): Profile =>
  buildProfile({
    instrument: FIXTURE_INSTRUMENT,
    responses,
    rules: DEFAULT_ANONYMITY,
    seed: 'leader-1:v1',
    ...overrides,
  });

const stats = (results: GroupResults, group: keyof GroupResults): ShownGroup => {
  const found = shownStats(results, group);
  if (!found) throw new Error(`${group} is suppressed`);
  return found;
};

const competency = (profile: Profile, id: string) => {
  const found = profile.competencies.find((c) => c.id === id);
  if (!found) throw new Error(id);
  return found;
};

describe('buildProfile: anonymity', () => {
  it('never publishes the vectors.json differencing combination', () => {
    // 3 peers at 4, a lone direct report at 3, no others, no manager: all-others would be n=4, mean 3.75.
    const profile = build([
      rate('self', 'self', 4),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [3]),
    ]);
    for (const c of profile.competencies) {
      for (const results of [c.groups, ...c.items.map((i) => i.groups)]) {
        expect(stats(results, 'peer')).toMatchObject({ n: 3, mean: 4 });
        expect(results.direct_report).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
        expect(results.all_others).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 4 });
      }
    }
    expect(JSON.stringify(profile)).not.toContain('3.75');
  });

  it('shows all-others without the lone direct report once a manager brings it to k', () => {
    const profile = build([
      ...many('manager', [2]),
      ...many('peer', [4, 4, 4]),
      ...many('direct_report', [3]),
    ]);
    const allOthers = stats(competency(profile, 'vision').groups, 'all_others');
    expect(allOthers).toMatchObject({ n: 4, mean: 3.5, groups: ['manager', 'peer'] });
    expect(stats(competency(profile, 'vision').groups, 'manager')).toMatchObject({ n: 1, mean: 2, sd: null });
  });

  it('returns suppression markers with no numbers but k', () => {
    const profile = build([...many('peer', [4, 5])]);
    const groups = competency(profile, 'vision').groups;
    for (const group of ['self', 'manager', 'peer', 'direct_report', 'other', 'all_others'] as const) {
      expect(Object.keys(groups[group]).sort()).toEqual(['k', 'reason', 'suppressed']);
    }
    expect(groups.self).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 1 });
  });

  it('merges small groups into "other" and says so', () => {
    const profile = build([...many('peer', [5, 4]), ...many('direct_report', [3]), ...many('manager', [3])]);
    const groups = competency(profile, 'vision').groups;
    expect(stats(groups, 'other')).toMatchObject({ n: 3, mean: 4, merged: ['peer', 'direct_report'] });
    expect(groups.peer).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    expect(stats(groups, 'all_others')).toMatchObject({
      n: 4,
      mean: 3.75,
      groups: ['manager', 'peer', 'direct_report', 'other'],
    });
  });

  it('applies k per item after N/A', () => {
    const peers = [
      rate('p1', 'peer', [4, 4, 4, 4, 4, 4, 4, 4, 4]),
      rate('p2', 'peer', [5, 5, 5, null, 5, 5, 5, 5, 5]),
      rate('p3', 'peer', [3, 3, 3, undefined, 3, 3, 3, 3, 3]),
    ];
    const vision = competency(build(peers), 'vision');
    expect(vision.items[3]!.groups.peer).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    // Competency scores exist for all three (3 of 4 items answered).
    expect(stats(vision.groups, 'peer')).toMatchObject({ n: 3, mean: 4 });
    // Items a-c reach k (n = 3), but p2 and p3 answered 3 of the 4 items: 4 x (3 x 4) - (s_a + s_b + s_c)
    // would be (T_p2 + T_p3) / 3, two peers' totals. Their item numbers are withheld, the competency stays.
    for (const item of vision.items.slice(0, 3)) {
      expect(item.groups.peer).toEqual({ suppressed: true, reason: 'partial_answers', k: 3 });
    }
    // Seven peers, three who answered everything and four who skipped d: no combination isolates fewer than
    // three of them, so every item is shown (d from the three who answered it).
    const seven = [
      ...[4, 5, 3].map((v, i) => rate(`f${i}`, 'peer', [v, v, v, v, v, v, v, v, v])),
      ...[2, 3, 4, 5].map((v, i) => rate(`s${i}`, 'peer', [v, v, v, null, v, v, v, v, v])),
    ];
    const large = competency(build(seven), 'vision');
    expect(stats(large.items[0]!.groups, 'peer')).toMatchObject({ n: 7, naCount: 0 });
    expect(stats(large.items[3]!.groups, 'peer')).toMatchObject({ n: 3, naCount: 4 });
  });
});

describe('buildProfile: statistics', () => {
  const responses = [
    rate('s', 'self', [5, 5, 4, 4, 2, 2, 2, 3, 3], { strengths: 'I set direction.' }),
    rate('m', 'manager', [3, 3, 3, 3, 4, 4, 4, 4, 4], { improve: 'More coaching.' }),
    rate('p1', 'peer', [4, 4, 4, 4, 5, 5, 5, 2, 2]),
    rate('p2', 'peer', [2, 3, null, 3, 5, 5, 4, 2, 3]),
    rate('p3', 'peer', [3, 3, 3, 3, 4, 5, 5, 3, 3], { strengths: 'Clear goals.' }),
    rate('p4', 'peer', [3, null, null, 3, 5, 4, 5, 3, 2]),
    rate('d1', 'direct_report', [4, 4, 4, 4, 5, 5, 5, 1, 2]),
    rate('d2', 'direct_report', [4, 3, 4, 3, 4, 4, 4, 2, 2]),
    rate('d3', 'direct_report', [5, 5, 4, 4, 5, 5, 5, 2, 1]),
  ];
  const profile = build(responses);
  const vision = competency(profile, 'vision');

  it('scores competencies from raters with at least half the items', () => {
    // peer competency scores: 4, (2+3+3)/3, 3, (3+3)/2 = 3 -> mean (4 + 8/3 + 3 + 3) / 4
    expect(stats(vision.groups, 'peer')).toMatchObject({ n: 4, naCount: 0 });
    expect(stats(vision.groups, 'peer').mean).toBeCloseTo((4 + 8 / 3 + 3 + 3) / 4, 12);
    expect(stats(vision.groups, 'self').mean).toBe(4.5);
  });

  it('gives all-others as the rater-weighted mean over everyone but self', () => {
    const scores = [3, 4, 8 / 3, 3, 3, 4, 3.5, 4.5];
    const allOthers = stats(vision.groups, 'all_others');
    expect(allOthers.n).toBe(8);
    expect(allOthers.mean).toBeCloseTo(scores.reduce((a, b) => a + b) / 8, 12);
  });

  it('counts and flags N/A per item', () => {
    const itemC = vision.items[2]!;
    // item c: p2 and p4 chose N/A -> peers n = 2 < 3, suppressed and left out of all-others, N/A counts too.
    expect(itemC.groups.peer).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    expect(stats(itemC.groups, 'all_others')).toMatchObject({
      n: 4,
      naCount: 0,
      groups: ['manager', 'direct_report'],
    });
    const allOthersB = stats(vision.items[1]!.groups, 'all_others');
    expect(allOthersB).toMatchObject({ naCount: 1, naFlag: false });
    const peersB = stats(vision.items[1]!.groups, 'peer');
    expect(peersB).toMatchObject({ n: 3, naCount: 1, naShare: 0.25, naFlag: false });
  });

  it('publishes distributions and ranges only from n = 4', () => {
    const itemA = vision.items[0]!;
    expect(stats(itemA.groups, 'peer').distribution).toEqual([
      { value: 1, count: 0 },
      { value: 2, count: 1 },
      { value: 3, count: 2 },
      { value: 4, count: 1 },
      { value: 5, count: 0 },
    ]);
    expect(stats(itemA.groups, 'direct_report')).not.toHaveProperty('min');
    expect(stats(itemA.groups, 'direct_report')).not.toHaveProperty('distribution');
    // all-others: peers (4, distribution shown) + direct reports (3, not) + manager: the 3 direct reports
    // would be uncovered, so no range for all-others either.
    expect(stats(itemA.groups, 'all_others')).not.toHaveProperty('distribution');
    expect(stats(vision.groups, 'peer')).toMatchObject({ min: 8 / 3, max: 4 });
    expect(stats(vision.groups, 'peer')).not.toHaveProperty('distribution');
  });

  it('computes the self-other gap per competency and item', () => {
    const gap = profile.selfOther.competencies.gaps.find((g) => g.id === 'vision')!.gap;
    expect(gap).toBeCloseTo(4.5 - stats(vision.groups, 'all_others').mean, 12);
    expect(profile.selfOther.items.gaps).toHaveLength(9);
    // coaching: self 2, others ~4.5 -> hidden strength by gap
    expect(profile.selfOther.competencies.hiddenStrengths.gap).toEqual(['coaching']);
    // vision: 4.5 - 27.6667 / 8 = 1.04; delivery: 3 - 19 / 8 = 0.625 (not flagged)
    expect(profile.selfOther.competencies.blindSpots.gap).toEqual(['vision']);
  });

  it('reports rater agreement from the shown SDs', () => {
    const peerScores = [4, 8 / 3, 3, 3];
    const agreement = vision.agreement.peer!;
    expect(agreement.rwg).toBeCloseTo(rwg(peerScores, 5)!, 12);
    expect(agreement.rwgJItems).toBe(3);
    expect(vision.agreement.all_others).not.toBeNull();
    expect(competency(profile, 'delivery').agreement.manager).toBeNull();
  });

  it('lists top and bottom items by all-others mean', () => {
    // all-others means: coaching.* 4.625; vision.c 3.75 (n = 4: the two peers left are dropped); vision.b
    // 3.571; vision.a 3.5; vision.d 3.375; delivery.* 2.375
    expect(profile.topItems.map((i) => i.itemId)).toEqual([
      'coaching.a',
      'coaching.b',
      'coaching.c',
      'vision.c',
      'vision.b',
    ]);
    expect(profile.bottomItems.map((i) => i.itemId)).toEqual([
      'delivery.a',
      'delivery.b',
      'vision.d',
      'vision.a',
      'vision.b',
    ]);
    expect(profile.topItems[3]).toEqual({ itemId: 'vision.c', competencyId: 'vision', mean: 3.75, n: 4 });
    expect(profile.topItems[0]!.competencyId).toBe('coaching');
  });

  it('reports participation counts and whether groups can be shown', () => {
    expect(profile.participation).toEqual({
      self: { responses: 1, k: 1, shown: true },
      manager: { responses: 1, k: 1, shown: true },
      peer: { responses: 4, k: 3, shown: true },
      direct_report: { responses: 3, k: 3, shown: true },
      other: { responses: 0, k: 3, shown: false },
    });
  });

  it('includes comments labelled by group', () => {
    const strengths = profile.comments.find((q) => q.questionId === 'strengths')!.comments;
    expect(strengths).toHaveLength(2);
    expect(strengths).toContainEqual({ group: 'peer', text: 'Clear goals.' });
  });

  it('is JSON-serialisable without loss and deterministic', () => {
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
    expect(build([...responses].reverse())).toEqual(profile);
  });
});

describe('buildProfile: validation', () => {
  it('refuses anonymity rules below the floors', () => {
    expect(() =>
      build([], { rules: { k: { ...DEFAULT_ANONYMITY.k, peer: 2 }, distributionMinN: 4 } }),
    ).toThrow(ValidationError);
  });

  it('refuses off-scale ratings', () => {
    expect(() => build([rate('x', 'peer', 6)])).toThrow(ValidationError);
  });

  it('handles a survey with no responses', () => {
    const profile = build([]);
    expect(profile.topItems).toEqual([]);
    expect(profile.comments.every((q) => q.comments.length === 0)).toBe(true);
  });
});
