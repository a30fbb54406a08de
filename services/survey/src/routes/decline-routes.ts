import type { FastifyInstance } from 'fastify';
import type { Locale } from '../locale.ts';
import { ipRule, type linkLimiter, type RateLimits } from '../rate-limits.ts';
import type { SurveyService } from '../survey-service.ts';
import { declinePageView } from '../view-models/message-page.ts';

export interface DeclineRoutesDeps {
  service: Pick<SurveyService, 'open' | 'decline'>;
  locale: Locale;
  limits: RateLimits;
  limitPerLink: ReturnType<typeof linkLimiter>;
}

/** Declining is two steps, so a stray click (or a mail scanner following links) never declines. */
export async function declineRoutes(app: FastifyInstance, deps: DeclineRoutesDeps): Promise<void> {
  const { service, locale, limits, limitPerLink } = deps;

  app.get<{ Params: { token: string } }>(
    '/s/:token/decline',
    {
      config: { rateLimit: ipRule(limits.readsPerIp, limits.windowMs) },
      onRequest: limitPerLink(limits.readsPerToken, limits.windowMs, 'read'),
    },
    async (request, reply) => {
      const { token } = request.params;
      const survey = await service.open(token);
      return reply.viewAsync(
        'decline.hbs',
        declinePageView({ survey, token, csrfToken: reply.generateCsrf(), locale }),
      );
    },
  );

  app.post<{ Params: { token: string } }>(
    '/s/:token/decline',
    {
      config: { rateLimit: ipRule(limits.writesPerIp, limits.windowMs) },
      onRequest: limitPerLink(limits.writesPerToken, limits.windowMs, 'write'),
    },
    async (request, reply) => {
      await service.decline(await service.open(request.params.token));
      return reply.redirect('/declined', 303);
    },
  );
}
