import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Kysely } from 'kysely';
import { sessionRepository, type Database, type Role, type Viewer } from '@panorama/db';
import { NotFoundError, TOKEN_PATTERN, tokenMac, type SecretKeys } from '@panorama/domain';

export const SESSION_COOKIE = 'panorama_session';

export interface SessionOptions {
  db: Kysely<Database>;
  keys: SecretKeys;
  secure: boolean;
  ttlHours: number;
}

/**
 * Thrown when a page needs a signed-in viewer. Without a session cookie the error handler redirects to sign
 * in; with one that is no longer valid (`expired`) it answers 401 with the sign-in page saying so.
 */
export class SignInRequiredError extends Error {
  readonly statusCode = 401;
  constructor(readonly expired = false) {
    super(expired ? 'Your session has expired — sign in again.' : 'Please sign in to see this page.');
    this.name = 'SignInRequiredError';
  }
}

/**
 * Cookie sessions backed by Postgres (so any instance can serve any request): the cookie holds a random id,
 * the database only its MAC. `request.viewer` is the signed-in person or null.
 */
export const sessions = fp(
  async (app: FastifyInstance, options: SessionOptions) => {
    app.decorateRequest('viewer', null);
    app.decorateRequest('sessionExpired', false);
    app.addHook('onRequest', async (request, reply) => {
      const id = request.cookies[SESSION_COOKIE];
      if (id === undefined) return;
      request.viewer = TOKEN_PATTERN.test(id)
        ? ((await sessionRepository.viewer(options.db, tokenMac(options.keys.session, id))) ?? null)
        : null;
      // A cookie for a session that has expired or was ended elsewhere: drop it, and remember why, so a
      // page that needs a viewer can say so instead of silently sending them to sign in.
      if (!request.viewer) {
        request.sessionExpired = true;
        reply.clearCookie(SESSION_COOKIE, { path: '/' });
      }
    });
    app.decorateReply(
      'startSession',
      async function (this: FastifyReply, personId: string, sessionId: string) {
        const expiresAt = new Date(Date.now() + options.ttlHours * 3_600_000);
        await sessionRepository.createSession(options.db, {
          idHash: tokenMac(options.keys.session, sessionId),
          personId,
          expiresAt,
        });
        this.setCookie(SESSION_COOKIE, sessionId, {
          path: '/',
          httpOnly: true,
          sameSite: 'lax',
          secure: options.secure,
          expires: expiresAt,
        });
      },
    );
    app.decorateReply('endSession', async function (this: FastifyReply, request: FastifyRequest) {
      const id = request.cookies[SESSION_COOKIE];
      if (id && TOKEN_PATTERN.test(id))
        await sessionRepository.deleteSession(options.db, tokenMac(options.keys.session, id));
      this.clearCookie(SESSION_COOKIE, { path: '/' });
    });
  },
  { name: 'panorama-sessions', dependencies: ['@fastify/cookie'] },
);

/** The viewer, or a SignInRequiredError. */
export function signedIn(request: FastifyRequest): Viewer {
  if (!request.viewer) throw new SignInRequiredError(request.sessionExpired);
  return request.viewer;
}

/**
 * The viewer if they hold one of `roles`; anyone else gets a 404, so a page's existence is not confirmed to
 * those without the right to it.
 */
export function requireRole(request: FastifyRequest, ...roles: Role[]): Viewer {
  const viewer = signedIn(request);
  if (!roles.some((r) => viewer.roles.includes(r)))
    throw new NotFoundError('There is nothing at this address.');
  return viewer;
}

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer | null;
    /** A session cookie came with the request but its session is no longer valid (it has been cleared). */
    sessionExpired: boolean;
  }
  interface FastifyReply {
    startSession(personId: string, sessionId: string): Promise<void>;
    endSession(request: FastifyRequest): Promise<void>;
  }
}
