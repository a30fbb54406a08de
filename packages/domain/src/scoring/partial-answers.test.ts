import { describe, expect, it } from 'vitest';

import { answeredRating, choseNotApplicable } from './competency-scores.ts';
import { partialAnswersIsolate } from './partial-answers.ts';
import { buildProfile, shownStats, type Profile } from './profile.ts';
import { planMeasure } from './publication-plan.ts';
import { FIXTURE_INSTRUMENT, rate } from './test-fixtures.ts';
import { DEFAULT_ANONYMITY, type GroupResults, type ScoringResponse, type ShownGroup } from './types.ts';

const build = (responses: ScoringResponse[]): Profile =>
  buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules: DEFAULT_ANONYMITY, seed: 'leader-1:v1' });

const stats = (results: GroupResults, group: keyof GroupResults): ShownGroup => {
  const found = shownStats(results, group);
  if (!found) throw new Error(`${group} is suppressed`);
  return found;
};

const VISION = ['vision.a', 'vision.b', 'vision.c', 'vision.d'];
const PARTIAL = { suppressed: true, reason: 'partial_answers' } as const;

// Item-level numbers as every item's own plan would publish them, i.e. what the profile published before
// the partial-answers rule: n and mean of the peers who answered the item.
function unguardedPeerItem(responses: readonly ScoringResponse[], itemId: string) {
  const plan = planMeasure(
    responses.map((r) => ({
      id: r.id,
      relationship: r.relationship,
      value: answeredRating(r.ratings, itemId),
      notApplicable: choseNotApplicable(r.ratings, itemId),
    })),
    DEFAULT_ANONYMITY,
  );
  const set = plan.peer;
  if (set.suppressed) throw new Error(`${itemId}: peers under k`);
  const values = set.raters.map((r) => r.value!);
  return { n: values.length, mean: values.reduce((a, b) => a + b, 0) / values.length };
}

