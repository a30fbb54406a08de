import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken, parseAnswers, type Instrument } from '@panorama/domain';
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
  routesOf,
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

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** The content digest of every table but `invitations`, and that table's digest apart. */
async function digestParts() {
  const parts = (await contentDigest(t.db)).split('|');
  return {
    others: parts.filter((p) => !p.startsWith('invitations:')).join('|'),
    invitations: parts.find((p) => p.startsWith('invitations:')),
  };
}

/** The invitation behind a link: its status, and a way to make it usable again after a test declined it. */
async function invitationOf(token: string) {
  const survey = await createSurveyService({ db: t.db, keys }).open(token);
  return survey.invitationId;
}
const invitationStatus = async (id: string) =>
  (await t.db.selectFrom('invitations').select('status').where('id', '=', id).executeTakeFirstOrThrow())
    .status;
async function undecline(id: string) {
  await t.db
    .updateTable('invitations')
    .set({ status: 'sent', declined_at: null })
    .where('id', '=', id)
    .execute();
}

/**
 * A decline post was accepted (303): the only change is that link's invitation, now declined. The link is then
 * made usable again so the next case meets a live link too.
 */
async function checkDeclinedAndReset(invitationId: string, before: { others: string }) {
  expect(await invitationStatus(invitationId)).toBe('declined');
  expect((await digestParts()).others).toBe(before.others);
  await undecline(invitationId);
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

  it('with a valid CSRF token, declines only that link (any readable body), or refuses and changes nothing', async () => {
    const token = cycle.tokens.peers[3]!;
    const invitationId = await invitationOf(token);
    const page = await app.inject({ method: 'GET', url: `/s/${token}/decline` });
    const jar = new Map<string, string>();
    keepCookies(jar, page);
    const valid = csrfOf(page.body)!;
    const property = fc.asyncProperty(bodyKinds(fieldKeys([], [])), async (body) => {
      const before = await digestParts();
      const encoded = encodeBody(body, valid);
      const response = await send({
        method: 'POST',
        url: `/s/${token}/decline`,
        payload: encoded.payload,
        headers: { ...encoded.headers, cookie: cookieHeader(jar) },
      });
      assertNoPrototypePollution();
      expect(response.statusCode, body.kind).toBeLessThan(500);
      if (body.kind === 'oversized') expect(response.statusCode).toBe(413);
      if (response.statusCode === 303) {
        count('decline-csrf:declined');
        expect(response.headers.location).toBe('/declined');
        await checkDeclinedAndReset(invitationId, before);
      } else {
        count('decline-csrf:refused');
        expect(response.statusCode, body.kind).toBeGreaterThanOrEqual(400);
        expect(response.headers['content-type']).toMatch(/text\/html/);
        expect(await digestParts()).toEqual(before);
      }
    });
    await fc.assert(property, { numRuns: 150, seed: 11 });
    expect(totals['decline-csrf:declined']).toBeGreaterThan(0);
    expect(await invitationStatus(invitationId)).toBe('sent');
  });

  it('fuzzes every route of the app, read from its route table: never a 5xx, nothing stored on a refusal', async () => {
    const routes = routesOf(app).filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/assets/'));
    const names = routes.map((r) => `${r.method} ${r.url}`);
    // The routes this suite must reach; the table may have more, and they are fuzzed too.
    for (const route of [
      'GET /',
      'GET /healthz',
      'GET /readyz',
      'GET /thanks',
      'GET /declined',
      'GET /saved',
      'GET /s/:token',
      'GET /s/:token/:step',
      'GET /s/:token/decline',
      'GET /s/*',
      'POST /s/:token/:step',
      'POST /s/:token/decline',
    ])
      expect(names).toContain(route);

    const live = cycle.tokens.peers[1]!;
    const liveInvitation = await invitationOf(live);
    const hostileSegment = hostileText()
      .map((s) => s.replace(/[\uD800-\uDFFF]/g, '').slice(0, 200))
      .map(encodeURIComponent);
    const paramValues: Record<string, fc.Arbitrary<string>> = {
      token: fc.oneof(
        { weight: 3, arbitrary: fc.constant(live) },
        fc.constant(live.slice(0, 42)),
        fc.constantFrom(`${live}A`, '%FF', '..', '%2e%2e'),
        fc.constant(null).map(() => newToken()),
        hostileSegment,
      ),
      step: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 7 }).map(String) },
        fc.constantFrom('0', '8', '-1', '1e1', '01', ' 1', 'decline', '%00', '%E2%80%AE1'),
        hostileSegment,
      ),
      '*': fc.array(hostileSegment, { maxLength: 3 }).map((a) => a.join('/')),
    };
    const ids = itemIds(cycle.instrument);
    const questionIds = cycle.instrument.questions.map((q) => q.id);
    for (const route of routes) {
      const params = route.url.match(/:[A-Za-z]+|\*/g) ?? [];
      const property = fc.asyncProperty(
        fc.tuple(...params.map((p) => paramValues[p.replace(/^:/, '')] ?? hostileSegment)),
        fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
        bodyKinds(fieldKeys(ids, questionIds)),
        fc.boolean(),
        async (values, query, body, withCsrf) => {
          count(`route:${route.method} ${route.url}`);
          let i = 0;
          const path = route.url.replace(/:[A-Za-z]+|\*/g, () => values[i++]!);
          const url = path + (query === undefined ? '' : `?${encodeURIComponent(query)}`);
          const before = await digestParts();
          const encoded =
            route.method === 'GET'
              ? { payload: undefined, headers: {} }
              : encodeBody(body, withCsrf ? csrf : null);
          let response: LightMyRequestResponse;
          try {
            response = await send({
              method: route.method as 'GET',
              url,
              payload: encoded.payload,
              headers: { ...encoded.headers, cookie: cookieHeader(cookies) },
            });
          } catch (error) {
            if (/Invalid URL|invalid/i.test(String(error))) return;
            throw error;
          }
          assertNoPrototypePollution();
          const what = `${route.method} ${url} ${body.kind}`;
          expect(response.statusCode, what).toBeLessThan(500);
          if (route.method === 'GET') {
            expect(await digestParts(), what).toEqual(before);
            return;
          }
          if (!withCsrf) expect([400, 403, 413, 415], what).toContain(response.statusCode);
          // Too large, unless the address itself is unreadable: that is refused before the body is read.
          if (body.kind === 'oversized') expect(response.statusCode, what).toBe(decodable(path) ? 413 : 400);
          if (response.statusCode >= 400) {
            count('route:refused');
            expect(await digestParts(), what).toEqual(before);
          } else if (route.url.endsWith('/decline')) {
            count('route:declined');
            await checkDeclinedAndReset(liveInvitation, before);
          } else {
            count('route:saved');
            expect(response.statusCode, what).toBe(303);
            await draftIsClean(live);
          }
        },
      );
      await fc.assert(property, { numRuns: route.method === 'GET' ? 30 : 80, seed: 2211 });
    }
    expect(await invitationStatus(liveInvitation)).toBe('sent');
    const counts = await rowCounts(t.db);
    expect(counts['responses']).toBe(0);
  });
});
