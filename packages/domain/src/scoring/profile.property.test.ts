import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { findDifferencingViolations, type PublishedRaterSet } from './anonymity.ts';
import { answeredRating, raterCompetencyScore } from './competency-scores.ts';
import { buildProfile, type Profile } from './profile.ts';
import { FIXTURE_INSTRUMENT, FIXTURE_ITEMS } from './test-fixtures.ts';
import {
  ANONYMOUS_GROUPS,
  GROUP_KEYS,
  type AnonymityRules,
  type GroupResults,
  type Relationship,
  type ScoringResponse,
} from './types.ts';

// Random surveys: group sizes 0..8 for anonymous groups (0..1 self, 0..3 managers), ratings with N/A and
// blanks mixed in, and random survey rules at or above the floors.

const ratingArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const responsesArb = (relationship: Relationship, maxCount: number, rating = ratingArb) =>
  fc
    .array(
      fc.record({
        ratings: fc.array(rating, { minLength: FIXTURE_ITEMS.length, maxLength: FIXTURE_ITEMS.length }),
        comment: fc.option(fc.constantFrom('Listens.', 'Decides fast.', 'Clear goals.', 'Too busy.'), {
          nil: undefined,
        }),
      }),
      { maxLength: maxCount },
    )
    .map((drafts) =>
      drafts.map((draft, i): ScoringResponse => {
        const ratings: Record<string, number | null> = {};
        FIXTURE_ITEMS.forEach((itemId, j) => {
          const value = draft.ratings[j];
          if (value !== undefined) ratings[itemId] = value;
        });
        return {
          id: `${relationship}-${i}`,
          relationship,
          ratings,
          comments: draft.comment ? { strengths: draft.comment } : {},
        };
      }),
    );

const surveyArb = fc
  .tuple(
    responsesArb('self', 1),
    responsesArb('manager', 3),
    responsesArb('peer', 8),
    responsesArb('direct_report', 8),
    responsesArb('other', 8),
  )
  .map((groups) => groups.flat());

const rulesArb: fc.Arbitrary<AnonymityRules> = fc.record({
  k: fc.record({
    peer: fc.integer({ min: 3, max: 5 }),
    direct_report: fc.integer({ min: 3, max: 5 }),
    other: fc.integer({ min: 3, max: 5 }),
    all_others: fc.integer({ min: 4, max: 6 }),
  }),
  distributionMinN: fc.integer({ min: 4, max: 6 }),
});

const RUNS = { numRuns: 200 };
// The property runs take a few seconds each; more under a loaded machine.
const PROPERTY_TIMEOUT = 60_000;

// For the cross-level check: more N/A (so that partial answerers are common), up to 6 per anonymous group.
const partialRatingArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const partialSurveyArb = fc
  .tuple(
    responsesArb('self', 1, partialRatingArb),
    responsesArb('manager', 2, partialRatingArb),
    responsesArb('peer', 6, partialRatingArb),
    responsesArb('direct_report', 6, partialRatingArb),
    responsesArb('other', 6, partialRatingArb),
  )
  .map((groups) => groups.flat());

interface Measure {
  label: string;
  results: GroupResults;
  value: (response: ScoringResponse) => number | null;
}

function measuresOf(profile: Profile): Measure[] {
  return profile.competencies.flatMap((competency, c) => {
    const itemIds = FIXTURE_INSTRUMENT.competencies[c]!.items.map((item) => item.id);
    return [
      {
        label: competency.id,
        results: competency.groups,
        value: (r: ScoringResponse) => raterCompetencyScore(r.ratings, itemIds),
      },
      ...competency.items.map((item) => ({
        label: item.id,
        results: item.groups,
        value: (r: ScoringResponse) => answeredRating(r.ratings, item.id),
      })),
    ];
  });
}

