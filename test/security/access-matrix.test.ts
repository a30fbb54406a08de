import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personRepository, resultRepository, type Db } from '@panorama/db';
import { newToken } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { seedReports, sessionFor } from '../support/report-pages-seed.ts';
import { createProgramme } from '../support/scenario.ts';
import { cookieHeader, csrfOf, freshIp, keepCookies, reportApp, routesOf } from './support.ts';

/**
 * Every route of the report service × every kind of viewer, with the status each must get. The target is one
 * leader's report (subject S, the demo leader's baseline) that is released only for the last column, so
 * "leader before release" and "leader after release" are the same person at two moments.
 */
const ROLES = [
  'signedOut',
  'leaderBeforeRelease',
  'leaderAfterRelease',
  'otherLeader',
  'coach',
  'otherCoach',
  'hr',
  'otherOrgHr',
  'admin',
] as const;
type Role = (typeof ROLES)[number];
type Expect = Record<Role, number>;

const all = (status: number): Expect => Object.fromEntries(ROLES.map((r) => [r, status])) as Expect;
/** Signed out gets `out` (303 to sign-in for pages, 401 for the API); the listed roles `ok`; the rest 404. */
function only(roles: Role[], ok: number, out = 303): Expect {
  const e = all(404);
  e.signedOut = out;
  for (const r of roles) e[r] = ok;
  return e;
}
const STAFF: Role[] = ['hr', 'admin'];
const READERS_OF_S: Role[] = ['leaderAfterRelease', 'coach', 'hr', 'admin'];
const LEADERS: Role[] = ['leaderBeforeRelease', 'leaderAfterRelease', 'otherLeader'];
const SIGNED_IN = ROLES.filter((r) => r !== 'signedOut');

interface Row {
  method: 'GET' | 'POST';
  /** The route pattern, as Fastify knows it. */
  route: string;
  /** The concrete URL (ids filled in). */
  url: () => string;
  form?: Record<string, string> | (() => Record<string, string>);
  expect: Expect;
  /** Sign-out ends the session it is sent with: use a throwaway one. */
  throwawaySession?: boolean;
}

let t: TestDatabase;
let app: FastifyInstance;
const ids = { S: '', followUp: '', programme: '', cycle: '', nominationToken: newToken() };
const emails = {} as Record<Exclude<Role, 'signedOut'>, string>;

