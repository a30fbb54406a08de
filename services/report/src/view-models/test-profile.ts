import {
  buildProfile,
  DEFAULT_ANONYMITY,
  type Profile,
  type Relationship,
  type ScoringResponse,
} from '@panorama/domain';
import type { ReportInstrument } from './leader-report.ts';

// Test-only: a small instrument and profiles built by the real scoring code.

/** Four competencies of three items and one open question, with the wording a report prints. */
export const TEST_INSTRUMENT: ReportInstrument = {
  scale: { min: 1, max: 5 },
  competencies: ['vision', 'coaching', 'delivery', 'trust'].map((id) => ({
    id,
    title: id === 'trust' ? 'Trust <&> "relationships"' : id.charAt(0).toUpperCase() + id.slice(1),
    description: `About ${id}.`,
    items: ['a', 'b', 'c'].map((x) => ({ id: `${id}.${x}`, rater: `Does ${id} ${x}.` })),
  })),
  questions: [{ id: 'keep', rater: 'What should they keep doing?' }],
};

const ITEMS = TEST_INSTRUMENT.competencies.flatMap((c) => c.items.map((i) => i.id));

/** A response rating every item of a competency the same: `scores` maps competency id -> rating. */
export function response(
  id: string,
  relationship: Relationship,
  scores: Record<string, number>,
  comment?: string,
): ScoringResponse {
  const ratings: Record<string, number | null> = {};
  for (const itemId of ITEMS) ratings[itemId] = scores[itemId.split('.')[0]!] ?? 3;
  return { id, relationship, ratings, comments: comment ? { keep: comment } : {} };
}

/**
 * A leader rated by self, a manager, four peers, three direct reports and two others (under k = 3): self high
 * on vision and low on trust, others the reverse.
 */
export function testProfile(options: { comment?: string; others?: number } = {}): Profile {
  const others = { vision: 2, coaching: 4, delivery: 3, trust: 5 };
  const responses: ScoringResponse[] = [
    response('s', 'self', { vision: 5, coaching: 4, delivery: 3, trust: 2 }),
    response('m', 'manager', { vision: 2, coaching: 4, delivery: 3, trust: 5 }),
    ...[0, 1, 2, 3].map((i) =>
      response(
        `p${i}`,
        'peer',
        { ...others, delivery: i % 2 === 0 ? 2 : 5 },
        i === 0 ? options.comment : undefined,
      ),
    ),
    ...[0, 1, 2].map((i) => response(`d${i}`, 'direct_report', others)),
    ...Array.from({ length: options.others ?? 2 }, (_, i) =>
      response(`o${i}`, 'other', { ...others, vision: 1 }),
    ),
  ];
  return JSON.parse(
    JSON.stringify(
      buildProfile({ instrument: TEST_INSTRUMENT, responses, rules: DEFAULT_ANONYMITY, seed: 'test' }),
    ),
  ) as Profile;
}
