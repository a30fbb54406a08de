import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnswers, type Instrument } from '@panorama/domain';
import { createSurveyService } from '@panorama/survey';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { keys } from '../support/scenario.ts';
import { hostileText, bodyKinds, fieldKeys, type FuzzBody, encodeBody } from './fuzz-arbitraries.ts';
import {
  assertNoPrototypePollution,
  contentDigest,
  cookieHeader,
  csrfOf,
  freshIp,
  keepCookies,
  NO_RATE_LIMITS,
  recordTotals,
  rowCounts,
  surveyApp,
} from './support.ts';

let t: TestDatabase;
let app: FastifyInstance;
let cycle: Awaited<ReturnType<typeof openSurveyCycle>>;
const cookies = new Map<string, string>();
let csrf = '';
const totals: Record<string, number> = {};
const count = (name: string) => (totals[name] = (totals[name] ?? 0) + 1);

beforeAll(async () => {
  t = await createTestDatabase();
  app = await surveyApp(t.db, { rateLimits: NO_RATE_LIMITS });
  cycle = await openSurveyCycle(t.db, { peers: 4 });
  const page = await app.inject({ method: 'GET', url: `/s/${cycle.tokens.peers[0]}/1` });
  keepCookies(cookies, page);
  csrf = csrfOf(page.body)!;
  expect(csrf).toBeTruthy();
});
afterAll(async () => {
  recordTotals('fuzz-survey', totals);
  await app.close();
  await t.drop();
});

const itemIds = (instrument: Instrument) => instrument.competencies.flatMap((c) => c.items.map((i) => i.id));

/** The stored draft of a link re-validates: whatever was accepted was clean. */
async function draftIsClean(token: string) {
  const draft = await createSurveyService({ db: t.db, keys }).loadDraft(token);
  const fields: Record<string, string> = {};
  for (const [id, v] of Object.entries(draft.ratings)) fields[`r.${id}`] = v === null ? 'na' : String(v);
  for (const [id, text] of Object.entries(draft.comments)) fields[`c.${id}`] = text;
  parseAnswers(cycle.instrument, fields, { complete: false });
}

async function send(options: InjectOptions): Promise<LightMyRequestResponse> {
  return app.inject({ remoteAddress: freshIp(), ...options });
}