const TABLE: Row[] = [
  { method: 'GET', route: '/', url: () => '/', expect: all(303) },
  { method: 'GET', route: '/healthz', url: () => '/healthz', expect: all(200) },
  { method: 'GET', route: '/readyz', url: () => '/readyz', expect: all(200) },
  // Prometheus metrics need the scraper's bearer token (METRICS_TOKEN): request counts over time would
  // tell when raters submitted. No viewer sends it, so every viewer gets 401.
  { method: 'GET', route: '/metrics', url: () => '/metrics', expect: all(401) },
  { method: 'GET', route: '/assets/*', url: () => '/assets/panorama.css', expect: all(200) },
  { method: 'GET', route: '/sign-in', url: () => '/sign-in', expect: { ...all(303), signedOut: 200 } },
  {
    method: 'POST',
    route: '/sign-in',
    url: () => '/sign-in',
    // An address of its own per request: the limit is 5 a quarter-hour per address.
    form: () => ({ email: `nobody-${newToken().slice(0, 8)}@nowhere.example` }),
    expect: all(200),
  },
  { method: 'GET', route: '/sign-in/:token', url: () => `/sign-in/${newToken()}`, expect: all(404) },
  { method: 'POST', route: '/sign-in/:token', url: () => `/sign-in/${newToken()}`, expect: all(404) },
  { method: 'POST', route: '/sign-out', url: () => '/sign-out', expect: all(303), throwawaySession: true },
  { method: 'GET', route: '/me', url: () => '/me', expect: only(LEADERS, 200) },
  { method: 'GET', route: '/coach', url: () => '/coach', expect: only(['coach', 'otherCoach'], 200) },
  {
    method: 'GET',
    route: '/reports/:subjectId',
    url: () => `/reports/${ids.S}`,
    expect: only(READERS_OF_S, 200),
  },
  {
    method: 'POST',
    route: '/reports/:subjectId/release',
    // Another subject of the same leader, so releasing it does not change what the leader may read of S.
    url: () => `/reports/${ids.followUp}/release`,
    expect: only(['coach', 'hr', 'admin'], 303),
  },
  {
    method: 'GET',
    route: '/api/subjects/:subjectId/profile',
    url: () => `/api/subjects/${ids.S}/profile`,
    expect: only(READERS_OF_S, 200, 401),
  },
  {
    method: 'GET',
    route: '/api/programmes/:programmeId/cohort',
    url: () => `/api/programmes/${ids.programme}/cohort`,
    expect: only(STAFF, 200, 401),
  },
  {
    method: 'GET',
    route: '/api/programmes/:programmeId/subjects',
    url: () => `/api/programmes/${ids.programme}/subjects`,
    expect: only(STAFF, 200, 401),
  },
  {
    method: 'GET',
    route: '/api/programmes/:programmeId/profiles',
    url: () => `/api/programmes/${ids.programme}/profiles`,
    expect: only(STAFF, 200, 401),
  },
  { method: 'GET', route: '/hr', url: () => '/hr', expect: only([...STAFF, 'otherOrgHr'], 200) },
  {
    method: 'GET',
    route: '/hr/programmes/:programmeId',
    url: () => `/hr/programmes/${ids.programme}`,
    expect: only(STAFF, 200),
  },
  {
    method: 'GET',
    route: '/hr/programmes/:programmeId/export/cohort.csv',
    url: () => `/hr/programmes/${ids.programme}/export/cohort.csv`,
    expect: only(STAFF, 200),
  },
  {
    method: 'GET',
    route: '/hr/programmes/:programmeId/export/profiles.csv',
    url: () => `/hr/programmes/${ids.programme}/export/profiles.csv`,
    expect: only(STAFF, 200),
  },
  {
    method: 'GET',
    route: '/hr/programmes/:programmeId/export/changes.csv',
    url: () => `/hr/programmes/${ids.programme}/export/changes.csv`,
    expect: only(STAFF, 200),
  },
  { method: 'GET', route: '/admin', url: () => '/admin', expect: only([...STAFF, 'otherOrgHr'], 200) },
  // Admin posts carry a body the handler refuses (400) or target a closed cycle (409): an authorised
  // viewer is told why, everyone else gets the 404, and nothing changes either way.
  // HR of another organisation administers their own: the programme form is theirs too.
  {
    method: 'POST',
    route: '/admin/programmes',
    url: () => '/admin/programmes',
    form: { name: '' },
    expect: only([...STAFF, 'otherOrgHr'], 400),
  },
  {
    method: 'GET',
    route: '/admin/cycles/:id',
    url: () => `/admin/cycles/${ids.cycle}`,
    expect: only(STAFF, 200),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/roster',
    url: () => `/admin/cycles/${ids.cycle}/roster`,
    form: { roster: '' },
    expect: only(STAFF, 400),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/open',
    url: () => `/admin/cycles/${ids.cycle}/open`,
    expect: only(STAFF, 409),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/remind',
    url: () => `/admin/cycles/${ids.cycle}/remind`,
    expect: only(STAFF, 409),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/close',
    url: () => `/admin/cycles/${ids.cycle}/close`,
    expect: only(STAFF, 409),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/nominations',
    url: () => `/admin/cycles/${ids.cycle}/nominations`,
    form: { min_peer: '1' },
    expect: only(STAFF, 400),
  },
  {
    method: 'POST',
    route: '/admin/cycles/:id/nominations/:subjectId/resend',
    url: () => `/admin/cycles/${ids.cycle}/nominations/${ids.S}/resend`,
    // The leader was never asked to nominate (or the cycle is past it): nothing to resend.
    expect: only(STAFF, 409),
  },
  {
    method: 'GET',
    route: '/nominate/:token',
    url: () => `/nominate/${ids.nominationToken}`,
    expect: all(404),
  },
  {
    method: 'POST',
    route: '/nominate/:token',
    url: () => `/nominate/${ids.nominationToken}`,
    expect: all(404),
  },
  {
    method: 'GET',
    route: '/nominations',
    url: () => '/nominations',
    expect: only(['coach', 'otherCoach', 'hr', 'otherOrgHr', 'admin'], 200),
  },
  {
    method: 'GET',
    route: '/nominations/:subjectId',
    url: () => `/nominations/${ids.S}`,
    expect: only(['coach', 'hr', 'admin'], 200),
  },
  {
    method: 'POST',
    route: '/nominations/:subjectId',
    url: () => `/nominations/${ids.S}`,
    form: { action: 'nothing' },
    expect: only(['coach', 'hr', 'admin'], 400),
  },
];

async function subjectOf(db: Db, email: string, kind: 'baseline' | 'follow_up') {
  const row = await db
    .selectFrom('subjects')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .innerJoin('people', 'people.id', 'subjects.leader_id')
    .select(['subjects.id', 'subjects.cycle_id', 'people.organisation_id'])
    .where('people.email', '=', email)
    .where('cycles.kind', '=', kind)
    .executeTakeFirstOrThrow();
  return row;
}

