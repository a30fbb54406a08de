import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRepository } from '@panorama/db';
import {
  InstrumentError,
  newToken,
  openOutbox,
  parseInstrument,
  tokenMac,
  ValidationError,
  type Instrument,
} from '@panorama/domain';
import {
  COMMENT_COLUMNS,
  importResponses,
  importRoster,
  parseRosterCsv,
  RESPONSE_COLUMNS,
  ROSTER_COLUMNS,
} from '@panorama/report';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { openNominations, UNSAFE_TEXT } from '../../services/report/src/admin/nominations.ts';
import { createProgramme, keys, rosterCsv, SURVEY_URL } from '../support/scenario.ts';
import { sessionFor } from '../support/report-pages-seed.ts';
import { bodyKinds, encodeBody, fieldKeys, hostileText, type FuzzBody } from './fuzz-arbitraries.ts';
import {
  assertNoPrototypePollution,
  contentDigest,
  cookieHeader,
  csrfOf,
  freshIp,
  keepCookies,
  recordTotals,
  reportApp,
  routesOf,
  rowCounts,
} from './support.ts';

let t: TestDatabase;
let app: FastifyInstance;
let scenario: Awaited<ReturnType<typeof createProgramme>>;
let subjectId = '';
/** The nomination link emailed to the leader dana, and her session: the leader's side of the app, live. */
let nominationToken = '';
let leaderSession = '';
let hrPersonId = '';
const jar = new Map<string, string>();
let csrf = '';
const totals: Record<string, number> = {};
const count = (name: string, by = 1) => (totals[name] = (totals[name] ?? 0) + by);

beforeAll(async () => {
  t = await createTestDatabase();
  scenario = await createProgramme(t.db, { followUp: true });
  await importRoster(t.db, {
    cycleId: scenario.followUp!.id,
    rows: parseRosterCsv(rosterCsv(['dana', 'eli', 'fay', 'gus'])),
  });
  subjectId = (await t.db.selectFrom('subjects').select('id').executeTakeFirstOrThrow()).id;
  await openNominations(
    { db: t.db, keys, reportBaseUrl: 'http://report.test', surveyBaseUrl: SURVEY_URL },
    scenario.followUp!.id,
    { manager: 1, peer: 3, direct_report: 0, other: 0 },
  );
  const email = await t.db
    .selectFrom('email_outbox')
    .select('payload')
    .where('template', '=', 'nomination')
    .where('to_address', '=', 'dana@acme.test')
    .executeTakeFirstOrThrow();
  const link = (JSON.parse(openOutbox(keys, email.payload!)) as { data: { link: string } }).data.link;
  nominationToken = link.split('/').pop()!;
  leaderSession = await sessionFor(t.db, 'dana@acme.test');
  hrPersonId = scenario.hr.id;
  app = await reportApp(t.db);
  jar.set('panorama_session', await sessionFor(t.db, scenario.hr.email));
  const page = await app.inject({ method: 'GET', url: '/admin', headers: { cookie: cookieHeader(jar) } });
  keepCookies(jar, page);
  csrf = csrfOf(page.body)!;
  expect(csrf).toBeTruthy();
}, 120_000);
afterAll(async () => {
  recordTotals('fuzz-report', totals);
  await app?.close();
  await t?.drop();
});

/** A route's URL with each `:param` replaced by a fuzzed value (a real id some of the time). */
function fillParams(url: string, values: string[]): string {
  let i = 0;
  return url.replace(/:[A-Za-z]+/g, () => values[i++] ?? 'x');
}

const paramValue = () =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'ID:cycle',
        'ID:subject',
        'ID:programme',
        'ID:random',
        'ID:nomination-token',
        'ID:sign-in-token',
      ),
    },
    { weight: 3, arbitrary: hostileText().map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, ''))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%00',
        '%FF',
        "1'%20or%201=1",
        '00000000-0000-0000-0000-000000000000',
        'A'.repeat(43),
        'x'.repeat(5000),
        '..%2F..%2Fetc%2Fpasswd',
      ),
    },
  );

