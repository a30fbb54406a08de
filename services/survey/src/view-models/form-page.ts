import { COMMENT_FIELD, NOT_APPLICABLE, RATING_FIELD, type Answers, type Instrument } from '@panorama/domain';
import type { Locale } from '../locale.ts';
import { answerCounts, type FormStep } from './form-steps.ts';

/** Form fields as posted: a repeated name arrives as an array. */
export type FormFields = Record<string, string | string[]>;

export interface FieldProblem {
  path: string;
  message: string;
}

/** What the form needs to know about the survey behind a link. */
export interface FormSurvey {
  leaderName: string;
  perspective: 'self' | 'rater';
  relationship: string;
  closesAt: Date;
  instrument: Instrument;
}

export interface FormPageInput {
  survey: FormSurvey;
  steps: readonly FormStep[];
  step: FormStep;
  token: string;
  /** The saved draft. */
  answers: Answers;
  /** The fields of a rejected post, shown again exactly as sent. */
  posted?: FormFields | undefined;
  problems?: readonly FieldProblem[] | undefined;
  csrfToken: string;
  locale: Locale;
}

export interface ScaleOptionView {
  id: string;
  name: string;
  value: string;
  label: string;
  checked: boolean;
  notApplicable: boolean;
}

export interface ItemView {
  id: string;
  legend: string;
  errorId: string;
  error?: string | undefined;
  /** Space-separated ids for `aria-describedby`, or undefined. */
  describedBy?: string | undefined;
  className: string;
  options: ScaleOptionView[];
}

export interface CompetencyView {
  headingId: string;
  title: string;
  description: string;
  items: ItemView[];
}

export interface QuestionView {
  id: string;
  name: string;
  label: string;
  hintId: string;
  hint: string;
  errorId: string;
  error?: string | undefined;
  describedBy: string;
  className: string;
  maxLength: number;
  value: string;
}

export interface LinkView {
  href: string;
  text: string;
}

export interface ReviewView {
  heading: string;
  answered: string;
  notApplicable?: string | undefined;
  complete?: string | undefined;
  missingIntro?: string | undefined;
  missing: LinkView[];
  missingMore?: string | undefined;
  /** Buttons that save the comments typed so far and go to a step. */
  steps: { action: string; label: string; count: string }[];
}

export interface FormPageView {
  lang: string;
  pageTitle: string;
  kicker: string;
  heading: string;
  progress: { step: number; total: number; label: string };
  intro?: { description: string; scale: string } | undefined;
  deadline: string;
  anonymity: string;
  errorSummary?: { title: string; items: LinkView[] } | undefined;
  errorPrefix: string;
  action: string;
  csrfToken: string;
  competencies: CompetencyView[];
  questions?: { heading: string; intro: string; items: QuestionView[] } | undefined;
  review?: ReviewView | undefined;
  primary: { label: string; value: 'next' | 'submit' };
  back?: { label: string } | undefined;
  save: { label: string; hint: string };
  submitHint?: string | undefined;
  decline: LinkView;
}

export const ratingId = (itemId: string) => `r-${itemId}`;
export const commentId = (questionId: string) => `c-${questionId}`;
export const stepHref = (token: string, step: number) => `/s/${token}/${step}`;
/** The `action` of a button that saves the page and goes to another step. */
export const gotoAction = (step: number) => `goto-${step}`;

/** The deadline as shown: date and time in UTC, in the locale's words. */
export function formatDeadline(closesAt: Date, locale: Locale): string {
  const date = new Intl.DateTimeFormat(locale.intlLocale, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  }).format(closesAt);
  const time = new Intl.DateTimeFormat(locale.intlLocale, {
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone: 'UTC',
  }).format(closesAt);
  return locale.t('form.deadline', { date, time });
}

export function formHeading(survey: FormSurvey, locale: Locale): string {
  return survey.perspective === 'self'
    ? locale.t('form.headingSelf')
    : locale.t('form.headingRater', { name: survey.leaderName });
}

function anonymityNote(survey: FormSurvey, locale: Locale): string {
  const name = survey.leaderName;
  if (survey.perspective === 'self') return locale.t('form.anonymity.self');
  // A leader has one manager, so a manager's ratings are shown on their own: say so rather than promise a
  // group.
  if (survey.relationship === 'manager') return locale.t('form.anonymity.manager', { name });
  return locale.t('form.anonymity.group', { name });
}

const single = (value: string | string[] | undefined): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** The value a field shows: as posted when a post was rejected, else as saved. */
function ratingValue(input: FormPageInput, itemId: string): string | undefined {
  const key = RATING_FIELD + itemId;
  if (input.posted && Object.hasOwn(input.posted, key)) return single(input.posted[key]);
  if (!Object.hasOwn(input.answers.ratings, itemId)) return undefined;
  const saved = input.answers.ratings[itemId];
  return saved === null ? NOT_APPLICABLE : String(saved);
}