async function person(db: Db, organisationId: string, email: string, role: 'hr' | 'admin') {
  const p = await personRepository.upsert(db, { organisationId, email, name: email });
  await personRepository.grantRole(db, p.id, role);
}

beforeAll(async () => {
  t = await createTestDatabase();
  const seeded = await seedReports(t.db);
  const { accounts } = seeded;
  const otherLeader = 'ben.carter@northwind.example.org';
  const S = await subjectOf(t.db, accounts.leader, 'baseline');
  ids.S = S.id;
  ids.cycle = S.cycle_id;
  ids.followUp = (await subjectOf(t.db, accounts.leader, 'follow_up')).id;
  ids.programme = seeded.programmeId;
  const otherCoach = await t.db
    .selectFrom('subjects')
    .innerJoin('people', 'people.id', 'subjects.coach_id')
    .select('people.email')
    .where('subjects.id', '=', (await subjectOf(t.db, otherLeader, 'baseline')).id)
    .executeTakeFirstOrThrow();
  // HR and admin as two separate people, so that each role is checked on its own.
  await person(t.db, S.organisation_id, 'hr-only@northwind.example.org', 'hr');
  await person(t.db, S.organisation_id, 'admin-only@northwind.example.org', 'admin');
  const other = await createProgramme(t.db, { slug: 'other-org' });
  Object.assign(emails, {
    leaderBeforeRelease: accounts.leader,
    leaderAfterRelease: accounts.leader,
    otherLeader,
    coach: accounts.coach,
    otherCoach: otherCoach.email,
    hr: 'hr-only@northwind.example.org',
    otherOrgHr: other.hr.email,
    admin: 'admin-only@northwind.example.org',
  });
  expect(otherCoach.email).not.toBe(accounts.coach);
  app = await reportApp(t.db, { METRICS_TOKEN: 'scraper-token-for-tests' });
}, 180_000);
afterAll(async () => {
  await app?.close();
  await t?.drop();
});

/** One request as `role`, with a session of its own and a valid CSRF token, so only authorisation decides. */
async function request(row: Row, role: Role, sessions: Map<Role, string>) {
  const jar = new Map<string, string>();
  if (role !== 'signedOut') {
    const session = row.throwawaySession ? await sessionFor(t.db, emails[role]) : sessions.get(role)!;
    jar.set('panorama_session', session);
  }
  let form: Record<string, string> | undefined;
  if (row.method === 'POST') {
    // Any page with a form gives a CSRF token; the sign-in page is the one everyone may load.
    const page = await app.inject({
      method: 'GET',
      url: '/sign-in',
      headers: { cookie: cookieHeader(new Map()) },
    });
    keepCookies(jar, page);
    form = { ...(typeof row.form === 'function' ? row.form() : row.form), _csrf: csrfOf(page.body)! };
  }
  return app.inject({
    method: row.method,
    url: row.url(),
    remoteAddress: freshIp(),
    headers: {
      cookie: cookieHeader(jar),
      accept: row.route.startsWith('/api/') ? 'application/json' : 'text/html',
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    payload: form ? new URLSearchParams(form).toString() : undefined,
  });
}

describe('access control: every route × every viewer', () => {
  it('the table covers every route the report service has, and nothing else', () => {
    const actual = routesOf(app)
      .filter((r) => r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`);
    const table = TABLE.map((r) => `${r.method} ${r.route}`);
    expect(new Set(table).size).toBe(table.length);
    expect([...table].sort()).toEqual([...new Set(actual)].sort());
  });

  it('answers each viewer with the expected status', async () => {
    const sessions = new Map<Role, string>();
    for (const role of SIGNED_IN) sessions.set(role, await sessionFor(t.db, emails[role]));
    const failures: string[] = [];
    const check = async (role: Role) => {
      for (const row of TABLE) {
        const response = await request(row, role, sessions);
        const want = row.expect[role];
        if (response.statusCode !== want)
          failures.push(`${row.method} ${row.route} as ${role}: ${response.statusCode}, expected ${want}`);
        if (want === 303 && role === 'signedOut' && row.route !== '/' && row.route !== '/sign-out')
          expect(response.headers.location, `${row.route}`).toBe('/sign-in');
      }
    };
    for (const role of ROLES.filter((r) => r !== 'leaderAfterRelease')) await check(role);
    // Now the leader's report is released: the same person reads it.
    const coach = await t.db
      .selectFrom('people')
      .select('id')
      .where('email', '=', emails.coach)
      .executeTakeFirstOrThrow();
    await resultRepository.release(t.db, ids.S, coach.id);
    await check('leaderAfterRelease');
    expect(failures).toEqual([]);
  });
});