/** The first parameter: for a link route, mostly its live token, so that the route's own code is fuzzed. */
function liveFirst(url: string): fc.Arbitrary<string> {
  const live = url.startsWith('/nominate/:token')
    ? 'ID:nomination-token'
    : url.startsWith('/sign-in/:token')
      ? 'ID:sign-in-token'
      : undefined;
  return live ? fc.oneof({ weight: 3, arbitrary: fc.constant(live) }, paramValue()) : paramValue();
}

/** A fuzzed parameter with the live ids and tokens put in; a sign-in token is created fresh (it is spent). */
async function resolveIds(value: string): Promise<string> {
  switch (value) {
    case 'ID:nomination-token':
      return nominationToken;
    case 'ID:sign-in-token': {
      const token = newToken();
      await sessionRepository.createSignInToken(t.db, {
        tokenHash: tokenMac(keys.signIn, token),
        personId: hrPersonId,
        expiresAt: new Date(Date.now() + 600_000),
      });
      return token;
    }
    case 'ID:cycle':
      return scenario.baseline.id;
    case 'ID:subject':
      return subjectId;
    case 'ID:programme':
      return scenario.programme.id;
    case 'ID:random':
      return randomUUID();
    default:
      return value;
  }
}

const hostileEmail = fc.oneof(
  hostileText().map((s) => `${s}@acme.test`),
  fc.constantFrom(
    'hr@acme.test\u0000',
    'a\u0000b@acme.test',
    'hr@acme.test%00',
    '\u202Ehr@acme.test',
    'HR@ACME.TEST',
  ),
  fc.emailAddress(),
);
const hostileDate = fc.constantFrom(
  '2030-01-01',
  '2030-13-01',
  '2030-02-31',
  '0000-01-01',
  '9999-12-31',
  '2030-1-1',
  '',
);
const hostileNumber = fc.oneof(
  fc.constantFrom('3', '0', '-1', '1e3', '3.5', 'NaN', 'Infinity', '', '99999999999999999999'),
  hostileText(),
);

/** Bodies close to what each form sends, so that the handlers' own validation is fuzzed, not only the parsers. */
function nearValidBody(url: string): fc.Arbitrary<FuzzBody> {
  const form = (fields: fc.Arbitrary<Record<string, string>>) =>
    fields.map((f) => ({ kind: 'form' as const, pairs: Object.entries(f) }));
  if (url === '/sign-in') return form(fc.record({ email: hostileEmail }));
  if (url === '/admin/programmes')
    return form(
      fc.record({ name: hostileText(), baseline_closes: hostileDate, follow_up_closes: hostileDate }),
    );
  if (url.endsWith('/nominations'))
    return form(
      fc.record({
        min_manager: hostileNumber,
        min_peer: hostileNumber,
        min_direct_report: hostileNumber,
        min_other: hostileNumber,
      }),
    );
  if (url.startsWith('/nominate/') || url.startsWith('/nominations/'))
    return form(
      fc.record({
        action: fc.constantFrom('submit', 'withdraw', 'approve', 'add', ''),
        invitation: fc.oneof(fc.uuid(), hostileText()),
        name_0: hostileText(),
        email_0: hostileEmail,
        relationship_0: fc.constantFrom('peer', 'manager', 'self', '__proto__', 'boss'),
      }),
    );
  return form(fc.record({ action: hostileText() }));
}

const isUtf8 = (bytes: Uint8Array) => Buffer.from(Buffer.from(bytes).toString('utf8')).equals(bytes);

/** Bodies the app must refuse with a 4xx whatever the route, viewer or CSRF token: why, or undefined. */
function mustRefuse(body: FuzzBody): string | undefined {
  if (body.kind === 'raw-bytes' && !isUtf8(body.bytes)) return 'not-utf8';
  if (body.kind === 'json' && /"__proto__"\s*:/.test(body.json)) return 'json-proto';
  if (body.kind === 'form' || body.kind === 'raw-bytes') {
    const names = body.pairs.map(([k]) => k);
    if (new Set(names).size < names.length) return 'duplicate-field';
  }
  if (body.kind === 'other-type') return 'wrong-content-type';
  return undefined;
}

/** Names and emails of every person: whatever a form stored follows the roster's rule for text. */
async function storedPeopleAreClean(what: string) {
  for (const person of await t.db.selectFrom('people').select(['name', 'email']).execute()) {
    expect(person.name, what).not.toMatch(UNSAFE_TEXT);
    expect(person.email, what).not.toMatch(UNSAFE_TEXT);
  }
}

