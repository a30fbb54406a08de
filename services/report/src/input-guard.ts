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

/**
 * Refuses a query string no report page can read, before any handler runs: a name or value that is not
 * valid percent-encoding (`?a=%`, `?x=%ZZ`), a name sent more than once (`?released[]=1&released[]=2`;
 * every page reads each parameter once) or a NUL character. Found by test/security/fuzz-report.test.ts:
 * such requests were answered 200 with the parameter silently dropped or mangled.
 */
export function refuseUnreadableQuery(app: FastifyInstance): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const problems = queryProblems(request.url);
    if (problems.length > 0) throw new ValidationError('The address could not be read.', problems);
  });
}

/** What is wrong with the query string of a request URL (empty when nothing is). */
export function queryProblems(url: string): { path: string; message: string }[] {
  const at = url.indexOf('?');
  if (at < 0) return [];
  const problems: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const pair of url.slice(at + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      // The raw text is shown escaped by the error page; cut so a long address does not fill it.
      problems.push({ path: rawName.slice(0, 40), message: 'is not a valid percent-encoded address part' });
      continue;
    }
    const shown = name.slice(0, 40);
    if (seen.has(name)) problems.push({ path: shown, message: 'was sent more than once' });
    else if (name.includes('\u0000') || value.includes('\u0000'))
      problems.push({ path: shown, message: 'contains a NUL character' });
    seen.add(name);
  }
  return problems;
}
