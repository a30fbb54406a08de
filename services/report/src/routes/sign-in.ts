import { createHash } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { sessionRepository, type Database } from '@panorama/db';
import { newToken, NotFoundError, TOKEN_PATTERN, tokenMac, type SecretKeys } from '@panorama/domain';
import { queueMail } from '../mail-queue.ts';
import { page } from '../render.ts';
import { SignInRequiredError } from '../auth/session.ts';

export interface SignInDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  reportBaseUrl: string;
  /** Pushes queued jobs (the sign-in email) to Redis now; the worker's sweeper does it otherwise. */
  pushJobs: () => Promise<void>;
}

const LINK_MINUTES = 20;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function home(roles: string[]): string {
  if (roles.includes('hr') || roles.includes('admin')) return '/hr';
  if (roles.includes('coach')) return '/coach';
  return '/me';
}

/**
 * `value` if it is a path on this site to come back to after signing in, else null: one leading slash (not
 * `//host` or `/\host`, which leave the site), no spaces or control characters, and not a sign-in page.
 */
export function safeReturnPath(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 1000) return null;
  // eslint-disable-next-line no-control-regex
  if (!/^\/(?![/\\])[^\u0000-\u0020\u007F\\]*$/.test(value)) return null;
  const url = new URL(value, 'http://panorama.invalid');
  if (url.origin !== 'http://panorama.invalid') return null;
  if (/^\/(sign-in|sign-out)(\/|$)/.test(url.pathname)) return null;
  return value;
}

/**
 * The page an expired visitor wanted: the address of a GET; for a form post, the nearest page its address
 * lies under (`/reports/:id/release` → `/reports/:id`), as pages send no Referer (see the layout).
 */
function wantedPage(request: FastifyRequest): string | null {
  const path = request.url.split('?')[0] ?? '/';
  if (request.method === 'GET' || request.method === 'HEAD') return safeReturnPath(request.url);
  const pattern = request.routeOptions.url?.split('/');
  const segments = path.split('/');
  if (!pattern || pattern.length !== segments.length) return null;
  for (let n = segments.length; n > 1; n--) {
    if (request.server.hasRoute({ method: 'GET', url: pattern.slice(0, n).join('/') }))
      return safeReturnPath(segments.slice(0, n).join('/'));
  }
  return null;
}

/**
 * The answer to a page that needs a signed-in viewer (the error handler calls it): with a session cookie that
 * is no longer valid, a 401 sign-in page saying the session expired, with a link back to the page wanted;
 * without one, a redirect to sign in. A form post is not replayed (its CSRF token and session are gone): its page is offered again.
 */
export async function signInRequiredPage(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (!(error instanceof SignInRequiredError) || !error.expired) return reply.redirect('/sign-in', 303);
  reply.code(401);
  return page(request, reply, 'sign-in.hbs', {
    pageTitle: 'Your session has expired',
    expired: true,
    next: wantedPage(request),
  });
}

export function signInRoutes(deps: SignInDeps) {
  return async (app: FastifyInstance) => {
    app.get('/', async (request, reply) => {
      if (request.viewer) return reply.redirect(home(request.viewer.roles), 303);
      if (request.sessionExpired) throw new SignInRequiredError(true);
      return reply.redirect('/sign-in', 303);
    });

    app.get<{ Querystring: { next?: string } }>('/sign-in', async (request, reply) => {
      const next = safeReturnPath(request.query.next);
      if (request.viewer) return reply.redirect(next ?? home(request.viewer.roles), 303);
      return page(request, reply, 'sign-in.hbs', {
        pageTitle: 'Sign in',
        expired: request.sessionExpired,
        next,
      });
    });

    app.post<{ Body: { email?: unknown; next?: unknown } }>(
      '/sign-in',
      {
        config: {
          rateLimit: {
            max: 5,
            timeWindow: '15 minutes',
            hook: 'preHandler',
            // Per address, so nobody can flood one person's inbox; hashed, so no address sits in Redis.
            keyGenerator: (request) =>
              'sign-in:' +
              createHash('sha256')
                .update(
                  String((request.body as { email?: unknown } | undefined)?.email ?? '')
                    .trim()
                    .toLowerCase(),
                )
                .digest('base64url'),
          },
        },
      },
      async (request, reply) => {
        const email = typeof request.body?.email === 'string' ? request.body.email.trim().toLowerCase() : '';
        const next = safeReturnPath(request.body?.next);
        if (!EMAIL.test(email) || email.length > 254) {
          reply.code(400);
          return page(request, reply, 'sign-in.hbs', {
            pageTitle: 'Sign in',
            email,
            next,
            problems: [{ path: 'email', message: 'Enter your email address, like name@example.com.' }],
          });
        }
        const people = await sessionRepository.staffByEmail(deps.db, email);
        // One link per organisation the address belongs to is unusual; the first is enough to sign in.
        const person = people[0];
        if (person) {
          const token = newToken();
          await deps.db.transaction().execute(async (trx) => {
            await sessionRepository.createSignInToken(trx, {
              tokenHash: tokenMac(deps.keys.signIn, token),
              personId: person.id,
              expiresAt: new Date(Date.now() + LINK_MINUTES * 60_000),
            });
            await queueMail(trx, deps.keys, {
              organisationId: person.organisation_id,
              to: email,
              template: 'sign-in',
              data: {
                name: person.name,
                link:
                  `${deps.reportBaseUrl.replace(/\/$/, '')}/sign-in/${token}` +
                  (next ? `?next=${encodeURIComponent(next)}` : ''),
                expiresInMinutes: LINK_MINUTES,
              },
            });
          });
          await deps.pushJobs();
        }
        // The same answer whether or not the address has an account.
        return page(request, reply, 'sign-in-sent.hbs', {
          pageTitle: 'Check your email',
          email,
          minutes: LINK_MINUTES,
        });
      },
    );

    // The link in the email shows a button rather than signing in on GET, so mail scanners that follow links
    // cannot spend it.
    app.get<{ Params: { token: string }; Querystring: { next?: string } }>(
      '/sign-in/:token',
      { config: { rateLimit: { max: 30, timeWindow: '1 minute' } } },
      async (request, reply) => {
        const { token } = request.params;
        if (
          !TOKEN_PATTERN.test(token) ||
          !(await sessionRepository.isSignInTokenLive(deps.db, tokenMac(deps.keys.signIn, token)))
        ) {
          throw new NotFoundError(
            'This sign-in link has expired or was already used. Ask for a new one on the sign-in page.',
          );
        }
        const next = safeReturnPath(request.query.next);
        return page(request, reply, 'sign-in-confirm.hbs', {
          pageTitle: 'Sign in',
          token,
          next,
          nextQuery: next && encodeURIComponent(next),
        });
      },
    );

    app.post<{ Params: { token: string }; Querystring: { next?: string } }>(
      '/sign-in/:token',
      { config: { rateLimit: { max: 30, timeWindow: '1 minute' } } },
      async (request, reply) => {
        const { token } = request.params;
        const personId = TOKEN_PATTERN.test(token)
          ? await sessionRepository.spendSignInToken(deps.db, tokenMac(deps.keys.signIn, token))
          : null;
        if (!personId) {
          throw new NotFoundError(
            'This sign-in link has expired or was already used. Ask for a new one on the sign-in page.',
          );
        }
        await reply.startSession(personId, newToken());
        return reply.redirect(safeReturnPath(request.query.next) ?? '/', 303);
      },
    );

    app.post('/sign-out', async (request, reply) => {
      await reply.endSession(request);
      return reply.redirect('/sign-in', 303);
    });
  };
}
