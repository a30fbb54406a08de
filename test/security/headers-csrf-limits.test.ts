import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRepository } from '@panorama/db';
import { newToken, safeEqual, tokenMac } from '@panorama/domain';
import { FORM_BODY_LIMIT } from '@panorama/survey';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { sessionFor } from '../support/report-pages-seed.ts';
import { keys } from '../support/scenario.ts';
import {
  contentDigest,
  cookieHeader,
  csrfOf,
  freshIp,
  keepCookies,
  NO_RATE_LIMITS,
  reportApp,
  routesOf,
  STATE_CHANGING,
  surveyApp,
  type RouteEntry,
} from './support.ts';

let t: TestDatabase;
let cycle: Awaited<ReturnType<typeof openSurveyCycle>>;
let survey: FastifyInstance;
let surveyHttps: FastifyInstance;
let report: FastifyInstance;
let reportHttps: FastifyInstance;
let hrEmail = '';
let hrId = '';

beforeAll(async () => {
  t = await createTestDatabase();
  cycle = await openSurveyCycle(t.db, { peers: 3 });
  survey = await surveyApp(t.db, { rateLimits: NO_RATE_LIMITS });
  surveyHttps = await surveyApp(t.db, {
    rateLimits: NO_RATE_LIMITS,
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: 'test-secret-'.padEnd(48, 'x'),
      SURVEY_PUBLIC_URL: 'https://survey.example.org',
      TRUST_PROXY: false,
    },
  });
  report = await reportApp(t.db);
  reportHttps = await reportApp(t.db, { REPORT_PUBLIC_URL: 'https://report.example.org' });
  const hr = await t.db
    .selectFrom('people')
    .innerJoin('user_roles', 'user_roles.person_id', 'people.id')
    .select(['people.id', 'people.email'])
    .where('user_roles.role', '=', 'admin')
    .executeTakeFirstOrThrow();
  hrEmail = hr.email;
  hrId = hr.id;
}, 120_000);
afterAll(async () => {
  await Promise.all([survey, surveyHttps, report, reportHttps].map((a) => a?.close()));
  await t?.drop();
});

function cookieAttributes(response: LightMyRequestResponse, name: string): string {
  const raw = [response.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith(`${name}=`));
  if (!raw) throw new Error(`no ${name} cookie set`);
  return raw;
}

function expectStrictHeaders(response: LightMyRequestResponse, label: string) {
  const csp = String(response.headers['content-security-policy']);
  expect(csp, label).toContain("default-src 'self'");
  expect(csp, label).toContain("script-src 'self'");
  expect(csp, label).toContain("frame-ancestors 'none'");
  expect(csp, label).toContain("object-src 'none'");
  expect(csp, label).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  expect(response.headers['x-content-type-options'], label).toBe('nosniff');
}

describe('security headers', () => {
  it('survey pages: strict CSP, no referrer, nosniff; HSTS only behind https', async () => {
    const token = cycle.tokens.peers[0]!;
    for (const url of [`/s/${token}`, `/s/${token}/7`, `/s/${newToken()}`, '/thanks', '/']) {
      const response = await survey.inject({ method: 'GET', url, remoteAddress: freshIp() });
      expectStrictHeaders(response, url);
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
      expect(response.headers['strict-transport-security'], url).toBeUndefined();
      const secure = await surveyHttps.inject({ method: 'GET', url, remoteAddress: freshIp() });
      expect(secure.headers['strict-transport-security'], url).toMatch(/max-age=31536000/);
      expect(secure.headers['referrer-policy'], url).toBe('no-referrer');
    }
  });

  it('report pages: strict CSP, nosniff, a referrer policy; HSTS only behind https', async () => {
    for (const url of ['/sign-in', '/reports/x', '/api/subjects/x/profile', '/nominate/x']) {
      const response = await report.inject({ method: 'GET', url });
      expectStrictHeaders(response, url);
      expect(response.headers['referrer-policy'], url).toMatch(/no-referrer|same-origin/);
      expect(response.headers['strict-transport-security'], url).toBeUndefined();
      const secure = await reportHttps.inject({ method: 'GET', url });
      expect(secure.headers['strict-transport-security'], url).toMatch(/max-age=31536000/);
    }
  });
});

