import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeReport, CohortReport, GroupResult, Profile } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { seedReports } from '../support/report-pages-seed.ts';

/**
 * The demo programme's stored profiles, changes and cohort statistics against a recomputation that shares
 * no code with the scoring library: rater competency scores and group means straight from SQL, change and
 * cohort statistics with plain arithmetic in this file (group and item means, SDs and N/A counts, the k
 * floors, RCI and verdicts, Welch z, p by numeric integration, d_av / g_av, Wilson shares, Cronbach's alpha).
 */
let t: TestDatabase;
let programmeId: string;
beforeAll(async () => {
  t = await createTestDatabase();
  ({ programmeId } = await seedReports(t.db));
}, 180_000);
afterAll(async () => {
  await t.drop();
});

interface RaterScore {
  subject_id: string;
  relationship: string;
  competency_id: string;
  response_id: string;
  score: number;
}

/** METHODS §1 in SQL: a rater's competency score is the mean of answered items, if at least half were answered. */
async function raterScores(): Promise<RaterScore[]> {
  const rows = await sql<RaterScore>`
    with items as (
      select competency_id, count(distinct item_id) as n_items from response_ratings group by competency_id
    )
    select r.subject_id, r.relationship, rr.competency_id, r.id as response_id, avg(rr.value)::float8 as score
    from responses r
    join response_ratings rr on rr.response_id = r.id
    join items i on i.competency_id = rr.competency_id
    group by r.subject_id, r.relationship, rr.competency_id, r.id, i.n_items
    having count(rr.value) * 2 >= i.n_items`.execute(t.db);
  return rows.rows;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleSd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};
const GROUPS = ['self', 'manager', 'peer', 'direct_report', 'other'] as const;
/** k per anonymous group and for all-others in the demo (the flagship instrument's). */
const K = { peer: 3, direct_report: 3, other: 3, all_others: 4 } as const;
const Z = 1.959964;

interface RawRating {
  subject_id: string;
  cycle_id: string;
  relationship: string;
  response_id: string;
  competency_id: string;
  item_id: string;
  value: number | null;
}

async function rawRatings(): Promise<RawRating[]> {
  const rows = await sql<RawRating>`
    select r.subject_id, r.cycle_id, r.relationship, r.id as response_id, rr.competency_id, rr.item_id, rr.value
    from responses r join response_ratings rr on rr.response_id = r.id`.execute(t.db);
  return rows.rows;
}

/** Latest stored profile per subject. */
async function latestProfiles(): Promise<Map<string, Profile>> {
  const rows = await sql<{ subject_id: string; data: Profile }>`
    select distinct on (subject_id) subject_id, data from profile_snapshots order by subject_id, version desc`.execute(
    t.db,
  );
  return new Map(rows.rows.map((r) => [r.subject_id, r.data]));
}

/**
 * Two-sided p of Student's t by Simpson integration of the unnormalised density (1 + x^2/df)^-(df+1)/2,
 * normalised by its own integral: no gamma function, no incomplete beta, nothing shared with the scoring code.
 */
function studentP(t: number, df: number): number {
  const f = (x: number) => (1 + (x * x) / df) ** (-(df + 1) / 2);
  const simpson = (a: number, b: number, steps: number) => {
    const h = (b - a) / steps;
    let total = f(a) + f(b);
    for (let i = 1; i < steps; i++) total += f(a + i * h) * (i % 2 ? 4 : 2);
    return (total * h) / 3;
  };
  const upper = 400;
  const whole = simpson(0, upper, 400_000);
  return 1 - simpson(0, Math.abs(t), 20_000) / whole;
}

/** Cronbach's alpha of one competency over a cycle's responses, listwise, n-1 variances, by hand. */
function alphaOf(ratings: RawRating[], cycleId: string, competencyId: string, items: string[]) {
  const byResponse = new Map<string, Map<string, number | null>>();
  for (const r of ratings) {
    if (r.cycle_id !== cycleId || r.competency_id !== competencyId) continue;
    const row = byResponse.get(r.response_id) ?? new Map<string, number | null>();
    row.set(r.item_id, r.value);
    byResponse.set(r.response_id, row);
  }
  const rows = [...byResponse.values()]
    .filter((row) => items.every((i) => row.get(i) !== undefined && row.get(i) !== null))
    .map((row) => items.map((i) => row.get(i)!));
  const variance = (xs: number[]) => sampleSd(xs) ** 2;
  const itemVar = items.reduce((a, _, j) => a + variance(rows.map((r) => r[j]!)), 0);
  const totalVar = variance(rows.map((r) => r.reduce((a, b) => a + b, 0)));
  const j = items.length;
  return { alpha: (j / (j - 1)) * (1 - itemVar / totalVar), rows: rows.length };
}
const shown = (g: GroupResult | undefined) => (g && !g.suppressed ? g : null);