/** The raters behind each published aggregate, rebuilt from what the profile says about itself. */
function reconstruct(measure: Measure, responses: readonly ScoringResponse[]) {
  const sets: { label: string; raters: ScoringResponse[]; values: number[]; spread: boolean }[] = [];
  for (const group of GROUP_KEYS) {
    const result = measure.results[group];
    if (result.suppressed) continue;
    let relationships: Relationship[] = [group as Relationship];
    if (group === 'other') relationships = ['other', ...(result.merged ?? [])];
    if (group === 'all_others') relationships = result.groups ?? [];
    const raters = responses.filter(
      (r) => relationships.includes(r.relationship) && measure.value(r) !== null,
    );
    sets.push({
      label: group,
      raters,
      values: raters.map((r) => measure.value(r) ?? Number.NaN),
      spread: result.min !== undefined,
    });
  }
  return sets;
}

const isAnon = (r: ScoringResponse) => (ANONYMOUS_GROUPS as readonly Relationship[]).includes(r.relationship);

// Independent oracle: raters contained in exactly the same published sets form a cell; any linear
// combination of published sums is constant on cells, so a cell is the smallest thing that can be isolated.
function cellProblems(
  sets: { raters: ScoringResponse[] }[],
  rules: AnonymityRules,
  minimum: number,
): string[] {
  const cells = new Map<string, ScoringResponse[]>();
  const anonymous = new Set(sets.flatMap((s) => s.raters.filter(isAnon)));
  for (const rater of anonymous) {
    const signature = sets.map((s) => (s.raters.includes(rater) ? '1' : '0')).join('');
    cells.set(signature, [...(cells.get(signature) ?? []), rater]);
  }
  const problems: string[] = [];
  for (const [signature, raters] of cells) {
    const groups = [...new Set(raters.map((r) => r.relationship as keyof AnonymityRules['k']))];
    const needed =
      groups.length === 1
        ? Math.max(rules.k[groups[0]!], minimum)
        : Math.max(rules.k.other, minimum, ...groups.map((g) => rules.k[g]));
    if (raters.length < needed)
      problems.push(`${signature}: ${raters.length} ${groups.join('+')} < ${needed}`);
  }
  return problems;
}

// Independent oracle by linear algebra: is rater r's value a linear combination of the published sums and
// the individually known (self, manager) values?
function inRowSpace(rows: number[][], vector: number[]): boolean {
  const basis: { pivot: number; row: number[] }[] = [];
  const reduce = (v: number[]) => {
    const out = [...v];
    for (const { pivot, row } of basis) {
      const factor = out[pivot]!;
      if (factor !== 0) for (let j = 0; j < out.length; j += 1) out[j] = out[j]! - factor * row[j]!;
    }
    return out;
  };
  for (const candidate of rows) {
    const reduced = reduce(candidate);
    const pivot = reduced.findIndex((x) => Math.abs(x) > 1e-9);
    if (pivot < 0) continue;
    const scale = reduced[pivot]!;
    const row = reduced.map((x) => x / scale);
    for (const b of basis) {
      const factor = b.row[pivot]!;
      if (factor !== 0) b.row = b.row.map((x, j) => x - factor * row[j]!);
    }
    basis.push({ pivot, row });
  }
  return reduce(vector).every((x) => Math.abs(x) < 1e-9);
}

