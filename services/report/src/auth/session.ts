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

/** Thrown when a page needs a signed-in viewer; the error handler turns it into a redirect to sign in. */
export class SignInRequiredError extends Error {
  readonly statusCode = 401;
  constructor() {
    super('Please sign in to see this page.');
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
    app.addHook('onRequest', async (request) => {
      const id = request.cookies[SESSION_COOKIE];
      if (!id || !TOKEN_PATTERN.test(id)) return;
      request.viewer =
        (await sessionRepository.viewer(options.db, tokenMac(options.keys.session, id))) ?? null;
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
  if (!request.viewer) throw new SignInRequiredError();
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
  }
  interface FastifyReply {
    startSession(personId: string, sessionId: string): Promise<void>;
    endSession(request: FastifyRequest): Promise<void>;
  }
}