describe('fuzzing every route of the report service', () => {
  it('answers malformed parameters, queries and bodies with a 4xx (never a 5xx) and stores nothing then', async () => {
    const routes = routesOf(app).filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/assets/'));
    expect(routes.length).toBeGreaterThan(20);
    const keys = fieldKeys(
      [],
      ['name', 'baseline_closes', 'follow_up_closes', 'email', 'min_peer', 'action', 'invitation'],
    );
    for (const route of routes) {
      const property = fc.asyncProperty(
        fc.tuple(liveFirst(route.url), paramValue(), paramValue()),
        fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
        fc.oneof(bodyKinds(keys, 3 * 1024 * 1024), nearValidBody(route.url)),
        fc.boolean(),
        fc.constantFrom('hr', 'leader'),
        async (params, query, body, withCsrf, viewer) => {
          count('routes:cases');
          if (route.method === 'POST') count(`routes:body ${body.kind}`);
          const ids: string[] = [];
          for (const p of params) ids.push(await resolveIds(p));
          const url =
            fillParams(route.url, ids) + (query === undefined ? '' : `?${encodeURIComponent(query)}`);
          const cookies = new Map(jar);
          if (viewer === 'leader') cookies.set('panorama_session', leaderSession);
          // Signing out ends the session it is sent with: give it one of its own.
          if (route.url === '/sign-out')
            cookies.set(
              'panorama_session',
              await sessionFor(t.db, viewer === 'leader' ? 'dana@acme.test' : scenario.hr.email),
            );
          const before = await contentDigest(t.db);
          const encoded =
            route.method === 'GET'
              ? { payload: undefined, headers: {} }
              : encodeBody(body, withCsrf ? csrf : null);
          let response: LightMyRequestResponse;
          try {
            response = await app.inject({
              method: route.method as 'GET',
              url,
              remoteAddress: freshIp(),
              payload: encoded.payload,
              headers: { ...encoded.headers, cookie: cookieHeader(cookies), accept: 'text/html' },
            });
          } catch (error) {
            if (/Invalid URL/i.test(String(error))) return;
            throw error;
          }
          assertNoPrototypePollution();
          const what = `${viewer} ${route.method} ${url} ${JSON.stringify(body).slice(0, 300)}`;
          expect(response.statusCode, what).toBeLessThan(500);
          if (route.method === 'POST' && body.kind === 'oversized') expect(response.statusCode).toBe(413);
          if (route.method === 'POST' && !withCsrf) expect(response.statusCode).toBeGreaterThanOrEqual(400);
          const refuse = route.method === 'POST' ? mustRefuse(body) : undefined;
          if (refuse) {
            count(`routes:must-refuse ${refuse}`);
            expect(response.statusCode, `${refuse}: ${what}`).toBeGreaterThanOrEqual(400);
          }
          if (response.statusCode >= 400) {
            count('routes:refused');
            expect(await contentDigest(t.db), what).toBe(before);
          } else if (route.method === 'POST') {
            count(`routes:accepted ${route.method} ${route.url}`);
            await storedPeopleAreClean(what);
          } else if (route.url.includes(':token')) {
            count(`routes:accepted ${route.method} ${route.url}`);
          }
        },
      );
      await fc.assert(property, { numRuns: route.method === 'POST' ? 60 : 25, seed: 1122 });
    }
    // The live links were reached, on both methods: not only their 404 was fuzzed.
    for (const reached of [
      'GET /nominate/:token',
      'POST /nominate/:token',
      'GET /sign-in/:token',
      'POST /sign-in/:token',
    ])
      expect(totals[`routes:accepted ${reached}`] ?? 0, reached).toBeGreaterThan(0);
  });
});