// Independent oracle across the levels of one competency. Unknowns: every anonymous rater's rating of every
// item of the competency they answered (self and manager are known, so their columns are dropped). Each
// published set gives one equation: an item's n x mean is the sum of its raters' ratings; the competency's
// n x mean is the sum of its raters' scores, each (1/m) x their m ratings (scaled to integers). A linear
// combination of the published numbers can isolate a set of raters U exactly when some nonzero vector of
// the row space is zero outside U's columns. Raters whose columns are identical in every equation
// ("classes") can only be isolated together, so supports are unions of classes; every support is the union
// of minimal ones, and a union of safe sets is safe, so it suffices that every minimal support is safe.
// Sets of at least max(k) raters are always safe, so only unions of classes below that are enumerated.
function isSafeRaterSet(raters: readonly ScoringResponse[], rules: AnonymityRules): boolean {
  const counts = new Map<keyof AnonymityRules['k'], number>();
  for (const r of raters.filter(isAnon)) {
    const g = r.relationship as keyof AnonymityRules['k'];
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  if (counts.size === 0) return true;
  if ([...counts].every(([g, n]) => n >= rules.k[g])) return true;
  if (counts.size < 2) return false;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return total >= Math.max(rules.k.other, ...[...counts.keys()].map((g) => rules.k[g]));
}

/** Basis of the null space of `rows` (float RREF with partial pivoting), one row per column of `rows`. */
function nullSpaceRows(rows: number[][], columns: number): number[][] {
  const m = rows.map((row) => [...row]);
  const pivots: number[] = [];
  let rank = 0;
  for (let col = 0; col < columns && rank < m.length; col += 1) {
    let best = rank;
    for (let i = rank + 1; i < m.length; i += 1)
      if (Math.abs(m[i]![col]!) > Math.abs(m[best]![col]!)) best = i;
    if (Math.abs(m[best]![col]!) < 1e-9) continue;
    [m[rank], m[best]] = [m[best]!, m[rank]!];
    const pivotRow = m[rank]!;
    const p = pivotRow[col]!;
    for (let j = 0; j < columns; j += 1) pivotRow[j] = pivotRow[j]! / p;
    for (let i = 0; i < m.length; i += 1) {
      if (i === rank) continue;
      const f = m[i]![col]!;
      if (f !== 0) for (let j = 0; j < columns; j += 1) m[i]![j] = m[i]![j]! - f * pivotRow[j]!;
    }
    pivots.push(col);
    rank += 1;
  }
  const free = [...Array(columns).keys()].filter((c) => !pivots.includes(c));
  const out: number[][] = [...Array(columns)].map(() => free.map(() => 0));
  free.forEach((f, t) => {
    out[f]![t] = 1;
  });
  pivots.forEach((p, i) => {
    free.forEach((f, t) => {
      out[p]![t] = -m[i]![f]!;
    });
  });
  return out;
}

/** Adds vectors to an orthonormal basis; false when one of them depends on the others. */
function extendBasis(basis: number[][], vectors: number[][]): number[][] | null {
  const next = [...basis];
  for (const vector of vectors) {
    const norm0 = Math.hypot(...vector);
    let v = [...vector];
    for (let pass = 0; pass < 2; pass += 1) {
      for (const b of next) {
        const dot = b.reduce((acc, x, i) => acc + x * v[i]!, 0);
        v = v.map((x, i) => x - dot * b[i]!);
      }
    }
    const norm = Math.hypot(...v);
    if (norm0 < 1e-9 || norm < 1e-7 * norm0) return null;
    next.push(v.map((x) => x / norm));
  }
  return next;
}

function crossLevelProblems(
  profile: Profile,
  responses: readonly ScoringResponse[],
  rules: AnonymityRules,
): string[] {
  const problems: string[] = [];
  profile.competencies.forEach((competency, c) => {
    const itemIds = FIXTURE_INSTRUMENT.competencies[c]!.items.map((item) => item.id);
    const scale = [...Array(itemIds.length).keys()].reduce((a, b) => a * (b + 1), 1); // J!, divisible by every m
    const measures = measuresOf(profile).filter(
      (m) => m.label === competency.id || itemIds.includes(m.label),
    );
    // One equation per published set: rater -> coefficient per item of the competency.
    const equations: Map<ScoringResponse, number[]>[] = [];
    for (const measure of measures) {
      const j = itemIds.indexOf(measure.label);
      for (const set of reconstruct(measure, responses)) {
        const equation = new Map<ScoringResponse, number[]>();
        for (const rater of set.raters.filter(isAnon)) {
          const answered = itemIds.map((id) => answeredRating(rater.ratings, id) !== null);
          const m = answered.filter(Boolean).length;
          equation.set(
            rater,
            itemIds.map((_, i) => (j >= 0 ? (i === j ? 1 : 0) : answered[i] ? scale / m : 0)),
          );
        }
        equations.push(equation);
      }
    }
    const raters = [...new Set(equations.flatMap((e) => [...e.keys()]))];
    const signature = (r: ScoringResponse) =>
      JSON.stringify(equations.map((e) => e.get(r) ?? itemIds.map(() => 0)));
    const classes = new Map<string, ScoringResponse[]>();
    for (const r of raters) classes.set(signature(r), [...(classes.get(signature(r)) ?? []), r]);
    const classList = [...classes.values()];
    // Columns: (class, item) where the class has a nonzero coefficient somewhere.
    const columns: { cls: number; item: number }[] = [];
    classList.forEach((members, cls) => {
      itemIds.forEach((_, item) => {
        if (equations.some((e) => (e.get(members[0]!)?.[item] ?? 0) !== 0)) columns.push({ cls, item });
      });
    });
    if (columns.length === 0) return;
    const matrix = equations.map((e) =>
      columns.map(({ cls, item }) => e.get(classList[cls]![0]!)?.[item] ?? 0),
    );
    const kernel = nullSpaceRows(matrix, columns.length);
    const vectorsOf = (cls: number) => columns.flatMap((col, i) => (col.cls === cls ? [kernel[i]!] : []));
    const leaks = (set: number[]) => extendBasis([], set.flatMap(vectorsOf)) === null;
    const limit = Math.max(rules.k.peer, rules.k.direct_report, rules.k.other) - 1;

    const visit = (chosen: number[], basis: number[][], size: number, from: number) => {
      for (let cls = from; cls < classList.length; cls += 1) {
        const total = size + classList[cls]!.length;
        if (total > limit) continue;
        const set = [...chosen, cls];
        const extended = extendBasis(basis, vectorsOf(cls));
        if (extended) {
          visit(set, extended, total, cls + 1);
          continue;
        }
        // The published numbers isolate these classes; report it if it is a minimal support and unsafe.
        const minimal = set.every((_, i) => !leaks(set.filter((__, t) => t !== i)));
        const isolated = set.flatMap((i) => classList[i]!);
        if (minimal && !isSafeRaterSet(isolated, rules)) {
          problems.push(`${competency.id}: isolates ${isolated.map((r) => r.id).join(', ')}`);
        }
      }
    };
    visit([], [], 0, 0);
  });
  return problems;
}

describe('buildProfile properties', () => {
  it(
    '(a) publishes only aggregates that are what they say and cannot be differenced below k',
    () => {
      fc.assert(
        fc.property(surveyArb, rulesArb, (responses, rules) => {
          const profile = buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules, seed: 's' });
          for (const measure of measuresOf(profile)) {
            const sets = reconstruct(measure, responses);
            for (const set of sets) {
              const result = measure.results[set.label as keyof GroupResults];
              if (result.suppressed) throw new Error('unreachable');
              // The published n and mean are exactly those of the reconstructed raters.
              expect(result.n).toBe(set.raters.length);
              expect(result.mean).toBeCloseTo(set.values.reduce((a, b) => a + b, 0) / set.values.length, 9);
              if (set.label === 'all_others') expect(result.n).toBeGreaterThanOrEqual(rules.k.all_others);
              if (set.spread) expect(result.n).toBeGreaterThanOrEqual(rules.distributionMinN);
            }
            // Every pair A within B differs by 0 or at least min k anonymous raters.
            for (const a of sets) {
              for (const b of sets) {
                const aAnon = a.raters.filter(isAnon);
                const bAnon = b.raters.filter(isAnon);
                if (aAnon.every((r) => bAnon.includes(r))) {
                  const difference = bAnon.length - aAnon.length;
                  expect(difference === 0 || difference >= 3).toBe(true);
                }
              }
            }
            expect(cellProblems(sets, rules, 0)).toEqual([]);
            expect(
              cellProblems(
                sets.filter((s) => s.spread),
                rules,
                rules.distributionMinN,
              ),
            ).toEqual([]);

            const published: PublishedRaterSet[] = sets.map((s) => ({ label: s.label, raters: s.raters }));
            expect(findDifferencingViolations(published, rules)).toEqual([]);
            const spread = published.filter((_, i) => sets[i]!.spread);
            expect(findDifferencingViolations(spread, rules, { minimum: rules.distributionMinN })).toEqual(
              [],
            );

            const everyone = [...new Set(sets.flatMap((s) => s.raters))];
            const indicator = (members: ScoringResponse[]) =>
              everyone.map((r) => (members.includes(r) ? 1 : 0));
            const rows = [
              ...sets.map((s) => indicator(s.raters)),
              ...everyone.filter((r) => !isAnon(r)).map((r) => indicator([r])),
            ];
            for (const rater of everyone.filter(isAnon))
              expect(inRowSpace(rows, indicator([rater]))).toBe(false);
          }
        }),
        RUNS,
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    '(b) suppressed groups expose no numbers, and ratings outside every published set change nothing',
    () => {
      fc.assert(
        fc.property(surveyArb, rulesArb, (responses, rules) => {
          const profile = buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules, seed: 's' });
          const measures = measuresOf(profile);
          for (const measure of measures) {
            for (const group of GROUP_KEYS) {
              const result = measure.results[group];
              if (result.suppressed) {
                const isItem = !profile.competencies.some((c) => c.id === measure.label);
                // partial_answers is only for the anonymous groups (and all-others) of items.
                const reasons =
                  isItem && group !== 'self' && group !== 'manager'
                    ? ['fewer_than_k', 'partial_answers']
                    : ['fewer_than_k'];
                expect(Object.keys(result).sort()).toEqual(['k', 'reason', 'suppressed']);
                expect(reasons).toContain(result.reason);
                expect(result.k).toBe(group === 'self' || group === 'manager' ? 1 : rules.k[group]);
              }
            }
          }
          const publishedIn = new Map(
            measures.map((m) => [m.label, new Set(reconstruct(m, responses).flatMap((s) => s.raters))]),
          );
          const competencyOf = (itemId: string) =>
            FIXTURE_INSTRUMENT.competencies.find((c) => c.items.some((i) => i.id === itemId))!.id;
          const perturbed = responses.map((response) => {
            const ratings = { ...response.ratings };
            for (const itemId of FIXTURE_ITEMS) {
              const value = ratings[itemId];
              const hidden =
                !publishedIn.get(itemId)!.has(response) &&
                !publishedIn.get(competencyOf(itemId))!.has(response);
              if (typeof value === 'number' && hidden) ratings[itemId] = (value % 5) + 1;
            }
            return { ...response, ratings };
          });
          const again = buildProfile({
            instrument: FIXTURE_INSTRUMENT,
            responses: perturbed,
            rules,
            seed: 's',
          });
          expect(again).toEqual(profile);
        }),
        RUNS,
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    '(c) is deterministic for a seed, whatever the response order, and JSON-serialisable',
    () => {
      fc.assert(
        fc.property(surveyArb, rulesArb, fc.string(), fc.nat(), (responses, rules, seed, rotation) => {
          const profile = buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules, seed });
          const shift = responses.length === 0 ? 0 : rotation % responses.length;
          const reordered = [...responses.slice(shift), ...responses.slice(0, shift)].reverse();
          expect(buildProfile({ instrument: FIXTURE_INSTRUMENT, responses: reordered, rules, seed })).toEqual(
            profile,
          );
          expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
          expect(JSON.stringify(profile)).not.toMatch(/(self|manager|peer|direct_report|other)-\d/);
        }),
        RUNS,
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    '(d) no combination of the item and competency numbers of a competency isolates fewer than k raters',
    () => {
      let partialAnswerSuppressions = 0;
      fc.assert(
        fc.property(partialSurveyArb, rulesArb, (responses, rules) => {
          const profile = buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules, seed: 's' });
          expect(crossLevelProblems(profile, responses, rules)).toEqual([]);
          partialAnswerSuppressions += profile.competencies
            .flatMap((c) => c.items.flatMap((i) => Object.values(i.groups)))
            .filter((g) => g.suppressed && g.reason === 'partial_answers').length;
        }),
        { numRuns: 300 },
      );
      // The generator does exercise the rule.
      expect(partialAnswerSuppressions).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT,
  );
});
