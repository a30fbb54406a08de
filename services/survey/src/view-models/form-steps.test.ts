import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadInstrument, type Instrument } from '@panorama/domain';
import { answerCounts, formSteps, resumeStep, stepAt } from './form-steps.ts';

let instrument: Instrument;
beforeAll(async () => {
  instrument = await loadInstrument(
    path.resolve(import.meta.dirname, '../../../../surveys/leadership-360/instrument.yaml'),
  );
});

const allItems = () => instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
const rated = (ids: string[], value: number | null = 4) => ({
  ratings: Object.fromEntries(ids.map((id) => [id, value])),
  comments: {},
});

describe('formSteps', () => {
  it('puts 11 competencies two to a step (6 steps), then a final step with the open questions', () => {
    const steps = formSteps(instrument);
    expect(steps.map((s) => s.competencies.length)).toEqual([2, 2, 2, 2, 2, 1, 0]);
    expect(steps.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(steps.map((s) => s.final)).toEqual([false, false, false, false, false, false, true]);
    expect(steps[6]!.questionIds).toEqual(['keep_doing', 'start_doing', 'anything_else']);
    // Every item exactly once, in the instrument's order.
    expect(steps.flatMap((s) => s.itemIds)).toEqual(allItems());
    expect(steps[0]!.itemIds).toHaveLength(8);
  });
});

describe('resumeStep', () => {
  it('lands on the first step with an unanswered item, or on the final step when all are answered', () => {
    const steps = formSteps(instrument);
    expect(resumeStep(steps, rated([])).number).toBe(1);
    expect(resumeStep(steps, rated(steps[0]!.itemIds)).number).toBe(2);
    expect(resumeStep(steps, rated(steps[0]!.itemIds.slice(1))).number).toBe(1);
    // "Can't say" counts as answered.
    expect(resumeStep(steps, rated([...steps[0]!.itemIds, ...steps[1]!.itemIds], null)).number).toBe(3);
    expect(resumeStep(steps, rated(allItems())).number).toBe(7);
  });
});

describe('stepAt', () => {
  it('accepts only the numbers of existing steps', () => {
    const steps = formSteps(instrument);
    expect(stepAt(steps, '1')?.number).toBe(1);
    expect(stepAt(steps, '7')?.final).toBe(true);
    for (const bad of ['0', '8', '01', '1e0', ' 1', 'abc', '', '-1', '1.0', '9999'])
      expect(stepAt(steps, bad)).toBeUndefined();
  });
});

describe('answerCounts', () => {
  it('counts ratings and "Can\'t say" as answered, and "Can\'t say" on its own', () => {
    const ids = allItems();
    const answers = rated(ids.slice(0, 40));
    answers.ratings[ids[0]!] = null;
    answers.ratings[ids[1]!] = null;
    expect(answerCounts(ids, answers)).toEqual({ total: 44, answered: 40, notApplicable: 2 });
  });
});