describe('the demo programme matches an independent recomputation', () => {
  it('profiles: every shown group mean, n, SD and N/A count, and every all-others composite', async () => {
    const scores = await raterScores();
    const responses = (
      await sql<{ subject_id: string; relationship: string }>`
        select subject_id, relationship from responses`.execute(t.db)
    ).rows;
    const snapshots = await sql<{ subject_id: string; data: Profile }>`
      select distinct on (subject_id) subject_id, data from profile_snapshots order by subject_id, version desc`.execute(
      t.db,
    );
    expect(snapshots.rows).toHaveLength(24);
    let compared = 0;
    for (const { subject_id, data } of snapshots.rows) {
      for (const competency of data.competencies) {
        const of = (relationships: string[]) =>
          scores
            .filter(
              (s) =>
                s.subject_id === subject_id &&
                s.competency_id === competency.id &&
                relationships.includes(s.relationship),
            )
            .map((s) => s.score);
        for (const group of ['self', 'manager', 'peer', 'direct_report', 'other'] as const) {
          const published = shown(competency.groups[group]);
          if (!published) continue;
          const members = group === 'other' ? ['other', ...(published.merged ?? [])] : [group];
          const values = of(members);
          expect(published.n).toBe(values.length);
          expect(published.mean).toBeCloseTo(mean(values), 10);
          if (values.length >= 2) expect(published.sd!).toBeCloseTo(sampleSd(values), 10);
          else expect(published.sd).toBeNull();
          // Competencies: raters of the group without a competency score (under half the items answered).
          const respondents = responses.filter(
            (r) => r.subject_id === subject_id && members.includes(r.relationship),
          ).length;
          expect(published.naCount).toBe(respondents - values.length);
          compared++;
        }
        const allOthers = shown(competency.groups.all_others);
        if (allOthers) {
          const values = of(allOthers.groups ?? []);
          expect(allOthers.n).toBe(values.length);
          expect(allOthers.mean).toBeCloseTo(mean(values), 10);
          // The composite holds no rater of a group that is not shown (the Glint rule).
          for (const g of allOthers.groups ?? []) {
            const direct = shown(competency.groups[g]);
            const pooled = shown(competency.groups.other)?.merged?.includes(g as never);
            expect(direct !== null || pooled === true || g === 'other').toBe(true);
          }
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(500);
  });

  it('changes: the fixed-weight all-others delta of every leader and competency', async () => {
    const changes = await sql<{
      subject_id: string;
      baseline_subject_id: string;
      data: { report: ChangeReport };
    }>`
      select distinct on (subject_id) subject_id, baseline_subject_id, data from change_results order by subject_id, version desc`.execute(
      t.db,
    );
    expect(changes.rows).toHaveLength(12);
    const profile = async (subjectId: string) =>
      (
        await sql<{
          data: Profile;
        }>`select data from profile_snapshots where subject_id = ${subjectId} order by version desc limit 1`.execute(
          t.db,
        )
      ).rows[0]!.data;
    let compared = 0;
    for (const change of changes.rows) {
      const [before, after] = [await profile(change.baseline_subject_id), await profile(change.subject_id)];
      for (const c of change.data.report.competencies) {
        if (!c.allOthers.available) continue;
        // METHODS §1: fixed weights, the plain mean of the group means over the groups in both cycles.
        const groupMean = (p: Profile, g: string) => {
          const result = p.competencies.find((x) => x.id === c.id)!.groups[g as 'peer'];
          return shown(result)!.mean;
        };
        const x1 = mean(c.allOthers.groups.map((g) => groupMean(before, g)));
        const x2 = mean(c.allOthers.groups.map((g) => groupMean(after, g)));
        expect(c.allOthers.baseline).toBeCloseTo(x1, 10);
        expect(c.allOthers.followUp).toBeCloseTo(x2, 10);
        expect(c.allOthers.delta).toBeCloseTo(x2 - x1, 10);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('cohort: mean delta, paired t and its interval per competency', async () => {
    const cohort = (
      await sql<{ data: { report: CohortReport } }>`
        select data from cohort_results where programme_id = ${programmeId} order by version desc limit 1`.execute(
        t.db,
      )
    ).rows[0]!.data.report;
    expect(cohort.suppressed).toBe(false);
    if (cohort.suppressed) return;
    const changes = await sql<{ data: { report: ChangeReport } }>`
      select distinct on (subject_id) data from change_results order by subject_id, version desc`.execute(
      t.db,
    );
    let compared = 0;
    for (const c of cohort.competencies) {
      if (c.suppressed) continue;
      const deltas = changes.rows
        .map((r) => r.data.report.competencies.find((x) => x.id === c.id)!.allOthers)
        .filter((a) => a.available)
        .map((a) => (a as { delta: number }).delta);
      const n = deltas.length;
      const m = mean(deltas);
      const sd = Math.sqrt(deltas.reduce((s, d) => s + (d - m) ** 2, 0) / (n - 1));
      expect(c.paired.n).toBe(n);
      expect(c.paired.meanDelta).toBeCloseTo(m, 10);
      expect(c.paired.sdDelta).toBeCloseTo(sd, 10);
      expect(c.paired.t!).toBeCloseTo(m / (sd / Math.sqrt(n)), 8);
      expect(c.paired.ci95[0]).toBeCloseTo(m - c.paired.tCrit * (sd / Math.sqrt(n)), 8);
      expect(c.paired.ci95[1]).toBeCloseTo(m + c.paired.tCrit * (sd / Math.sqrt(n)), 8);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(8);
  });
  it('profiles: item means, SDs, N/A counts and flags, and no shown group under k', async () => {
    const ratings = await rawRatings();
    const respondents = (
      await sql<{ subject_id: string; relationship: string; n: number }>`
        select subject_id, relationship, count(*)::int as n from responses group by 1, 2`.execute(t.db)
    ).rows;
    const respondentsOf = (subjectId: string, members: string[]) =>
      respondents
        .filter((r) => r.subject_id === subjectId && members.includes(r.relationship))
        .reduce((a, r) => a + r.n, 0);
    let compared = 0;
    for (const [subjectId, profile] of await latestProfiles()) {
      const mine = ratings.filter((r) => r.subject_id === subjectId);
      for (const competency of profile.competencies) {
        for (const item of competency.items) {
          const answers = (members: string[]) =>
            mine.filter((r) => r.item_id === item.id && members.includes(r.relationship));
          for (const group of GROUPS) {
            const published = shown(item.groups[group]);
            const members = group === 'other' && published ? ['other', ...(published.merged ?? [])] : [group];
            const all = answers(members);
            const values = all.flatMap((r) => (r.value === null ? [] : [r.value]));
            // A group under k after N/A is never shown (METHODS §2); a shown one passes k.
            if (!published) continue;
            if (group !== 'self' && group !== 'manager')
              expect(values.length).toBeGreaterThanOrEqual(K[group]);
            expect(published.n).toBe(values.length);
            expect(published.mean).toBeCloseTo(mean(values), 10);
            if (values.length >= 2) expect(published.sd!).toBeCloseTo(sampleSd(values), 10);
            const na = all.filter((r) => r.value === null).length;
            expect(published.naCount).toBe(na);
            const share = na / respondentsOf(subjectId, members);
            expect(published.naShare).toBeCloseTo(share, 10);
            expect(published.naFlag).toBe(share > 0.25);
            compared++;
          }
          const allOthers = shown(item.groups.all_others);
          if (allOthers) {
            expect(allOthers.n).toBeGreaterThanOrEqual(K.all_others);
            const values = answers(allOthers.groups ?? []).flatMap((r) =>
              r.value === null ? [] : [r.value],
            );
            expect(allOthers.n).toBe(values.length);
            expect(allOthers.mean).toBeCloseTo(mean(values), 10);
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it("changes: RCI, verdicts and Welch z from SD1, Cronbach's alpha and the published spreads", async () => {
    const ratings = await rawRatings();
    const profiles = await latestProfiles();
    const changes = await sql<{
      subject_id: string;
      baseline_subject_id: string;
      data: { report: ChangeReport; sd1ByCompetency: Record<string, number> };
    }>`
      select distinct on (subject_id) subject_id, baseline_subject_id, data from change_results order by subject_id, version desc`.execute(
      t.db,
    );
    const cycles = await sql<{ id: string; kind: string; subject_id: string }>`
      select c.id, c.kind, s.id as subject_id from subjects s join cycles c on c.id = s.cycle_id`.execute(
      t.db,
    );
    const baselineCycle = cycles.rows.find((c) => c.kind === 'baseline')!.id;
    const baselineSubjects = cycles.rows.filter((c) => c.kind === 'baseline').map((c) => c.subject_id);
    const itemsOf = new Map<string, string[]>();
    for (const r of ratings) {
      const list = itemsOf.get(r.competency_id) ?? [];
      if (!list.includes(r.item_id)) list.push(r.item_id);
      itemsOf.set(r.competency_id, list);
    }
    let compared = 0;
    for (const change of changes.rows) {
      for (const c of change.data.report.competencies) {
        if (!c.allOthers.available) continue;
        // SD1: between-leader SD of the shown all-others baseline score; rxx: alpha of the baseline cycle.
        const baselineScores = baselineSubjects.flatMap((id) => {
          const g = shown(profiles.get(id)?.competencies.find((x) => x.id === c.id)?.groups.all_others);
          return g ? [g.mean] : [];
        });
        const sd1 = sampleSd(baselineScores);
        expect(change.data.sd1ByCompetency[c.id]).toBeCloseTo(sd1, 10);
        const { alpha } = alphaOf(ratings, baselineCycle, c.id, itemsOf.get(c.id)!);
        const rc = c.allOthers.reliableChange!;
        const sdiff = Math.SQRT2 * sd1 * Math.sqrt(1 - alpha);
        expect(rc.sdiff).toBeCloseTo(sdiff, 8);
        expect(rc.rci).toBeCloseTo(c.allOthers.delta / sdiff, 6);
        expect(rc.verdict).toBe(
          rc.rci > 1.96 ? 'improved' : rc.rci < -1.96 ? 'deteriorated' : 'no_reliable_change',
        );
        // Welch z of all-others: the published rater-weighted all-others SD and n of each cycle.
        const before = shown(
          profiles.get(change.baseline_subject_id)!.competencies.find((x) => x.id === c.id)!.groups
            .all_others,
        )!;
        const after = shown(
          profiles.get(change.subject_id)!.competencies.find((x) => x.id === c.id)!.groups.all_others,
        )!;
        const se = Math.sqrt(before.sd! ** 2 / before.n + after.sd! ** 2 / after.n);
        expect(c.allOthers.welchZ!).toBeCloseTo(c.allOthers.delta / se, 8);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(60);
  });

  it("cohort: p, d_av, g_av, Wilson shares of reliable change and each cycle's alpha", async () => {
    const ratings = await rawRatings();
    const stored = (
      await sql<{
        data: {
          report: CohortReport;
          baselineCycleId: string;
          followUpCycleId: string;
          reliability: Record<
            'baseline' | 'followUp',
            Record<string, { alpha: number | null; rows: number }>
          >;
        };
      }>`select data from cohort_results where programme_id = ${programmeId} order by version desc limit 1`.execute(
        t.db,
      )
    ).rows[0]!.data;
    const cohort = stored.report;
    if (cohort.suppressed) throw new Error('the demo cohort should be shown');
    const changes = await sql<{ data: { report: ChangeReport } }>`
      select distinct on (subject_id) data from change_results order by subject_id, version desc`.execute(
      t.db,
    );
    let compared = 0;
    for (const c of cohort.competencies) {
      if (c.suppressed) continue;
      const pairs = changes.rows
        .map((r) => r.data.report.competencies.find((x) => x.id === c.id)!.allOthers)
        .flatMap((a) => (a.available ? [a] : []));
      const n = pairs.length;
      const df = n - 1;
      expect(df).toBeGreaterThanOrEqual(5);
      const deltas = pairs.map((p) => p.delta);
      const m = mean(deltas);
      const t = m / (sampleSd(deltas) / Math.sqrt(n));
      expect(c.paired.pTwoSided!).toBeCloseTo(studentP(t, df), 6);
      const s1 = sampleSd(pairs.map((p) => p.baseline));
      const s2 = sampleSd(pairs.map((p) => p.followUp));
      const dAv = m / ((s1 + s2) / 2);
      expect(c.paired.dAv!).toBeCloseTo(dAv, 10);
      expect(c.paired.gAv!).toBeCloseTo(dAv * (1 - 3 / (4 * df - 1)), 10);
      const wilson = (k: number) => {
        const p = k / n;
        const centre = p + (Z * Z) / (2 * n);
        const half = Z * Math.sqrt((p * (1 - p)) / n + (Z * Z) / (4 * n * n));
        const denominator = 1 + (Z * Z) / n;
        return [Math.max(0, (centre - half) / denominator), Math.min(1, (centre + half) / denominator)];
      };
      for (const [share, verdict] of [
        [c.reliableImprovement, 'improved'],
        [c.reliableDeterioration, 'deteriorated'],
      ] as const) {
        const k = pairs.filter((p) => p.reliableChange?.verdict === verdict).length;
        expect(share!.share).toBeCloseTo(k / n, 12);
        expect(share!.wilson95[0]).toBeCloseTo(wilson(k)[0]!, 10);
        expect(share!.wilson95[1]).toBeCloseTo(wilson(k)[1]!, 10);
      }
      for (const [key, cycleId] of [
        ['baseline', stored.baselineCycleId],
        ['followUp', stored.followUpCycleId],
      ] as const) {
        const items = [...new Set(ratings.filter((r) => r.competency_id === c.id).map((r) => r.item_id))];
        const expected = alphaOf(ratings, cycleId, c.id, items);
        expect(stored.reliability[key][c.id]!.rows).toBe(expected.rows);
        expect(stored.reliability[key][c.id]!.alpha!).toBeCloseTo(expected.alpha, 10);
      }
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(8);
  });
});
