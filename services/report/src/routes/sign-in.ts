import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { sessionRepository, type Database } from '@panorama/db';
import { newToken, NotFoundError, TOKEN_PATTERN, tokenMac, type SecretKeys } from '@panorama/domain';
import { queueMail } from '../mail-queue.ts';
import { page } from '../render.ts';

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

export function signInRoutes(deps: SignInDeps) {
  return async (app: FastifyInstance) => {
    app.get('/', async (request, reply) => {
      if (request.viewer) return reply.redirect(home(request.viewer.roles), 303);
      return reply.redirect('/sign-in', 303);
    });

    app.get('/sign-in', async (request, reply) => {
      if (request.viewer) return reply.redirect(home(request.viewer.roles), 303);
      return page(request, reply, 'sign-in.hbs', { pageTitle: 'Sign in' });
    });

    app.post<{ Body: { email?: unknown } }>(
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
        if (!EMAIL.test(email) || email.length > 254) {
          reply.code(400);
          return page(request, reply, 'sign-in.hbs', {
            pageTitle: 'Sign in',
            email,
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
                link: `${deps.reportBaseUrl.replace(/\/$/, '')}/sign-in/${token}`,
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
    app.get<{ Params: { token: string } }>(
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
        return page(request, reply, 'sign-in-confirm.hbs', { pageTitle: 'Sign in', token });
      },
    );

    app.post<{ Params: { token: string } }>(
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
        return reply.redirect('/', 303);
      },
    );

    app.post('/sign-out', async (request, reply) => {
      await reply.endSession(request);
      return reply.redirect('/sign-in', 303);
    });
  };
}