function commentValue(input: FormPageInput, questionId: string): string {
  const key = COMMENT_FIELD + questionId;
  if (input.posted && Object.hasOwn(input.posted, key)) return single(input.posted[key]) ?? '';
  return Object.hasOwn(input.answers.comments, questionId) ? (input.answers.comments[questionId] ?? '') : '';
}

interface MappedProblems {
  items: Map<string, string>;
  questions: Map<string, string>;
  summary: LinkView[];
}

/**
 * Turns `parseAnswers` problems into the rater's words: a message beside each item or question of this
 * step, an error-summary link to each (items of other steps link to their step), and one line for
 * anything that is not a field of this form.
 */
function mapProblems(input: FormPageInput): MappedProblems {
  const { survey, steps, step, locale, token } = input;
  const { instrument } = survey;
  const notApplicable = instrument.scale.not_applicable;
  const mapped: MappedProblems = { items: new Map(), questions: new Map(), summary: [] };
  const itemPlace = new Map<string, { step: number; competency: string; number: number; text: string }>();
  for (const s of steps)
    for (const c of s.competencies)
      c.items.forEach((item, index) =>
        itemPlace.set(item.id, {
          step: s.number,
          competency: c.title,
          number: index + 1,
          text: item[survey.perspective],
        }),
      );
  let unexpected = false;

  for (const problem of input.problems ?? []) {
    const posted = input.posted?.[problem.path];
    if (problem.path.startsWith(RATING_FIELD) && itemPlace.has(problem.path.slice(RATING_FIELD.length))) {
      const id = problem.path.slice(RATING_FIELD.length);
      const place = itemPlace.get(id)!;
      if (step.itemIds.includes(id)) {
        const message = Array.isArray(posted)
          ? locale.t('errors.duplicate')
          : posted === undefined || posted === ''
            ? locale.t('errors.ratingRequired', { notApplicable })
            : locale.t('errors.ratingInvalid');
        mapped.items.set(id, message);
        mapped.summary.push({
          href: `#${ratingId(id)}`,
          text: locale.t('errors.summaryItem', {
            competency: place.competency,
            number: place.number,
            message,
          }),
        });
      } else {
        mapped.summary.push({
          href: `${stepHref(token, place.step)}#${ratingId(id)}`,
          text: locale.t('form.reviewMissingItem', {
            step: place.step,
            competency: place.competency,
            item: place.text,
          }),
        });
      }
      continue;
    }
    const question = problem.path.startsWith(COMMENT_FIELD)
      ? instrument.questions.find((q) => COMMENT_FIELD + q.id === problem.path)
      : undefined;
    if (question && step.questionIds.includes(question.id)) {
      const text = typeof posted === 'string' ? posted.normalize('NFC').replace(/\r\n?/g, '\n').trim() : '';
      const message = Array.isArray(posted)
        ? locale.t('errors.duplicate')
        : [...text].length > question.max_length
          ? locale.t('errors.commentTooLong', { length: [...text].length, max: question.max_length })
          : locale.t('errors.commentInvalid');
      mapped.questions.set(question.id, message);
      mapped.summary.push({
        href: `#${commentId(question.id)}`,
        text: locale.t('errors.summaryQuestion', { question: question[survey.perspective], message }),
      });
      continue;
    }
    if (!unexpected) {
      unexpected = true;
      mapped.summary.push({ href: '#form', text: locale.t('errors.unexpectedField') });
    }
  }
  return mapped;
}

function itemView(
  input: FormPageInput,
  item: Instrument['competencies'][number]['items'][number],
  error?: string,
) {
  const { instrument } = input.survey;
  const value = ratingValue(input, item.id);
  const name = RATING_FIELD + item.id;
  const points = [...instrument.scale.points].sort((a, b) => a.value - b.value);
  const options: ScaleOptionView[] = points.map((point, index) => ({
    // The first option carries the item's id, so an error-summary link lands on the group.
    id: index === 0 ? ratingId(item.id) : `${ratingId(item.id)}-${point.value}`,
    name,
    value: String(point.value),
    label: input.locale.t('form.scaleOption', { value: point.value, label: point.label }),
    checked: value === String(point.value),
    notApplicable: false,
  }));
  options.push({
    id: `${ratingId(item.id)}-${NOT_APPLICABLE}`,
    name,
    value: NOT_APPLICABLE,
    label: instrument.scale.not_applicable,
    checked: value === NOT_APPLICABLE,
    notApplicable: true,
  });
  const errorId = `${ratingId(item.id)}-error`;
  return {
    id: item.id,
    legend: item[input.survey.perspective],
    errorId,
    error,
    describedBy: error ? errorId : undefined,
    className: error ? 'rating rating-error' : 'rating',
    options,
  } satisfies ItemView;
}

/** Beyond this many, the review lists no more unanswered items; the per-step counts show the rest. */
export const MAX_MISSING_LISTED = 10;