describe('fuzzing the survey service', () => {
  it('answers every malformed form post with a 4xx and stores nothing', async () => {
    const token = cycle.tokens.peers[0]!;
    const ids = itemIds(cycle.instrument);
    const urls = fc.oneof(
      fc.integer({ min: 1, max: 7 }).map((n) => `/s/${token}/${n}`),
      fc.constantFrom(`/s/${token}/0`, `/s/${token}/99`, `/s/${token}/-1`, `/s/${token}/1e1`),
      fc.constantFrom(`/s/${token}/%00`, `/s/${token}/%E2%80%AE1`, `/s/${token}/..%2F1`),
    );
    // Posts close to what the form sends (the step's own fields, hostile values and comments), so that
    // some are accepted and the accepted path is fuzzed too, next to wholly malformed bodies.
    const competencies = cycle.instrument.competencies;
    const nearValid = fc.integer({ min: 1, max: 7 }).chain((step) => {
      const own =
        step === 7
          ? cycle.instrument.questions.map((q) => `c.${q.id}`)
          : competencies.slice((step - 1) * 2, step * 2).flatMap((c) => c.items.map((i) => `r.${i.id}`));
      const value = fc.oneof(
        fc.constantFrom('1', '3', '5', 'na'),
        hostileText(),
        fc.constantFrom('مرحبا\u200B\u200Fشكرا', 'a\u200Db\u200Cc', 'ok \u202Eevil'),
      );
      return fc
        .tuple(
          fc.uniqueArray(fc.constantFrom(...own), { maxLength: own.length }),
          fc.array(value, { minLength: own.length, maxLength: own.length }),
          fc.constantFrom('save', 'next', 'back'),
        )
        .map(([keys, values, action]) => ({
          url: `/s/${token}/${step}`,
          body: {
            kind: 'form',
            pairs: [...keys.map((k, i): [string, string] => [k, values[i]!]), ['action', action]],
          } as FuzzBody,
        }));
    });
    const anyPost = fc.record({
      url: urls,
      body: bodyKinds(
        fieldKeys(
          ids,
          cycle.instrument.questions.map((q) => q.id),
        ),
      ),
    });
    const property = fc.asyncProperty(
      fc.oneof(anyPost, nearValid),
      fc.boolean(),
      async ({ url, body }, withCsrf) => {
        count(`post:${body.kind}`);
        const before = await contentDigest(t.db);
        const encoded = encodeBody(body, withCsrf ? csrf : null);
        const response = await send({
          method: 'POST',
          url,
          payload: encoded.payload,
          headers: { ...encoded.headers, cookie: cookieHeader(cookies) },
        });
        assertNoPrototypePollution();
        expect(response.statusCode, `${url} ${body.kind}`).toBeLessThan(500);
        if (body.kind === 'oversized') expect(response.statusCode).toBe(413);
        // Without a CSRF token nothing is accepted: 403, or an earlier refusal of the body itself
        // (unreadable 400, too large 413, wrong type 415), which Fastify parses before the CSRF check.
        if (!withCsrf) expect([400, 403, 413, 415]).toContain(response.statusCode);
        if (response.statusCode >= 400) {
          expect(response.headers['content-type']).toMatch(/text\/html/);
          expect(await contentDigest(t.db)).toBe(before);
          count('post:refused');
        } else {
          // A well-formed step was saved: what was stored must itself be valid answers.
          expect(response.statusCode).toBe(303);
          await draftIsClean(token);
          count('post:accepted');
        }
      },
    );
    await fc.assert(property, { numRuns: 600, seed: 20_261_122 });
    // Nothing ever reached the response side.
    const counts = await rowCounts(t.db);
    expect(counts['responses']).toBe(0);
    expect(counts['spent_tokens']).toBe(0);
  });

  it('answers every malformed address, query and method with a 4xx or the page, never a 5xx', async () => {
    const token = cycle.tokens.peers[1]!;
    const segment = fc.oneof(
      fc.string({ maxLength: 60 }).map(encodeURIComponent),
      hostileText()
        .map((s) => s.replace(/[\uD800-\uDFFF]/g, '').slice(0, 200))
        .map(encodeURIComponent),
      fc.constantFrom(
        '%FF',
        '%',
        '%%',
        '..',
        '.',
        '%2e%2e',
        '%C0%AE',
        token,
        token.slice(0, 42),
        `${token}A`,
      ),
    );
    const property = fc.asyncProperty(
      fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      fc.array(segment, { minLength: 0, maxLength: 4 }),
      fc.constantFrom('/s/', '/', '/thanks/', '/assets/', '/s/' + token + '/'),
      fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
      async (method, segments, prefix, query) => {
        count('address');
        const before = await rowCounts(t.db);
        const url = prefix + segments.join('/') + (query === undefined ? '' : `?${query}`);
        let response: LightMyRequestResponse;
        try {
          response = await send({ method: method as 'GET', url, headers: { cookie: cookieHeader(cookies) } });
        } catch (error) {
          // light-my-request refuses some URLs before they reach the app (as Node's HTTP parser would).
          if (/Invalid URL|invalid/i.test(String(error))) return;
          throw error;
        }
        expect(response.statusCode, `${method} ${url}`).toBeLessThan(500);
        assertNoPrototypePollution();
        expect(await rowCounts(t.db)).toEqual(before);
      },
    );
    await fc.assert(property, { numRuns: 300, seed: 4242 });
  });

  it('refuses decline posts with bad bodies or no CSRF token, and declines only on a clean one', async () => {
    const token = cycle.tokens.peers[2]!;
    const page = await app.inject({ method: 'GET', url: `/s/${token}/decline` });
    const jar = new Map<string, string>();
    keepCookies(jar, page);
    const token2 = csrfOf(page.body)!;
    const property = fc.asyncProperty(bodyKinds(fieldKeys([], [])), async (body) => {
      count('decline');
      const before = await contentDigest(t.db);
      // Never a CSRF token here: a decline without one must not decline anything.
      const encoded = encodeBody(body, null);
      const response = await send({
        method: 'POST',
        url: `/s/${token}/decline`,
        payload: encoded.payload,
        headers: { ...encoded.headers, cookie: cookieHeader(jar) },
      });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      expect(await contentDigest(t.db)).toBe(before);
      assertNoPrototypePollution();
    });
    await fc.assert(property, { numRuns: 100, seed: 7 });
    const ok = await send({
      method: 'POST',
      url: `/s/${token}/decline`,
      payload: `_csrf=${encodeURIComponent(token2)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
    });
    expect(ok.statusCode).toBe(303);
  });
});
