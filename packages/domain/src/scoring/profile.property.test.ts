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

const responsesArb = (relationship: Relationship, maxCount: number) =>
  fc
    .array(
      fc.record({
        ratings: fc.array(ratingArb, { minLength: FIXTURE_ITEMS.length, maxLength: FIXTURE_ITEMS.length }),
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

describe('buildProfile properties', () => {
  it('(a) publishes only aggregates that are what they say and cannot be differenced below k', () => {
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
          expect(findDifferencingViolations(spread, rules, { minimum: rules.distributionMinN })).toEqual([]);

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
  });

  it('(b) suppressed groups expose no numbers, and ratings outside every published set change nothing', () => {
    fc.assert(
      fc.property(surveyArb, rulesArb, (responses, rules) => {
        const profile = buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules, seed: 's' });
        const measures = measuresOf(profile);
        for (const measure of measures) {
          for (const group of GROUP_KEYS) {
            const result = measure.results[group];
            if (result.suppressed) {
              expect(result).toEqual({
                suppressed: true,
                reason: 'fewer_than_k',
                k: group === 'self' || group === 'manager' ? 1 : rules.k[group],
              });
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
  });

  it('(c) is deterministic for a seed, whatever the response order, and JSON-serialisable', () => {
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
  });
});