describe('cookies', () => {
  it('the survey CSRF cookie is HttpOnly and SameSite=Strict, and Secure behind https', async () => {
    const url = `/s/${cycle.tokens.peers[0]}`;
    const plain = cookieAttributes(
      await survey.inject({ method: 'GET', url, remoteAddress: freshIp() }),
      'panorama-csrf',
    );
    expect(plain).toMatch(/; HttpOnly/);
    expect(plain).toMatch(/; SameSite=Strict/);
    expect(plain).not.toMatch(/; Secure/);
    const secure = cookieAttributes(
      await surveyHttps.inject({ method: 'GET', url, remoteAddress: freshIp() }),
      'panorama-csrf',
    );
    expect(secure).toMatch(/; HttpOnly/);
    expect(secure).toMatch(/; SameSite=Strict/);
    expect(secure).toMatch(/; Secure/);
  });

  it('the staff session and CSRF cookies are HttpOnly, SameSite, and Secure behind https', async () => {
    for (const [app, secure] of [
      [report, false],
      [reportHttps, true],
    ] as const) {
      const token = newToken();
      await sessionRepository.createSignInToken(t.db, {
        tokenHash: tokenMac(keys.signIn, token),
        personId: hrId,
        expiresAt: new Date(Date.now() + 600_000),
      });
      const jar = new Map<string, string>();
      const confirm = await app.inject({ method: 'GET', url: `/sign-in/${token}` });
      keepCookies(jar, confirm);
      const csrfCookie = cookieAttributes(confirm, 'panorama-csrf');
      const signedIn = await app.inject({
        method: 'POST',
        url: `/sign-in/${token}`,
        payload: `_csrf=${encodeURIComponent(csrfOf(confirm.body)!)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
      });
      expect(signedIn.statusCode).toBe(303);
      const session = cookieAttributes(signedIn, 'panorama_session');
      for (const cookie of [csrfCookie, session]) {
        expect(cookie).toMatch(/; HttpOnly/);
        expect(cookie).toMatch(/; SameSite=(Strict|Lax)/);
        if (secure) expect(cookie).toMatch(/; Secure/);
        else expect(cookie).not.toMatch(/; Secure/);
      }
    }
  });
});

/** Concrete URLs for a route pattern: live ids and tokens, so that a refusal is the CSRF check's doing. */
async function concreteUrl(route: RouteEntry): Promise<string> {
  const subject = await t.db.selectFrom('subjects').select('id').executeTakeFirstOrThrow();
  const signIn = newToken();
  await sessionRepository.createSignInToken(t.db, {
    tokenHash: tokenMac(keys.signIn, signIn),
    personId: hrId,
    expiresAt: new Date(Date.now() + 600_000),
  });
  return route.url
    .replace(':token/:step', `${cycle.tokens.peers[1]}/1`)
    .replace(/^\/s\/:token/, `/s/${cycle.tokens.peers[1]}`)
    .replace(/^\/sign-in\/:token/, `/sign-in/${signIn}`)
    .replace(/^\/nominate\/:token/, `/nominate/${newToken()}`)
    .replace(':subjectId', subject.id)
    .replace(':id', cycle.cycleId)
    .replace(':programmeId', 'x');
}

describe('CSRF on every state-changing route', () => {
  for (const [name, app] of [
    ['survey', () => survey],
    ['report', () => report],
  ] as const) {
    it(`${name}: every POST/PUT/PATCH/DELETE refuses a missing or forged token with 403 and changes nothing`, async () => {
      const routes = routesOf(app()).filter((r) => STATE_CHANGING.has(r.method));
      expect(routes.length).toBeGreaterThan(name === 'survey' ? 1 : 9);
      // A signed-in admin with a real CSRF cookie: only the token itself is missing or wrong.
      const jar = new Map<string, string>();
      if (name === 'report') jar.set('panorama_session', await sessionFor(t.db, hrEmail));
      const page = await app().inject({
        method: 'GET',
        url: name === 'report' ? '/admin' : `/s/${cycle.tokens.peers[1]}`,
        remoteAddress: freshIp(),
        headers: { cookie: cookieHeader(jar) },
      });
      keepCookies(jar, page);
      const realToken = csrfOf(page.body)!;
      expect(realToken).toBeTruthy();
      const other = await app().inject({
        method: 'GET',
        url: name === 'report' ? '/sign-in' : `/s/${cycle.tokens.peers[2]}`,
      });
      const otherToken = csrfOf(other.body)!;
      const checked: string[] = [];
      for (const route of routes) {
        const url = await concreteUrl(route);
        for (const [label, token] of [
          ['missing', null],
          ['empty', ''],
          ['forged', 'x'.repeat(52)],
          ['mangled', realToken.slice(0, -2) + (realToken.endsWith('AA') ? 'BB' : 'AA')],
          ['from another cookie', otherToken],
        ] as const) {
          for (const contentType of [
            'application/x-www-form-urlencoded',
            'application/json',
            'multipart/form-data; boundary=b',
          ]) {
            if (name === 'survey' && contentType !== 'application/x-www-form-urlencoded') continue;
            const fields = {
              action: 'save',
              name: 'Evil',
              baseline_closes: '2030-01-01',
              email: hrEmail,
              roster: 'x',
            };
            const withToken: Record<string, string> = token === null ? fields : { ...fields, _csrf: token };
            const payload = contentType.startsWith('application/json')
              ? JSON.stringify(withToken)
              : contentType.startsWith('multipart')
                ? Object.entries(withToken)
                    .map(([k, v]) => `--b\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
                    .join('') + '--b--\r\n'
                : new URLSearchParams(withToken).toString();
            const before = await contentDigest(t.db);
            const response = await app().inject({
              method: route.method as 'POST',
              url,
              payload,
              remoteAddress: freshIp(),
              headers: { 'content-type': contentType, cookie: cookieHeader(jar), accept: 'text/html' },
            });
            // 415 where the route does not parse that type at all (multipart is registered for the admin
            // routes only): the body is refused before anything reads it.
            const allowed = contentType.startsWith('multipart') ? [403, 415] : [403];
            expect(allowed, `${route.method} ${route.url} ${label} ${contentType}`).toContain(
              response.statusCode,
            );
            expect(await contentDigest(t.db), `${route.method} ${route.url} ${label}`).toBe(before);
          }
        }
        checked.push(`${route.method} ${route.url}`);
      }
      expect(checked.length).toBe(routes.length);
    });
  }
});