describe('malformed query strings', () => {
  // Each was answered 200 with the parameter dropped or mangled before the query guard.
  const MALFORMED = ['a=%', 'released[]=1&released[]=2', 'x=%ZZ', '%E0%A4%A=1', 'released&released', 'q=%00'];

  it('refuses them on every GET route with a 400 page naming the problem', async () => {
    const routes = routesOf(app).filter((r) => r.method === 'GET' && !r.url.startsWith('/assets/'));
    const ids = await Promise.all(['ID:programme', 'ID:subject', 'ID:cycle'].map(resolveIds));
    for (const route of routes) {
      for (const query of MALFORMED) {
        count('query:cases');
        const url = `${fillParams(route.url, ids)}?${query}`;
        const response = await app.inject({
          method: 'GET',
          url,
          remoteAddress: freshIp(),
          headers: { cookie: cookieHeader(jar), accept: 'text/html' },
        });
        expect(response.statusCode, url).toBe(400);
        expect(response.body, url).toContain('The address could not be read.');
        expect(response.body, url).toMatch(
          /not a valid percent-encoded|was sent more than once|NUL character/,
        );
      }
    }
  });

  it('refuses them on the HR programme page by name, and answers JSON on the API', async () => {
    const page = await app.inject({
      method: 'GET',
      url: `/hr/programmes/${scenario.programme.id}?x=%ZZ`,
      headers: { cookie: cookieHeader(jar), accept: 'text/html' },
    });
    expect(page.statusCode).toBe(400);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<li>');
    expect(
      (await app.inject({ method: 'GET', url: `/hr/programmes/${scenario.programme.id}?x=1` })).statusCode,
    ).not.toBe(400);
    const api = await app.inject({
      method: 'GET',
      url: `/api/programmes/${scenario.programme.id}/cohort?released[]=1&released[]=2`,
      headers: { cookie: cookieHeader(jar) },
    });
    expect(api.statusCode).toBe(400);
    expect(api.json()).toMatchObject({
      problems: [{ path: 'released[]', message: 'was sent more than once' }],
    });
  });

  it('any repeated or undecodable name in a random query is refused, anything else is not', async () => {
    const part = fc.oneof(
      fc.constantFrom('a', 'b', 'released', 'x%20y', '%', '%Z', '%ZZ', '%C3%A9', '%C3', '', '%2', '+'),
      fc.stringMatching(/^[a-z0-9]{1,6}$/),
    );
    const property = fc.asyncProperty(
      fc.array(fc.tuple(part, part), { minLength: 1, maxLength: 4 }),
      async (pairs) => {
        count('query:random');
        const names = pairs.map(([n]) => n);
        const decodes = (text: string) => {
          try {
            decodeURIComponent(text);
            return true;
          } catch {
            return false;
          }
        };
        const decoded = names.filter(decodes).map((n) => decodeURIComponent(n.replace(/\+/g, ' ')));
        const malformed =
          pairs.some(([n, v]) => !decodes(n) || !decodes(v)) || new Set(decoded).size < decoded.length;
        const query = pairs.map(([n, v]) => `${n}=${v}`).join('&');
        const response = await app.inject({
          method: 'GET',
          url: `/sign-in?${query}`,
          remoteAddress: freshIp(),
        });
        expect(response.statusCode === 400, query).toBe(malformed);
      },
    );
    await fc.assert(property, { numRuns: 200, seed: 7 });
  });
});

// Control characters (other than tab and newlines), bidi overrides and U+FFFD: never in stored text.
// eslint-disable-next-line no-control-regex
const UNSAFE_STORED = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD]/;

/** Roster files: valid, broken and hostile headers and cells. */
function rosterFiles() {
  const header = fc.oneof(
    { weight: 8, arbitrary: fc.constant([...ROSTER_COLUMNS]) },
    {
      weight: 2,
      arbitrary: fc
        .shuffledSubarray([...ROSTER_COLUMNS, '__proto__', 'constructor', 'leader_email', 'notes', ''], {
          minLength: 1,
        })
        .map((cols) => cols.map((c) => c)),
    },
  );
  const email = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        'dana@acme.test',
        'eli@acme.test',
        'peer1@acme.test',
        'DANA@ACME.TEST',
        'boss@acme.test',
      ),
    },
    fc.emailAddress(),
    hostileText(),
    hostileText().map((s) => `${s}@acme.test`),
  );
  const name = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('Dana Lee', 'Eli', 'Peer') },
    hostileText(),
    fc.constantFrom('x'.repeat(10_000), 'nul\u0000name', '\u202Eevil', 'مرحبا\u200B', '=HYPERLINK("x")'),
  );
  const relationship = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('self', 'manager', 'peer', 'direct_report', 'other') },
    fc.constantFrom('Peer', 'boss', '', '__proto__'),
    hostileText(),
  );
  const row = fc.tuple(email, name, email, name, email, name, relationship);
  const quote = (cell: string) => (/[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell);
  return fc
    .tuple(
      header,
      fc.array(row, { maxLength: 4 }),
      fc.boolean(),
      fc.constantFrom('\n', '\r\n'),
      fc.nat(9).map((n) => n === 0),
    )
    .map(([cols, rows, bom, eol, breakQuotes]) => {
      const lines = [cols.join(','), ...rows.map((r) => r.slice(0, cols.length).map(quote).join(','))];
      let text = (bom ? '\uFEFF' : '') + lines.join(eol);
      if (breakQuotes) text += `${eol}"unterminated,${eol}`;
      return text;
    });
}

