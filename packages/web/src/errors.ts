import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isConnectionError } from '@panorama/db';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@panorama/domain';

/** The words of the shared layout and error pages: English by default; the survey passes its locale's. */
export interface WebText {
  skipLink: string;
  footer: string;
  backToStart: string;
  errors: {
    badRequest: string;
    notFound: { title: string; message: string };
    forbidden: string;
    conflict: string;
    unavailable: { title: string; message: string };
    notAccepted: string;
    formExpired: string;
    tooLarge: string;
    unsupported: string;
    tooMany: { title: string; message: string };
    internal: { title: string; message: string };
  };
}

export const DEFAULT_WEB_TEXT: WebText = {
  skipLink: 'Skip to content',
  footer: 'Panorama · 360° feedback, anonymous by construction',
  backToStart: 'Back to the start',
  errors: {
    badRequest: 'Something in the request is not right',
    notFound: {
      title: 'Not found',
      message: 'There is nothing at this address. Check the link, or start again from the home page.',
    },
    forbidden: 'Not allowed',
    conflict: 'That cannot be done now',
    unavailable: {
      title: 'Temporarily unavailable',
      message:
        'Panorama is briefly unable to reach its storage. Nothing you sent was lost; please try again in a moment.',
    },
    notAccepted: 'Request not accepted',
    formExpired:
      'This form has expired or was sent from another page. Go back, reload the page and try again.',
    tooLarge: 'What you sent is larger than Panorama accepts.',
    unsupported: 'Panorama does not accept this kind of content here.',
    tooMany: { title: 'Slow down', message: 'Too many attempts. Please wait a minute and try again.' },
    internal: {
      title: 'Something went wrong',
      message: 'An unexpected error happened on our side. It has been logged; please try again.',
    },
  },
};

interface ErrorView {
  status: number;
  title: string;
  message: string;
  problems?: { path: string; message: string }[];
  retryAfter?: number;
}

function classify(error: FastifyError, text: WebText['errors']): ErrorView {
  if (error instanceof ValidationError) {
    return { status: 400, title: text.badRequest, message: error.message, problems: error.problems };
  }
  if (error instanceof NotFoundError)
    return { status: 404, title: text.notFound.title, message: error.message };
  if (error instanceof ForbiddenError) return { status: 403, title: text.forbidden, message: error.message };
  if (error instanceof ConflictError) return { status: 409, title: text.conflict, message: error.message };
  if (isConnectionError(error) || (error as { code?: string }).code === 'SERVICE_UNAVAILABLE') {
    return { status: 503, ...text.unavailable, retryAfter: 5 };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const messages: Record<number, string> = {
      403: text.formExpired,
      413: text.tooLarge,
      415: text.unsupported,
      429: text.tooMany.message,
    };
    const message =
      error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET'
        ? messages[403]!
        : (messages[status] ?? error.message);
    return { status, title: status === 429 ? text.tooMany.title : text.notAccepted, message };
  }
  return { status: 500, ...text.internal };
}

async function send(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, view: ErrorView) {
  reply.code(view.status);
  if (view.retryAfter) reply.header('retry-after', String(view.retryAfter));
  const wantsJson =
    request.url.startsWith('/api/') || !(request.headers.accept ?? 'text/html').includes('html');
  if (wantsJson) {
    return reply.send({ error: view.title, message: view.message, problems: view.problems ?? [] });
  }
  return reply
    .type('text/html; charset=utf-8')
    .send(await reply.viewAsync(app.sharedView('error.hbs'), { ...view, pageTitle: view.title }));
}

/** Answers a page request that needs a signed-in viewer (see `WebAppOptions.signInRequired`). */
export type SignInRequiredHandler = (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<unknown>;

/** One place decides statuses; 5xx details are logged and masked, never shown. */
export const errorPages = fp(
  async (
    app: FastifyInstance,
    options: { text?: WebText; signInRequired?: SignInRequiredHandler | undefined },
  ) => {
    const text = options.text ?? DEFAULT_WEB_TEXT;
    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      // A page that needs a signed-in viewer sends people to sign in rather than showing an error.
      if (error.statusCode === 401 && !request.url.startsWith('/api/')) {
        if (!options.signInRequired) return reply.redirect('/sign-in', 303);
        try {
          return await options.signInRequired(error, request, reply);
        } catch (renderError) {
          request.log.error({ err: renderError }, 'sign-in page failed to render');
          return reply.redirect('/sign-in', 303);
        }
      }
      const view = classify(error, text.errors);
      // An outage (503) is expected and logged briefly; anything else on our side with its stack.
      if (view.status === 503)
        request.log.warn({ code: (error as { code?: string }).code }, 'dependency unavailable');
      else if (view.status >= 500) request.log.error({ err: error }, 'request failed');
      else request.log.info({ status: view.status, code: error.code }, 'request refused');
      try {
        return await send(app, request, reply, view);
      } catch (renderError) {
        request.log.error({ err: renderError }, 'error page failed to render');
        return reply.code(view.status).type('text/plain').send(`${view.title}: ${view.message}`);
      }
    });
    app.setNotFoundHandler(async (request, reply) =>
      send(app, request, reply, { status: 404, ...text.errors.notFound }),
    );
  },
  { name: 'panorama-error-pages', dependencies: ['@fastify/view'] },
);