describe('size caps', () => {
  it('every POST route answers an oversized body with 413, whatever its type', async () => {
    const jar = new Map<string, string>([['panorama_session', await sessionFor(t.db, hrEmail)]]);
    for (const [name, app, size] of [
      ['survey', survey, FORM_BODY_LIMIT + 1024],
      ['survey', survey, 1024 * 1024],
      ['report', report, 3 * 1024 * 1024],
    ] as const) {
      const routes = routesOf(app).filter((r) => STATE_CHANGING.has(r.method));
      for (const route of routes) {
        const url = await concreteUrl(route);
        const big = 'x'.repeat(size);
        const bodies: [string, string][] = [
          ['application/x-www-form-urlencoded', `c.keep_doing=${big}&email=${big}`],
          ['application/json', JSON.stringify({ comment: big })],
          [
            'multipart/form-data; boundary=b',
            `--b\r\nContent-Disposition: form-data; name="roster"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n${big}\r\n--b--\r\n`,
          ],
          ['text/plain', big],
        ];
        for (const [contentType, payload] of bodies) {
          const before = await contentDigest(t.db);
          const response = await app.inject({
            method: 'POST',
            url,
            payload,
            remoteAddress: freshIp(),
            headers: { 'content-type': contentType, cookie: cookieHeader(jar) },
          });
          const label = `${name} ${route.url} ${contentType} ${size}`;
          // Types a service does not parse are refused before their size matters (415); everything it
          // parses is cut off at its limit (413).
          expect([413, 415], label).toContain(response.statusCode);
          if (name === 'report' && !/text\/plain|multipart/.test(contentType))
            expect(response.statusCode, label).toBe(413);
          if (name === 'report' && route.url.startsWith('/admin/') && contentType.startsWith('multipart'))
            expect(response.statusCode, label).toBe(413);
          if (name === 'survey' && contentType.startsWith('application/x-www'))
            expect(response.statusCode, label).toBe(413);
          expect(await contentDigest(t.db), label).toBe(before);
        }
      }
    }
  });

  it('the roster upload refuses a file over 2 MiB with 413 even with a valid CSRF token', async () => {
    const jar = new Map<string, string>([['panorama_session', await sessionFor(t.db, hrEmail)]]);
    const page = await report.inject({
      method: 'GET',
      url: '/admin',
      headers: { cookie: cookieHeader(jar) },
    });
    keepCookies(jar, page);
    const csrf = csrfOf(page.body)!;
    const row = 'dana@acme.test,Dana,,,peer@acme.test,Peer,peer\n';
    const csv =
      'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship\n' +
      row.repeat(Math.ceil((2.2 * 1024 * 1024) / row.length));
    const body =
      `--b\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n` +
      `--b\r\nContent-Disposition: form-data; name="roster"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--b--\r\n`;
    const before = await contentDigest(t.db);
    const response = await report.inject({
      method: 'POST',
      url: `/admin/cycles/${cycle.cycleId}/roster`,
      payload: body,
      headers: {
        'content-type': 'multipart/form-data; boundary=b',
        cookie: cookieHeader(jar),
        accept: 'text/html',
      },
    });
    expect(response.statusCode).toBe(413);
    expect(await contentDigest(t.db)).toBe(before);
  });
});

describe('constant-time comparison', () => {
  it('safeEqual agrees with equality on any two secrets, including different lengths', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(safeEqual(a, b)).toBe(a === b);
        expect(safeEqual(a, a)).toBe(true);
        expect(safeEqual(Buffer.from(a), Buffer.from(b))).toBe(Buffer.from(a).equals(Buffer.from(b)));
      }),
      { numRuns: 500, seed: 3 },
    );
    // A prefix is not equal, and a different length never throws (timingSafeEqual alone would).
    expect(safeEqual('token', 'token-longer')).toBe(false);
    expect(safeEqual(Buffer.alloc(0), Buffer.alloc(32))).toBe(false);
  });
});