describe('fuzzing the roster import', () => {
  it('parses or refuses with a ValidationError; what it accepts imports cleanly', async () => {
    const cycle = (await createProgramme(t.db)).baseline;
    const property = fc.asyncProperty(rosterFiles(), async (csv) => {
      count('roster:cases');
      let rows: ReturnType<typeof parseRosterCsv>;
      try {
        rows = parseRosterCsv(csv);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        count('roster:refused');
        assertNoPrototypePollution();
        return;
      }
      count('roster:accepted');
      const before = await rowCounts(t.db);
      try {
        await importRoster(t.db, { cycleId: cycle.id, rows });
      } catch (error) {
        // A refusal is fine only as a domain error, and then nothing is stored.
        expect((error as Error).constructor.name).toMatch(/ValidationError|ConflictError/);
        expect(await rowCounts(t.db)).toEqual(before);
      }
      assertNoPrototypePollution();
    });
    await fc.assert(property, { numRuns: 400, seed: 99 });
  });

  it('the multipart upload refuses hostile files with a 4xx, and stores nothing then', async () => {
    const cycle = (await createProgramme(t.db)).baseline;
    const property = fc.asyncProperty(rosterFiles(), fc.boolean(), async (csv, withCsrf) => {
      count('roster-upload:cases');
      const boundary = '----roster' + Math.random().toString(16).slice(2);
      const payload =
        (withCsrf ? `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n` : '') +
        `--${boundary}\r\nContent-Disposition: form-data; name="roster"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--${boundary}--\r\n`;
      const before = await contentDigest(t.db);
      const response = await app.inject({
        method: 'POST',
        url: `/admin/cycles/${cycle.id}/roster`,
        payload,
        remoteAddress: freshIp(),
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          cookie: cookieHeader(jar),
          accept: 'text/html',
        },
      });
      expect(response.statusCode).toBeLessThan(500);
      if (!withCsrf) expect(response.statusCode).toBe(403);
      if (response.statusCode >= 400) expect(await contentDigest(t.db)).toBe(before);
      assertNoPrototypePollution();
    });
    await fc.assert(property, { numRuns: 150, seed: 5 });
  });
});

