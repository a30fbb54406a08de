import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseAnswers, ValidationError, type Answers } from '@panorama/domain';
import type { Locale } from '../locale.ts';
import type { RateLimits, linkLimiter } from '../rate-limits.ts';
import { ipRule } from '../rate-limits.ts';
import { mergeAnswers, type OpenedSurvey, type SurveyService } from '../survey-service.ts';
import { formPageView, stepHref, type FieldProblem, type FormFields } from '../view-models/form-page.ts';
import { formSteps, resumeStep, stepAt, type FormStep } from '../view-models/form-steps.ts';

export interface FormRoutesDeps {
  service: Pick<SurveyService, 'open' | 'saveDraft' | 'submit'>;
  locale: Locale;
  limits: RateLimits;
  limitPerLink: ReturnType<typeof linkLimiter>;
}

interface TokenParams {
  token: string;
}
interface StepParams extends TokenParams {
  step: string;
}

type Action = { kind: 'next' | 'back' | 'save' | 'submit' } | { kind: 'goto'; step: number };

function actionOf(fields: FormFields, step: FormStep, steps: readonly FormStep[]): Action {
  const action = fields['action'];
  if (typeof action === 'string') {
    if (action === 'save') return { kind: 'save' };
    if (action === (step.final ? 'submit' : 'next')) return { kind: step.final ? 'submit' : 'next' };
    if (action === 'back' && step.number > 1) return { kind: 'back' };
    const goto = /^goto-([1-9][0-9]{0,2})$/.exec(action);
    if (goto && step.final && Number(goto[1]) <= steps.length) return { kind: 'goto', step: Number(goto[1]) };
  }
  throw new ValidationError('The form was sent without one of its buttons.');
}

/** The rater's form: one step per page, each post saved to the sealed draft before moving on. */
export async function formRoutes(app: FastifyInstance, deps: FormRoutesDeps): Promise<void> {
  const { service, locale, limits, limitPerLink } = deps;
  const reads = {
    config: { rateLimit: ipRule(limits.readsPerIp, limits.windowMs) },
    onRequest: limitPerLink(limits.readsPerToken, limits.windowMs, 'read'),
  };
  const writes = {
    config: { rateLimit: ipRule(limits.writesPerIp, limits.windowMs) },
    onRequest: limitPerLink(limits.writesPerToken, limits.windowMs, 'write'),
  };

  async function render(
    reply: FastifyReply,
    page: {
      survey: OpenedSurvey;
      steps: FormStep[];
      step: FormStep;
      token: string;
      answers: Answers;
      posted?: FormFields;
      problems?: readonly FieldProblem[];
    },
  ): Promise<string> {
    return reply.viewAsync(
      'form-page.hbs',
      formPageView({ ...page, csrfToken: reply.generateCsrf(), locale }),
    );
  }

  app.get<{ Params: TokenParams }>('/s/:token', reads, async (request, reply) => {
    const { token } = request.params;
    const survey = await service.open(token);
    const answers = survey.draft;
    const steps = formSteps(survey.instrument);
    return render(reply, { survey, steps, step: resumeStep(steps, answers), token, answers });
  });

  app.get<{ Params: StepParams }>('/s/:token/:step', reads, async (request, reply) => {
    const { token } = request.params;
    const survey = await service.open(token);
    const steps = formSteps(survey.instrument);
    const step = stepAt(steps, request.params.step);
    if (!step) return reply.redirect(`/s/${token}`, 303);
    return render(reply, { survey, steps, step, token, answers: survey.draft });
  });

  app.post<{ Params: StepParams; Body: FormFields }>('/s/:token/:step', writes, async (request, reply) => {
    const { token } = request.params;
    const survey = await service.open(token);
    const steps = formSteps(survey.instrument);
    const step = stepAt(steps, request.params.step);
    if (!step) throw new ValidationError('There is no such step in this form.');
    const fields = request.body;
    const action = actionOf(fields, step, steps);
    const scope = { questionIds: step.questionIds };

    let page: Answers;
    try {
      // Moving forward needs every item of the step answered; going back or saving keeps what is there.
      page = parseAnswers(survey.instrument, fields, {
        complete: action.kind === 'next' || action.kind === 'submit',
        itemIds: step.itemIds,
        questionIds: step.questionIds,
      });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const answers = survey.draft;
      reply.code(400);
      return render(reply, { survey, steps, step, token, answers, posted: fields, problems: error.problems });
    }

    if (action.kind === 'submit') {
      // The draft is written only if the submission fails: a request that loses a double-submit race must
      // not leave a draft behind for a link that is already spent.
      const answers = mergeAnswers(survey.draft, page, scope);
      try {
        await service.submit(token, survey, answers);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await service.saveDraft(token, page, scope, survey.draft);
        reply.code(400);
        return render(reply, {
          survey,
          steps,
          step,
          token,
          answers,
          posted: fields,
          problems: error.problems,
        });
      }
      return reply.redirect('/thanks', 303);
    }

    await service.saveDraft(token, page, scope, survey.draft);
    if (action.kind === 'save') return reply.redirect('/saved', 303);
    const target =
      action.kind === 'goto' ? action.step : action.kind === 'next' ? step.number + 1 : step.number - 1;
    return reply.redirect(stepHref(token, target), 303);
  });
}
