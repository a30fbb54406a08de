import type { Answers, Competency, Instrument } from '@panorama/domain';

/** One page of the form: some competencies, or (the last step) the open questions and a review. */
export interface FormStep {
  /** 1-based, as in the URL `/s/<token>/<number>`. */
  number: number;
  competencies: Competency[];
  itemIds: string[];
  questionIds: string[];
  final: boolean;
}

export const COMPETENCIES_PER_STEP = 2;

/** Splits an instrument into steps: competencies two at a time, then one step for the open questions. */
export function formSteps(instrument: Instrument, perStep = COMPETENCIES_PER_STEP): FormStep[] {
  const steps: FormStep[] = [];
  for (let start = 0; start < instrument.competencies.length; start += perStep) {
    const competencies = instrument.competencies.slice(start, start + perStep);
    steps.push({
      number: steps.length + 1,
      competencies,
      itemIds: competencies.flatMap((c) => c.items.map((i) => i.id)),
      questionIds: [],
      final: false,
    });
  }
  steps.push({
    number: steps.length + 1,
    competencies: [],
    itemIds: [],
    questionIds: instrument.questions.map((q) => q.id),
    final: true,
  });
  return steps;
}

/** The step a returning rater lands on: the first with an unanswered item, else the final step. */
export function resumeStep(steps: readonly FormStep[], answers: Answers): FormStep {
  const final = steps[steps.length - 1];
  if (!final) throw new Error('a form has at least one step');
  return steps.find((step) => step.itemIds.some((id) => !Object.hasOwn(answers.ratings, id))) ?? final;
}

/** The step numbered `param` (from the URL), or undefined for anything that is not one. */
export function stepAt(steps: readonly FormStep[], param: string): FormStep | undefined {
  if (!/^[1-9][0-9]{0,2}$/.test(param)) return undefined;
  return steps[Number(param) - 1];
}

export interface AnswerCounts {
  total: number;
  /** Rated or "Can't say". */
  answered: number;
  notApplicable: number;
}

export function answerCounts(itemIds: readonly string[], answers: Answers): AnswerCounts {
  let answered = 0;
  let notApplicable = 0;
  for (const id of itemIds) {
    if (!Object.hasOwn(answers.ratings, id)) continue;
    answered++;
    if (answers.ratings[id] === null) notApplicable++;
  }
  return { total: itemIds.length, answered, notApplicable };
}
