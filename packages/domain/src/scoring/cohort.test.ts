import { tTest } from 'simple-statistics';
import { describe, expect, it } from 'vitest';

import { buildCohort, pairedChange, wilson, type CohortCompetency, type CohortLeader } from './cohort.ts';
import { buildProfile } from './profile.ts';
import { FIXTURE_INSTRUMENT, FIXTURE_ITEMS } from './test-fixtures.ts';
import { loadVectors } from './test-vectors.ts';
import { DEFAULT_ANONYMITY, type ScoringResponse } from './types.ts';

const vectors = loadVectors().cohort_change;

describe('pairedChange', () => {
  it('matches every expected value of vectors.json cohort_change', () => {
    const { inputs, expected } = vectors;
    const result = pairedChange(inputs.t1, inputs.t2);
    expect(result.n).toBe(8);
    expect(result.meanDelta).toBeCloseTo(expected.mean_delta, 4);
    expect(result.sdDelta).toBeCloseTo(expected.sd_delta, 4);
    expect(result.t).toBeCloseTo(expected.t, 4);
    expect(result.df).toBe(expected.df);
    expect(result.pTwoSided).toBeCloseTo(expected.p_two_sided, 4);
    expect(result.tCrit).toBeCloseTo(expected.t_crit_975_df7, 4);
    expect(result.ci95[0]).toBeCloseTo(expected.ci95[0], 4);
    expect(result.ci95[1]).toBeCloseTo(expected.ci95[1], 4);
    expect(result.dZ).toBeCloseTo(expected.d_z, 4);
    expect(result.hedgesJ).toBeCloseTo(expected.hedges_J, 4);
    expect(result.gZ).toBeCloseTo(expected.g_z, 4);
    expect(result.s1).toBeCloseTo(expected.s1, 4);
    expect(result.s2).toBeCloseTo(expected.s2, 4);
    expect(result.r12).toBeCloseTo(expected.r12, 4);
    expect(result.dAv).toBeCloseTo(expected.d_av, 4);
    expect(result.gAv).toBeCloseTo(expected.g_av, 4);
    expect(result.dRm).toBeCloseTo(expected.d_rm, 4);
  });

  it("does not repeat simple-statistics' tTest bug (population SD)", () => {
    const { inputs, expected } = vectors;
    const deltas = inputs.t1.map((x, i) => (inputs.t2[i] ?? Number.NaN) - x);
    expect(tTest(deltas, 0)).toBeCloseTo(expected.simple_statistics_tTest_would_say, 4);
    expect(pairedChange(inputs.t1, inputs.t2).t).toBeCloseTo(expected.t, 4);
    // The two differ by exactly sqrt(n / (n - 1)).
    expect(expected.simple_statistics_tTest_would_say / expected.t).toBeCloseTo(Math.sqrt(8 / 7), 4);
  });

  it('returns null for statistics a zero SD leaves undefined', () => {
    const result = pairedChange([3, 3, 3], [3.5, 3.5, 3.5]);
    expect(result).toMatchObject({
      meanDelta: 0.5,
      sdDelta: 0,
      t: null,
      pTwoSided: null,
      dZ: null,
      gZ: null,
      r12: null,
      dRm: null,
    });
    expect(result.dAv).toBeNull();
    expect(result.ci95).toEqual([0.5, 0.5]);
  });

  it('rejects unpaired or too short input', () => {
    expect(() => pairedChange([1, 2], [1])).toThrow(RangeError);
    expect(() => pairedChange([1], [2])).toThrow(RangeError);
    expect(() => pairedChange([1, Number.NaN], [2, 3])).toThrow(RangeError);
  });
});

describe('wilson', () => {
  it('matches vectors.json wilson95 for 4 of 8', () => {
    const [lo, hi] = wilson(4, 8);
    expect(lo).toBeCloseTo(vectors.expected.wilson95[0], 4);
    expect(hi).toBeCloseTo(vectors.expected.wilson95[1], 4);
  });

  it('stays within [0, 1] at the extremes and narrows with n', () => {
    expect(wilson(0, 10)[0]).toBe(0);
    expect(wilson(10, 10)[1]).toBeCloseTo(1, 12);
    expect(wilson(0, 10)[1]).toBeCloseTo(0.277533, 5);
    const wide = wilson(5, 10);
    const narrow = wilson(50, 100);
    expect(narrow[1] - narrow[0]).toBeLessThan(wide[1] - wide[0]);
  });

  it('rejects impossible counts', () => {
    expect(() => wilson(1, 0)).toThrow(RangeError);
    expect(() => wilson(5, 4)).toThrow(RangeError);
    expect(() => wilson(1.5, 4)).toThrow(RangeError);
  });
});

// A leader whose five peers give the "vision" competency (4 items) exactly the target mean: 20 ratings summing
// to 20 x, spread as evenly as possible. Other competencies get 3s.
function peersScoring(leader: number, cycle: number, target: number): ScoringResponse[] {
  const total = Math.round(target * 20);
  const ratings = Array.from({ length: 20 }, (_, i) => Math.floor(total / 20) + (i < total % 20 ? 1 : 0));
  return Array.from({ length: 5 }, (_, p) => {
    const record: Record<string, number> = {};
    FIXTURE_ITEMS.forEach((itemId, j) => {
      record[itemId] = j < 4 ? (ratings[p * 4 + j] ?? 3) : 3;
    });
    return { id: `L${leader}-c${cycle}-p${p}`, relationship: 'peer', ratings: record, comments: {} };
  });
}

