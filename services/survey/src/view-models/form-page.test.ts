import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  loadInstrument,
  parseAnswers,
  ValidationError,
  type Answers,
  type Instrument,
} from '@panorama/domain';
import { loadLocale } from '../locale.ts';
import { formPageView, formatDeadline, MAX_MISSING_LISTED, type FormPageInput } from './form-page.ts';
import { formSteps } from './form-steps.ts';

let instrument: Instrument;
beforeAll(async () => {
  instrument = await loadInstrument(
    path.resolve(import.meta.dirname, '../../../../surveys/leadership-360/instrument.yaml'),
  );
});

const locale = loadLocale('en');
const TOKEN = 'T'.repeat(43);
const empty = (): Answers => ({ ratings: {}, comments: {} });

function input(overrides: Partial<FormPageInput> & { stepNumber?: number } = {}): FormPageInput {
  const steps = formSteps(instrument);
  const { stepNumber = 1, ...rest } = overrides;
  return {
    survey: {
      leaderName: 'Dana Lee',
      perspective: 'rater',
      relationship: 'peer',
      closesAt: new Date('2026-03-20T17:00:00Z'),
      instrument,
    },
    steps,
    step: steps[stepNumber - 1]!,
    token: TOKEN,
    answers: empty(),
    csrfToken: 'csrf-token',
    locale,
    ...rest,
  };
}

