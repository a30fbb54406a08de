import { isAnonymous, isSafeAnonymousSet } from './anonymity.ts';
import { seededShuffle } from './seeded-random.ts';
import {
  ANONYMOUS_GROUPS,
  type AnonymityRules,
  type Relationship,
  type ScoringInstrument,
  type ScoringResponse,
} from './types.ts';

/** A verbatim comment with the group it is attributed to; never the rater. */
export interface PublishedComment {
  group: Relationship;
  text: string;
}

/** The published comments on one open question, in shuffled order. */
export interface QuestionComments {
  questionId: string;
  comments: PublishedComment[];
}

/**
 * Where each relationship's comments go: its own label, "other" (pooled), or nowhere (withheld).
 * A group's comments are anonymous among all of its respondents, so k is checked on respondent counts.
 */
export function commentLabels(
  responses: readonly Pick<ScoringResponse, 'id' | 'relationship'>[],
  rules: AnonymityRules,
): Record<Relationship, Relationship | null> {
  const count = (relationship: Relationship) =>
    responses.filter((r) => r.relationship === relationship).length;
  const labels: Record<Relationship, Relationship | null> = {
    self: 'self',
    manager: 'manager',
    peer: null,
    direct_report: null,
    other: null,
  };
  const small = ANONYMOUS_GROUPS.filter((g) => count(g) > 0 && count(g) < rules.k[g]);
  for (const group of ANONYMOUS_GROUPS) if (count(group) >= rules.k[group]) labels[group] = group;
  const pool = responses.filter(
    (r) => isAnonymous(r.relationship) && (r.relationship === 'other' || small.includes(r.relationship)),
  );
  if (small.length > 0 && isSafeAnonymousSet(pool, rules)) {
    for (const group of small) labels[group] = 'other';
  }
  return labels;
}

// Code-unit order rather than localeCompare: the result must not depend on the ICU data of the machine.
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Comments per open question (METHODS §2): labelled with their group where it reaches k (self and manager
 * always), pooled as "other" where the pool reaches k, withheld otherwise. Each question's comments are put
 * in a canonical order and then shuffled with a PRNG seeded by `seed` and the question id, so the output
 * depends neither on response order nor on anything that would group comments by rater.
 */
export function buildComments(input: {
  instrument: Pick<ScoringInstrument, 'questions'>;
  responses: readonly ScoringResponse[];
  rules: AnonymityRules;
  seed: string;
}): QuestionComments[] {
  const labels = commentLabels(input.responses, input.rules);
  return input.instrument.questions.map((question) => {
    const comments: PublishedComment[] = [];
    for (const response of input.responses) {
      const group = labels[response.relationship];
      const text = Object.hasOwn(response.comments, question.id)
        ? response.comments[question.id]?.trim()
        : undefined;
      if (group !== null && text) comments.push({ group, text });
    }
    comments.sort((a, b) => compare(a.group, b.group) || compare(a.text, b.text));
    return {
      questionId: question.id,
      comments: seededShuffle(comments, `${input.seed}\u0000${question.id}`),
    };
  });
}