describe('fuzzing the response import', () => {
  it('imports a valid file or refuses with a ValidationError listing problems, storing nothing', async () => {
    const { baseline, instrument } = await createProgramme(t.db);
    await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv(['hal'])) });
    const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
    // Mostly valid cells, so that whole files are sometimes accepted and the stored text can be checked.
    const cell = (valid: fc.Arbitrary<string>) =>
      fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: hostileText() });
    const quote = (c: string) => (/[",\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c);
    const ratingRow = fc.tuple(
      cell(fc.constantFrom('hal@acme.test', 'hal@acme.test', 'hal@acme.test', 'nobody@acme.test')),
      cell(fc.constantFrom('peer', 'manager', 'other', 'self')),
      cell(fc.constantFrom('k1', 'k2', 'k3', '__proto__', 'constructor')),
      cell(
        fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...items) }, fc.constantFrom('nope', '__proto__')),
      ),
      cell(
        fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom('1', '3', '5', 'NA') },
          fc.constantFrom('0', '6', '2.5', ''),
        ),
      ),
    );
    const commentRow = fc.tuple(
      cell(fc.constantFrom('hal@acme.test')),
      cell(fc.constantFrom('peer', 'self')),
      cell(fc.constantFrom('k1', 'k2')),
      cell(fc.constantFrom(...instrument.questions.map((q) => q.id), 'nope')),
      fc.oneof(
        hostileText(),
        fc.constant('x'.repeat(1024 * 1024)),
        fc.constantFrom(
          'Great\u200B work',
          'مرحبا',
          'ok \u202Eevil',
          'nul\u0000byte',
          'e\u0301',
          '\uD800 lone',
        ),
      ),
    );
    const csv = (header: readonly string[], rows: string[][]) =>
      [header.join(','), ...rows.map((r) => r.map(quote).join(','))].join('\n');
    const property = fc.asyncProperty(
      fc.array(ratingRow, { maxLength: 6 }),
      fc.option(fc.array(commentRow, { maxLength: 4 }), { nil: undefined }),
      fc.boolean(),
      async (ratings, comments, brokenHeader) => {
        count('responses-import:cases');
        const before = await contentDigest(t.db);
        try {
          await importResponses(t.db, {
            cycleId: baseline.id,
            responsesCsv: csv(brokenHeader ? ['__proto__', ...RESPONSE_COLUMNS] : RESPONSE_COLUMNS, ratings),
            commentsCsv: comments && csv(COMMENT_COLUMNS, comments),
          });
          count('responses-import:accepted');
          // What was accepted is clean text: no control characters, bidi overrides or invalid UTF-8.
          const stored = await t.db.selectFrom('response_comments').select('body').execute();
          for (const { body } of stored) {
            expect(body).not.toMatch(UNSAFE_STORED);
            expect([...body].length).toBeLessThanOrEqual(2000);
          }
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(ValidationError);
          expect(await contentDigest(t.db)).toBe(before);
          count('responses-import:refused');
        }
        assertNoPrototypePollution();
      },
    );
    await fc.assert(property, { numRuns: 250, seed: 31 });
  });
});

describe('fuzzing instrument definitions', () => {
  const flagship = readFileSync(
    path.resolve(import.meta.dirname, '../../surveys/leadership-360/instrument.yaml'),
    'utf8',
  );
  const asJson = JSON.stringify(parseInstrument(flagship, 'instrument.yaml'));

  /** Mutations of the real definition: a line dropped, duplicated or replaced, a value swapped for junk. */
  const mutated = fc
    .tuple(
      fc.constantFrom('yaml', 'json'),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.constantFrom('drop', 'dup', 'replace', 'insert'),
          fc.oneof(
            hostileText(),
            fc.constantFrom(
              '__proto__: { polluted: yes }',
              'constructor: { prototype: { polluted: yes } }',
              '"__proto__": {"polluted": 1},',
              '  - id: communication.lets_others_finish',
              'id: [1, 2]',
              'version: -1',
              'min: 5',
              '*anchor',
              '&a [*a]',
              '!!js/function "function(){}"',
              '<<: *base',
            ),
          ),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([format, edits]) => {
      const lines = (format === 'yaml' ? flagship : JSON.stringify(JSON.parse(asJson), null, 1)).split('\n');
      for (const [at, op, text] of edits) {
        const i = at % lines.length;
        if (op === 'drop') lines.splice(i, 1);
        else if (op === 'dup') lines.splice(i, 0, lines[i]!);
        else if (op === 'replace') lines[i] = text;
        else lines.splice(i, 0, text);
      }
      return { source: lines.join('\n'), file: `instrument.${format}` };
    });
  const random = fc.record({
    source: fc.oneof(fc.string({ maxLength: 500 }), fc.json(), hostileText()),
    file: fc.constantFrom('instrument.yaml', 'instrument.json', 'instrument.yml', 'instrument.txt'),
  });

  it('parses to a frozen instrument or throws one InstrumentError listing every problem', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, random), ({ source, file }) => {
        count('instrument:cases');
        let parsed: Instrument;
        try {
          parsed = parseInstrument(source, file);
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(InstrumentError);
          expect((error as InstrumentError).problems.length).toBeGreaterThan(0);
          count('instrument:refused');
          assertNoPrototypePollution();
          return;
        }
        count('instrument:accepted');
        expect(Object.isFrozen(parsed)).toBe(true);
        expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
        const ids = parsed.competencies.flatMap((c) => [c.id, ...c.items.map((i) => i.id)]);
        expect(new Set(ids).size).toBe(ids.length);
        assertNoPrototypePollution();
      }),
      { numRuns: 1500, seed: 8 },
    );
  });
});