/** The problems parseAnswers reports for these fields on a step. */
function problemsFor(fields: Record<string, string | string[]>, stepNumber: number, complete = true) {
  const step = formSteps(instrument)[stepNumber - 1]!;
  try {
    parseAnswers(instrument, fields, { complete, itemIds: step.itemIds, questionIds: step.questionIds });
  } catch (error) {
    if (error instanceof ValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected problems');
}

describe('formPageView: wording and perspective', () => {
  it('a rater sees "Feedback for <leader>" and the rater wording', () => {
    const view = formPageView(input());
    expect(view.heading).toBe('Feedback for Dana Lee');
    expect(view.pageTitle).toBe('Step 1 of 7: Feedback for Dana Lee');
    expect(view.kicker).toBe('Leadership 360');
    expect(view.competencies.map((c) => c.title)).toEqual(['Communication', 'Decision making']);
    expect(view.competencies[0]!.description).toBe(instrument.competencies[0]!.description);
    expect(view.competencies[0]!.items[0]!.legend).toBe('Lets others finish their point before responding.');
    expect(view.anonymity).toMatch(/combined with those of others in your group/);
  });

  it('the leader sees "Your self-assessment" and first-person wording, items and questions alike', () => {
    const survey = { ...input().survey, perspective: 'self' as const, relationship: 'self' };
    const view = formPageView(input({ survey }));
    expect(view.heading).toBe('Your self-assessment');
    expect(view.competencies[0]!.items[0]!.legend).toBe('I let others finish their point before I respond.');
    expect(view.intro?.scale).toMatch(/how often you do this/);
    // Not the instrument's rater introduction: the survey's first-person text, or the instrument's own.
    expect(view.intro?.description).not.toBe(instrument.description);
    expect(view.intro?.description).toMatch(/^This self-assessment is part of your leadership coaching/);
    const own = { ...instrument, self_description: 'Rate how often you do each of these.' };
    expect(formPageView(input({ survey: { ...survey, instrument: own } })).intro?.description).toBe(
      'Rate how often you do each of these.',
    );
    const final = formPageView(input({ survey, stepNumber: 7 }));
    expect(final.questions?.items[0]!.label).toBe('What do I do well that I should keep doing?');
    expect(final.anonymity).toMatch(/your own view/);
  });

  it("a manager is told plainly that their ratings are shown as the manager's view", () => {
    const view = formPageView(input({ survey: { ...input().survey, relationship: 'manager' } }));
    expect(view.anonymity).toMatch(/can be recognised as yours/);
  });

  it('shows the deadline in UTC, in words', () => {
    expect(formatDeadline(new Date('2026-03-20T17:00:00Z'), locale)).toBe(
      'Please answer by Friday, 20 March 2026 at 17:00 (UTC).',
    );
  });
});

describe('formPageView: steps, progress and buttons', () => {
  it('shows progress as text and as numbers for <progress>', () => {
    const view = formPageView(input({ stepNumber: 3 }));
    expect(view.progress).toEqual({ step: 3, total: 7, label: 'Step 3 of 7' });
    expect(view.action).toBe(`/s/${TOKEN}/3`);
    expect(view.intro).toBeUndefined();
    expect(view.back?.label).toBe('Back');
    expect(view.primary).toEqual({ label: 'Save and continue', value: 'next' });
  });

  it('step 1 has the introduction and no Back; the last step submits and has no ratings', () => {
    const first = formPageView(input());
    expect(first.intro?.description).toBe(instrument.description);
    expect(first.back).toBeUndefined();
    const last = formPageView(input({ stepNumber: 7 }));
    expect(last.competencies).toEqual([]);
    expect(last.primary).toEqual({ label: 'Submit', value: 'submit' });
    expect(last.submitHint).toBeDefined();
    expect(last.save.hint).toMatch(/same link/);
    expect(last.decline.href).toBe(`/s/${TOKEN}/decline`);
  });

  it('offers the scale as labelled radios, 1 to 5 then "Can\'t say", checked from the draft', () => {
    const [first, second] = instrument.competencies[0]!.items;
    const view = formPageView(
      input({ answers: { ratings: { [first!.id]: 4, [second!.id]: null }, comments: {} } }),
    );
    const [a, b, c] = view.competencies[0]!.items;
    expect(a!.options.map((o) => o.label)).toEqual([
      '1 — Almost never',
      '2 — Rarely',
      '3 — Sometimes',
      '4 — Often',
      '5 — Almost always',
      "Can't say",
    ]);
    expect(a!.options.map((o) => o.value)).toEqual(['1', '2', '3', '4', '5', 'na']);
    expect(a!.options[0]!.id).toBe(`r-${first!.id}`);
    expect(new Set(a!.options.map((o) => o.id)).size).toBe(6);
    expect(a!.options.every((o) => o.name === `r.${first!.id}`)).toBe(true);
    expect(a!.options.filter((o) => o.checked).map((o) => o.value)).toEqual(['4']);
    expect(b!.options.filter((o) => o.checked).map((o) => o.value)).toEqual(['na']);
    expect(c!.options.some((o) => o.checked)).toBe(false);
    expect(a!.error).toBeUndefined();
    expect(a!.describedBy).toBeUndefined();
  });
});

describe('formPageView: errors', () => {
  it('puts each message beside its item, links the summary to it, and keeps what was posted', () => {
    const step = formSteps(instrument)[0]!;
    const [answered, missing, invalid, twice] = step.itemIds;
    const posted = { [`r.${answered}`]: '2', [`r.${invalid}`]: '7', [`r.${twice}`]: ['1', '2'] };
    const problems = problemsFor(posted, 1);
    const view = formPageView(
      // The draft said 5 for the first item; the rejected post said 2, and 2 is what the rater sees.
      input({ answers: { ratings: { [answered!]: 5 }, comments: {} }, posted, problems }),
    );
    const items = new Map(view.competencies.flatMap((c) => c.items).map((i) => [i.id, i]));
    expect(items.get(answered!)!.options.find((o) => o.checked)?.value).toBe('2');
    expect(items.get(answered!)!.error).toBeUndefined();
    expect(items.get(missing!)!.error).toBe("Choose an answer, or “Can't say” if you have not seen this.");
    expect(items.get(missing!)!.describedBy).toBe(`r-${missing}-error`);
    expect(items.get(missing!)!.className).toContain('rating-error');
    expect(items.get(invalid!)!.error).toBe('Choose one of the answers shown.');
    expect(items.get(invalid!)!.options.some((o) => o.checked)).toBe(false);
    expect(items.get(twice!)!.error).toMatch(/more than once/);

    expect(view.pageTitle).toMatch(/^Error: Step 1 of 7/);
    expect(view.errorSummary?.title).toBe('There is a problem');
    const hrefs = view.errorSummary!.items.map((i) => i.href);
    expect(hrefs).toContain(`#r-${missing}`);
    expect(hrefs).toContain(`#r-${invalid}`);
    expect(hrefs).not.toContain(`#r-${answered}`);
    expect(view.errorSummary!.items.find((i) => i.href === `#r-${missing}`)!.text).toBe(
      "Communication, statement 2: Choose an answer, or “Can't say” if you have not seen this.",
    );
    // One per unanswered item: 8 items, 1 answered.
    expect(view.errorSummary!.items).toHaveLength(7);
  });

  it('reports fields that are not on the form once, without pointing at an item', () => {
    const posted = { 'r.nope.item': '3', __proto__: 'x', 'c.keep_doing': 'hi' };
    const view = formPageView(input({ posted, problems: problemsFor(posted, 1, false) }));
    expect(view.errorSummary!.items).toEqual([
      { href: '#form', text: expect.stringMatching(/something it does not expect/) },
    ]);
    expect(view.competencies.flatMap((c) => c.items).every((i) => !i.error)).toBe(true);
  });

  it('says how long a comment is and what the limit is, and keeps the text', () => {
    const long = 'x'.repeat(2001);
    const posted = { 'c.keep_doing': long };
    const view = formPageView(input({ stepNumber: 7, posted, problems: problemsFor(posted, 7) }));
    const question = view.questions!.items[0]!;
    expect(question.error).toBe(
      'This answer is 2001 characters long. Shorten it to 2000 characters or fewer.',
    );
    expect(question.value).toBe(long);
    expect(question.describedBy).toBe('c-keep_doing-hint c-keep_doing-error');
    expect(view.errorSummary!.items[0]!.href).toBe('#c-keep_doing');
  });

  it('on submit, an item left unanswered on an earlier step links to that step', () => {
    const missing = instrument.competencies[2]!.items[1]!.id;
    const view = formPageView(
      input({ stepNumber: 7, problems: [{ path: `r.${missing}`, message: 'choose a rating' }] }),
    );
    expect(view.errorSummary!.items).toEqual([
      { href: `/s/${TOKEN}/2#r-${missing}`, text: expect.stringMatching(/^Step 2, Delegation: “/) },
    ]);
  });
});

describe('formPageView: review', () => {
  const answersWith = (answered: number, cantSay: number): Answers => {
    const ids = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
    return {
      ratings: Object.fromEntries(ids.slice(0, answered).map((id, n) => [id, n < cantSay ? null : 3])),
      comments: { keep_doing: 'Clear priorities.' },
    };
  };

  it('counts answers and "Can\'t say", and lists what is still unanswered with links to it', () => {
    const view = formPageView(input({ stepNumber: 7, answers: answersWith(42, 2) }));
    expect(view.review!.answered).toBe('You have answered 42 of 44 statements.');
    expect(view.review!.notApplicable).toBe("For 2 of them you chose “Can't say”.");
    expect(view.review!.missingIntro).toBe('2 statements still need an answer before you can submit:');
    expect(view.review!.missing.map((m) => m.href)).toEqual(
      instrument.competencies[10]!.items.slice(2).map((i) => `/s/${TOKEN}/6#r-${i.id}`),
    );
    expect(view.review!.complete).toBeUndefined();
    expect(view.review!.steps).toHaveLength(6);
    expect(view.review!.steps[5]).toEqual({
      action: 'goto-6',
      label: `Step 6: ${instrument.competencies[10]!.title}`,
      count: '2 of 4 answered',
    });
    expect(view.questions!.items[0]!.value).toBe('Clear priorities.');
  });

  it('says when everything is answered, and keeps a long list of gaps short', () => {
    const complete = formPageView(input({ stepNumber: 7, answers: answersWith(44, 0) }));
    expect(complete.review!.complete).toMatch(/Every statement has an answer/);
    expect(complete.review!.notApplicable).toBeUndefined();
    expect(complete.review!.missing).toEqual([]);
    const sparse = formPageView(input({ stepNumber: 7, answers: answersWith(1, 1) }));
    expect(sparse.review!.notApplicable).toBe("For 1 of them you chose “Can't say”.");
    expect(sparse.review!.missing).toHaveLength(MAX_MISSING_LISTED);
    expect(sparse.review!.missingMore).toBe('…and 33 more; each step below shows what is left.');
  });
});