const profile = (responses: ScoringResponse[]) =>
  buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules: DEFAULT_ANONYMITY, seed: 's' });

const cohortLeaders: CohortLeader[] = vectors.inputs.t1.map((x1, i) => ({
  baseline: profile(peersScoring(i, 1, x1)),
  followUp: profile(peersScoring(i, 2, vectors.inputs.t2[i] ?? Number.NaN)),
}));

const shownCompetency = (report: ReturnType<typeof buildCohort>, id: string): CohortCompetency => {
  if (report.suppressed) throw new Error('slice suppressed');
  const found = report.competencies.find((c) => c.id === id);
  if (!found || found.suppressed) throw new Error(`${id} suppressed`);
  return found;
};

describe('buildCohort', () => {
  const report = buildCohort({
    leaders: cohortLeaders,
    cohortLeaderCount: 8,
    rxxByCompetency: { vision: 0.85 },
  });

  it('computes the vectors.json cohort from the leaders’ fixed-weight all-others scores', () => {
    const vision = shownCompetency(report, 'vision');
    expect(vision.paired.meanDelta).toBeCloseTo(vectors.expected.mean_delta, 4);
    expect(vision.paired.t).toBeCloseTo(vectors.expected.t, 4);
    expect(vision.paired.dAv).toBeCloseTo(vectors.expected.d_av, 4);
    expect(vision.sd1).toBeCloseTo(vectors.expected.s1, 4);
    expect(vision.reliableImprovement?.share).toBeCloseTo(vectors.expected.reliable_improvement_share, 4);
    expect(vision.reliableImprovement?.wilson95[0]).toBeCloseTo(vectors.expected.wilson95[0], 4);
    expect(vision.reliableDeterioration?.share).toBe(0);
    expect(vision.warnings).toEqual(['large_effect']);
  });

  it('gives no reliable-change shares without a reliability, and no warning for small effects', () => {
    const coaching = shownCompetency(report, 'coaching');
    expect(coaching.reliableImprovement).toBeNull();
    expect(coaching.paired.meanDelta).toBe(0);
    expect(coaching.warnings).toEqual([]);
  });

  it('sums participation per group over the slice', () => {
    if (report.suppressed) throw new Error('slice suppressed');
    expect(report.leaders).toBe(8);
    expect(report.participation.peer).toEqual({ baseline: 40, followUp: 40 });
    expect(report.participation.manager).toEqual({ baseline: 0, followUp: 0 });
  });

  it('uses a configured SD1 norm', () => {
    const normed = buildCohort({
      leaders: cohortLeaders,
      cohortLeaderCount: 8,
      rxxByCompetency: { vision: 0.85 },
      sd1ByCompetency: { vision: 0.5 },
    });
    expect(shownCompetency(normed, 'vision').sd1).toBe(0.5);
    // Sdiff = .273861: only deltas above .5368 are reliable, which is the sixth leader's .55 alone.
    expect(shownCompetency(normed, 'vision').reliableImprovement?.share).toBe(0.125);
  });

  it('suppresses a slice under k or with a complement under k', () => {
    expect(
      buildCohort({ leaders: cohortLeaders.slice(0, 3), cohortLeaderCount: 3, rxxByCompetency: {} }),
    ).toEqual({
      suppressed: true,
      reason: 'fewer_than_k',
      k: 4,
    });
    expect(
      buildCohort({ leaders: cohortLeaders.slice(0, 5), cohortLeaderCount: 8, rxxByCompetency: {} }),
    ).toEqual({
      suppressed: true,
      reason: 'complement_fewer_than_k',
      k: 4,
    });
    expect(
      buildCohort({ leaders: cohortLeaders.slice(0, 4), cohortLeaderCount: 8, rxxByCompetency: {} })
        .suppressed,
    ).toBe(false);
    expect(() => buildCohort({ leaders: cohortLeaders, cohortLeaderCount: 7, rxxByCompetency: {} })).toThrow(
      RangeError,
    );
  });

  it('suppresses a competency with fewer than k leaders scored in both cycles', () => {
    const leaders = cohortLeaders.map((l, i) => (i < 5 ? { ...l, followUp: null } : l));
    const result = buildCohort({ leaders, cohortLeaderCount: 8, rxxByCompetency: {} });
    if (result.suppressed) throw new Error('slice suppressed');
    expect(result.competencies[0]).toEqual({ id: 'vision', suppressed: true, reason: 'fewer_than_k', k: 4 });
    expect(result.participation.peer).toEqual({ baseline: 40, followUp: 15 });
  });

  it('never lets minLeaders go under k.all_others', () => {
    expect(() =>
      buildCohort({ leaders: cohortLeaders, cohortLeaderCount: 8, rxxByCompetency: {}, minLeaders: 3 }),
    ).toThrow(RangeError);
    const strict = buildCohort({
      leaders: cohortLeaders,
      cohortLeaderCount: 8,
      rxxByCompetency: {},
      minLeaders: 9,
    });
    expect(strict).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 9 });
  });
});