function reviewView(input: FormPageInput): ReviewView {
  const { survey, steps, locale, token } = input;
  const notApplicable = survey.instrument.scale.not_applicable;
  const allItems = steps.flatMap((s) => s.itemIds);
  const counts = answerCounts(allItems, input.answers);
  const missing: LinkView[] = [];
  for (const s of steps)
    for (const c of s.competencies)
      for (const item of c.items)
        if (!Object.hasOwn(input.answers.ratings, item.id))
          missing.push({
            href: `${stepHref(token, s.number)}#${ratingId(item.id)}`,
            text: locale.t('form.reviewMissingItem', {
              step: s.number,
              competency: c.title,
              item: item[survey.perspective],
            }),
          });
  return {
    heading: locale.t('form.reviewHeading'),
    answered: locale.t('form.reviewAnswered', { answered: counts.answered, total: counts.total }),
    notApplicable:
      counts.notApplicable > 0
        ? locale.plural('form.reviewCantSay', counts.notApplicable, { notApplicable })
        : undefined,
    complete: missing.length === 0 ? locale.t('form.reviewComplete') : undefined,
    missingIntro: missing.length > 0 ? locale.plural('form.reviewMissing', missing.length) : undefined,
    missing: missing.slice(0, MAX_MISSING_LISTED),
    missingMore:
      missing.length > MAX_MISSING_LISTED
        ? locale.plural('form.reviewMissingMore', missing.length - MAX_MISSING_LISTED)
        : undefined,
    steps: steps
      .filter((s) => !s.final)
      .map((s) => {
        const stepCounts = answerCounts(s.itemIds, input.answers);
        return {
          action: gotoAction(s.number),
          label: locale.t('form.reviewStep', {
            step: s.number,
            titles: s.competencies.map((c) => c.title).join(', '),
          }),
          count: locale.t('form.reviewStepCount', { answered: stepCounts.answered, total: stepCounts.total }),
        };
      }),
  };
}

/** Everything one step of the form prints, in the rater's language and from their perspective. */
export function formPageView(input: FormPageInput): FormPageView {
  const { survey, steps, step, locale, token } = input;
  const { instrument, perspective } = survey;
  const problems = mapProblems(input);
  const heading = formHeading(survey, locale);
  const total = steps.length;
  const hasErrors = problems.summary.length > 0;

  return {
    lang: locale.htmlLang,
    pageTitle: locale.t(hasErrors ? 'form.errorPageTitle' : 'form.pageTitle', {
      step: step.number,
      total,
      heading,
    }),
    kicker: instrument.title,
    heading,
    progress: { step: step.number, total, label: locale.t('form.progress', { step: step.number, total }) },
    intro:
      step.number === 1
        ? {
            description:
              perspective === 'self'
                ? (instrument.self_description ?? locale.t('form.selfIntro'))
                : instrument.description,
            scale: locale.t(perspective === 'self' ? 'form.scaleIntroSelf' : 'form.scaleIntroRater', {
              notApplicable: instrument.scale.not_applicable,
            }),
          }
        : undefined,
    deadline: formatDeadline(survey.closesAt, locale),
    anonymity: anonymityNote(survey, locale),
    errorSummary: hasErrors ? { title: locale.t('errors.summaryTitle'), items: problems.summary } : undefined,
    errorPrefix: locale.t('errors.prefix'),
    action: stepHref(token, step.number),
    csrfToken: input.csrfToken,
    competencies: step.competencies.map((competency) => ({
      headingId: `competency-${competency.id}`,
      title: competency.title,
      description: competency.description,
      items: competency.items.map((item) => itemView(input, item, problems.items.get(item.id))),
    })),
    questions:
      step.questionIds.length > 0
        ? {
            heading: locale.t('form.questionsHeading'),
            intro: locale.t('form.questionsIntro'),
            items: instrument.questions
              .filter((q) => step.questionIds.includes(q.id))
              .map((q) => {
                const id = commentId(q.id);
                const error = problems.questions.get(q.id);
                return {
                  id,
                  name: COMMENT_FIELD + q.id,
                  label: q[perspective],
                  hintId: `${id}-hint`,
                  hint: locale.t('form.questionHint', { max: q.max_length }),
                  errorId: `${id}-error`,
                  error,
                  describedBy: error ? `${id}-hint ${id}-error` : `${id}-hint`,
                  className: error ? 'field question question-error' : 'field question',
                  maxLength: q.max_length,
                  value: commentValue(input, q.id),
                } satisfies QuestionView;
              }),
          }
        : undefined,
    review: step.final ? reviewView(input) : undefined,
    primary: step.final
      ? { label: locale.t('form.buttonSubmit'), value: 'submit' }
      : { label: locale.t('form.buttonNext'), value: 'next' },
    back: step.number > 1 ? { label: locale.t('form.buttonBack') } : undefined,
    save: { label: locale.t('form.buttonSave'), hint: locale.t('form.saveHint') },
    submitHint: step.final ? locale.t('form.submitHint') : undefined,
    decline: { href: `/s/${token}/decline`, text: locale.t('form.declineLink') },
  };
}