describe('partial answers: the leak between item and competency numbers', () => {
  // Five peers; peer-4 marks vision.c N/A, so their vision score is the mean of 3 items, not 4.
  const responses = [
    rate('self', 'self', [5, 4, 3, 2, 4, 4, 4, 4, 4]),
    rate('peer-0', 'peer', [4, 4, 4, 4, 4, 4, 4, 4, 4]),
    rate('peer-1', 'peer', [5, 3, 4, 2, 4, 4, 4, 4, 4]),
    rate('peer-2', 'peer', [3, 3, 5, 4, 4, 4, 4, 4, 4]),
    rate('peer-3', 'peer', [2, 5, 3, 3, 4, 4, 4, 4, 4]),
    rate('peer-4', 'peer', [5, 1, null, 3, 4, 4, 4, 4, 4]),
  ];
  const peer4Total = 5 + 1 + 3;

  it('reproduces it: 3 x (4 n mean(competency) - sum_j n_j mean(item_j)) is the skipper total', () => {
    const profile = build(responses);
    const vision = profile.competencies.find((c) => c.id === 'vision')!;
    const competency = stats(vision.groups, 'peer');
    expect(competency.n).toBe(5);
    const items = VISION.map((id) => unguardedPeerItem(responses, id));
    expect(items.map((i) => i.n)).toEqual([5, 5, 4, 5]);
    const itemSums = items.reduce((acc, i) => acc + i.n * i.mean, 0);
    const recovered = 3 * (4 * competency.n * competency.mean - itemSums);
    expect(recovered).toBeCloseTo(peer4Total, 9);
    // ... and hence peer-4's competency score, which no reader may see.
    expect(recovered / 3).toBeCloseTo(3, 9);
  });

  it('closes it: the peers item numbers of vision are withheld, the competency score stays', () => {
    const profile = build(responses);
    const vision = profile.competencies.find((c) => c.id === 'vision')!;
    expect(stats(vision.groups, 'peer')).toMatchObject({ n: 5 });
    expect(stats(vision.groups, 'all_others')).toMatchObject({ n: 5, groups: ['peer'] });
    for (const item of vision.items) {
      expect(item.groups.peer).toEqual({ ...PARTIAL, k: 3 });
      // All-others is only the peers here, so it would be the same numbers: withheld with the same reason.
      expect(item.groups.all_others).toEqual({ ...PARTIAL, k: 4 });
      expect(stats(item.groups, 'self')).toMatchObject({ n: 1 });
    }
    // Nothing derived from those item numbers either: ranking, item gaps, rwg(j).
    expect(profile.topItems.map((i) => i.competencyId)).not.toContain('vision');
    expect(profile.bottomItems.map((i) => i.competencyId)).not.toContain('vision');
    expect(profile.selfOther.items.gaps.map((g) => g.id).filter((id) => VISION.includes(id))).toEqual([]);
    expect(vision.agreement.peer).toMatchObject({ rwgJ: null, rwgJItems: 0 });
    // The other competencies, answered in full, keep their item numbers.
    const coaching = profile.competencies.find((c) => c.id === 'coaching')!;
    for (const item of coaching.items) expect(stats(item.groups, 'peer')).toMatchObject({ n: 5, mean: 4 });
    expect(profile.topItems).toHaveLength(5);
  });

  it('keeps the other groups and a recomposed all-others on the items', () => {
    const profile = build([
      ...responses,
      rate('m', 'manager', [3, 3, 3, 3, 3, 3, 3, 3, 3]),
      ...[2, 3, 4].map((v, i) => rate(`dr-${i}`, 'direct_report', [v, v, v, v, v, v, v, v, v])),
    ]);
    const vision = profile.competencies.find((c) => c.id === 'vision')!;
    for (const item of vision.items) {
      expect(item.groups.peer).toEqual({ ...PARTIAL, k: 3 });
      expect(stats(item.groups, 'direct_report')).toMatchObject({ n: 3, mean: 3 });
      // Peers are left out of the item's all-others (as groups under k are), so it cannot be differenced
      // back to them: manager + direct reports.
      expect(stats(item.groups, 'all_others')).toMatchObject({
        n: 4,
        mean: 3,
        groups: ['manager', 'direct_report'],
      });
    }
    expect(stats(vision.groups, 'all_others')).toMatchObject({
      n: 9,
      groups: ['manager', 'peer', 'direct_report'],
    });
  });

  it('withholds an item whose pool differs from the competency pool', () => {
    // peer-2 skips vision.a only: on that item the two other peers are merged into "other", while the
    // competency shows peers and others apart. 4 x C_other - (s_b + s_c + s_d) of the others would give the
    // others' vision.a sum, and the merged "other" of vision.a minus it the two peers' sum.
    const profile = build([
      rate('peer-0', 'peer', 4),
      rate('peer-1', 'peer', 3),
      rate('peer-2', 'peer', [null, 5, 5, 5, 5, 5, 5, 5, 5]),
      ...[2, 3, 4].map((v, i) => rate(`other-${i}`, 'other', v)),
    ]);
    const vision = profile.competencies.find((c) => c.id === 'vision')!;
    expect(stats(vision.groups, 'peer')).toMatchObject({ n: 3 });
    expect(stats(vision.groups, 'other')).toMatchObject({ n: 3 });
    expect(vision.items[0]!.groups.other).toEqual({ ...PARTIAL, k: 3 });
    expect(vision.items[0]!.groups.peer).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    for (const item of vision.items.slice(1)) {
      expect(stats(item.groups, 'other')).toMatchObject({ n: 3, mean: 3 });
      expect(item.groups.peer).toEqual({ ...PARTIAL, k: 3 });
    }
  });
});

describe('partialAnswersIsolate', () => {
  const all = [true, true, true, true];
  const skip = (j: number) => all.map((_, i) => i !== j);

  it('flags a lone partial answerer among full answerers', () => {
    expect(partialAnswersIsolate([all, all, all, all, skip(2)], all, 3)).toBe(true);
  });

  it('flags a lone full answerer among partial answerers who skipped the same item', () => {
    // b_j = -a/3 on items a-c cancels the four; the full answerer is left: k partial answerers are not enough.
    expect(partialAnswersIsolate([all, skip(3), skip(3), skip(3), skip(3)], all, 3)).toBe(true);
    // Three full answerers left over are safe.
    expect(partialAnswersIsolate([all, all, all, skip(3), skip(3), skip(3), skip(3)], all, 3)).toBe(false);
  });

  it('flags partial answerers with different patterns that leave two behind', () => {
    // vision.a is under k (not published); b_j = -a/3 on b-d cancels the raters who answered exactly those.
    const published = [false, true, true, true];
    expect(partialAnswersIsolate([skip(2), skip(0), skip(1), skip(0)], published, 3)).toBe(true);
  });

  it('passes full answers, a group that skipped the same item, and nothing published', () => {
    expect(partialAnswersIsolate([all, all, all], all, 3)).toBe(false);
    expect(partialAnswersIsolate([skip(3), skip(3), skip(3)], [true, true, true, false], 3)).toBe(false);
    expect(partialAnswersIsolate([all, all, all, skip(1)], [false, false, false, false], 3)).toBe(false);
  });

  it('counts raters without a competency score (fewer than half answered)', () => {
    // Four full answerers and one who answered only item a: 4 C - sum_j s_j = -(their rating of a).
    const onlyA = [true, false, false, false];
    expect(partialAnswersIsolate([all, all, all, all, onlyA], all, 3)).toBe(true);
  });
});
