import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeReport, CohortReport, GroupResult, Profile } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { seedReports } from '../support/report-pages-seed.ts';

/**
 * The demo programme's stored profiles, changes and cohort statistics against a recomputation that shares
 * no code with the scoring library: rater competency scores and group means straight from SQL, change and
 * cohort statistics with plain arithmetic in this file.
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
const shown = (g: GroupResult | undefined) => (g && !g.suppressed ? g : null);

describe('the demo programme matches an independent recomputation', () => {
  it('profiles: every shown group mean and n, and every all-others composite', async () => {
    const scores = await raterScores();
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
});
