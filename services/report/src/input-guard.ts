import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '@panorama/domain';

/**
 * Refuses, before any handler runs, form fields that no report form sends and that would otherwise fail
 * deep inside a handler as a 500: a NUL character (PostgreSQL text cannot hold one, so the insert or even
 * a lookup by email throws) and a field sent more than once (every report form names each field once;
 * handlers call string methods on them). Found by test/security/fuzz-report.test.ts.
 */
export function refuseUnreadableFields(app: FastifyInstance): void {
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const body = request.body;
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    const problems: { path: string; message: string }[] = [];
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      if (Array.isArray(value)) problems.push({ path: name, message: 'was sent more than once' });
      else if (typeof value === 'string' && value.includes('\u0000'))
        problems.push({ path: name, message: 'contains a NUL character' });
      else if (Buffer.isBuffer(value) && value.includes(0))
        problems.push({ path: name, message: 'contains a NUL byte' });
    }
    if (problems.length > 0) throw new ValidationError('The form could not be read.', problems);
  });
}
