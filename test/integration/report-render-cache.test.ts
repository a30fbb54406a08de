import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportReadRepository, type Db } from '@panorama/db';
import { createReportCache, type ReportCache } from '@panorama/report';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme } from '../support/scenario.ts';
import { webClient } from '../support/web-client.ts';
import { addPeersForNewVersion, reportApp, seedReports, sessionFor } from '../support/report-pages-seed.ts';

/**
 * The leader report's render cache: every page served from it is the page an app without a cache renders
 * for the same viewer (apart from the per-request CSRF token), whatever changed in between; viewers never
 * share a token or a name; access is decided on every request; the cache keeps to its size bound.
 */

let t: TestDatabase;
let seeded: Awaited<ReturnType<typeof seedReports>>;
let cache: ReportCache;
/** The same app twice: with a render cache, and without one (every page rendered in full). */
let cached: FastifyInstance;
let plain: FastifyInstance;
const ids = { baseline: '', followUp: '', otherLeaderFollowUp: '', leader: '' };
const cookies = { hr: '', coach: '', otherCoach: '', leader: '', otherLeader: '', otherOrgHr: '' };
const names = { hr: '', coach: '' };

async function subjectOf(db: Db, email: string, kind: 'baseline' | 'follow_up') {
  const row = await db
    .selectFrom('subjects')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .innerJoin('people', 'people.id', 'subjects.leader_id')
    .select(['subjects.id', 'subjects.leader_id', 'subjects.coach_id'])
    .where('people.email', '=', email)
    .where('cycles.kind', '=', kind)
    .executeTakeFirstOrThrow();
  return row;
}

async function personName(db: Db, email: string) {
  const row = await db
    .selectFrom('people')
    .select('name')
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  return row.name;
}

const view = (app: FastifyInstance, cookie: string, url: string) =>
  app.inject({ method: 'GET', url, headers: { cookie: `panorama_session=${cookie}`, accept: 'text/html' } });

const TOKEN = /name='_csrf' value='([^']*)'/g;
const tokensOf = (body: string) => [...body.matchAll(TOKEN)].map((m) => m[1]!);
const withoutTokens = (body: string) => body.replace(TOKEN, "name='_csrf' value='(token)'");

/** Null when equal; otherwise where the two pages first differ, with some context. */
function firstDifference(a: string, b: string): string | null {
  if (a === b) return null;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at ${i} of ${a.length}/${b.length}: …${a.slice(i - 80, i + 80)}… vs …${b.slice(i - 80, i + 80)}…`;
}

/**
 * The report as `who` sees it from the cached app, after checking it is the page the app without a cache
 * renders for them (tokens aside) and that its tokens are one fresh token of this request.
 */
async function viewChecked(who: keyof typeof cookies, subjectId: string) {
  const url = `/reports/${subjectId}`;
  const fromCache = await view(cached, cookies[who], url);
  const rendered = await view(plain, cookies[who], url);
  expect(fromCache.statusCode, who).toBe(200);
  expect(rendered.statusCode, who).toBe(200);
  expect(fromCache.headers['content-type']).toBe(rendered.headers['content-type']);
  expect(firstDifference(withoutTokens(fromCache.body), withoutTokens(rendered.body))).toBeNull();
  const tokens = tokensOf(fromCache.body);
  expect(tokens.length).toBe(tokensOf(rendered.body).length);
  expect(tokens.length).toBeGreaterThan(0);
  expect(new Set(tokens).size, 'one token per page').toBe(1);
  return fromCache.body;
}

const hits = () => cache.stats().hits;

beforeAll(async () => {
  t = await createTestDatabase();
  seeded = await seedReports(t.db);
  const { accounts } = seeded;
  const followUp = await subjectOf(t.db, accounts.leader, 'follow_up');
  ids.followUp = followUp.id;
  ids.leader = followUp.leader_id;
  ids.baseline = (await subjectOf(t.db, accounts.leader, 'baseline')).id;
  const otherLeader = 'ben.carter@northwind.example.org';
  const other = await subjectOf(t.db, otherLeader, 'follow_up');
  ids.otherLeaderFollowUp = other.id;
  expect(other.coach_id).not.toBe(followUp.coach_id);
  const otherCoach = await t.db
    .selectFrom('people')
    .select('email')
    .where('id', '=', other.coach_id!)
    .executeTakeFirstOrThrow();

  cookies.hr = await sessionFor(t.db, accounts.hr);
  cookies.coach = await sessionFor(t.db, accounts.coach);
  cookies.otherCoach = await sessionFor(t.db, otherCoach.email);
  cookies.leader = await sessionFor(t.db, accounts.leader);
  cookies.otherLeader = await sessionFor(t.db, otherLeader);
  const otherOrg = await createProgramme(t.db, { slug: 'cache-other-org' });
  cookies.otherOrgHr = await sessionFor(t.db, otherOrg.hr.email);
  names.hr = await personName(t.db, accounts.hr);
  names.coach = await personName(t.db, accounts.coach);

  cache = createReportCache();
  cached = await reportApp(t.db, { reportCache: cache });
  plain = await reportApp(t.db, { reportCache: false });
}, 180_000);

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await cached?.close();
  await plain?.close();
  await t?.drop();
});

describe('a cached report', () => {
  it('is the page rendered without a cache, and a repeated view reads no stored JSON', async () => {
    const before = hits();
    await viewChecked('coach', ids.followUp); // fills the cache
    const profileRow = vi.spyOn(reportReadRepository, 'profileRow');
    const changeRow = vi.spyOn(reportReadRepository, 'changeRow');
    const first = await view(cached, cookies.coach, `/reports/${ids.followUp}`);
    const second = await view(cached, cookies.coach, `/reports/${ids.followUp}`);
    expect(hits() - before).toBe(2);
    expect(profileRow).not.toHaveBeenCalled();
    expect(changeRow).not.toHaveBeenCalled();
    // The same page, each with a fresh token of its own.
    expect(withoutTokens(first.body)).toBe(withoutTokens(second.body));
    expect(tokensOf(first.body)[0]).not.toBe(tokensOf(second.body)[0]);
    expect(first.body).toContain('Change since Baseline (spring 2026)');
    expect(first.body).toContain(`Sign out ${names.coach}`);
  });

  it('carries a token that releases for its own viewer only', async () => {
    // Filled by HR, then read from the cache by the coach: the coach's form carries the coach's token.
    await viewChecked('hr', ids.otherLeaderFollowUp);
    const browser = webClient(cached);
    browser.cookies.set('panorama_session', cookies.hr);
    const before = hits();
    const page = await browser.get(`/reports/${ids.otherLeaderFollowUp}`);
    expect(hits() - before).toBe(1);
    expect(page.body).toContain(`action="/reports/${ids.otherLeaderFollowUp}/release"`);
    // Another viewer's token (from another cached view) is refused.
    const coachPage = await view(cached, cookies.coach, `/reports/${ids.followUp}`);
    expect(
      (
        await browser.post(
          `/reports/${ids.otherLeaderFollowUp}/release`,
          {},
          { csrf: tokensOf(coachPage.body)[0]! },
        )
      ).statusCode,
    ).toBe(403);
    const release = await browser.post(`/reports/${ids.otherLeaderFollowUp}/release`);
    expect(release.statusCode).toBe(303);
    const released = await viewChecked('hr', ids.otherLeaderFollowUp);
    expect(released).toMatch(/Released to [^<]+ \(version 1\)/);
  });
});

describe('viewers', () => {
  it('never see each other’s token or name', async () => {
    const url = `/reports/${ids.followUp}`;
    const hrPage = await viewChecked('hr', ids.followUp);
    const before = hits();
    const coachPage = (await view(cached, cookies.coach, url)).body;
    const hrAgain = (await view(cached, cookies.hr, url)).body;
    expect(hits() - before, 'both read the one cached body').toBe(2);
    expect(withoutTokens(coachPage)).not.toBe(withoutTokens(hrPage)); // different name and navigation
    for (const [mine, theirs, name, otherName] of [
      [coachPage, hrPage, names.coach, names.hr],
      [hrPage, coachPage, names.hr, names.coach],
      [hrAgain, coachPage, names.hr, names.coach],
    ] as const) {
      expect(mine).toContain(`Sign out ${name}</button>`);
      expect(mine).not.toContain(`Sign out ${otherName}</button>`);
      for (const token of tokensOf(theirs)) expect(mine).not.toContain(token);
    }
    expect(hrPage).toContain('href="/hr"');
    expect(coachPage).not.toContain('href="/hr"');
  });

  it('without access get a 404 after the page was cached for someone else', async () => {
    const url = `/reports/${ids.followUp}`;
    const full = (await view(cached, cookies.coach, url)).body;
    const title = /<h1>([^<]+)<\/h1>/.exec(full)![1]!;
    const before = cache.stats();
    for (const who of ['otherCoach', 'otherLeader', 'otherOrgHr', 'leader'] as const) {
      const response = await view(cached, cookies[who], url);
      expect(response.statusCode, who).toBe(404);
      expect(response.body).toContain('There is nothing at this address');
      expect(response.body).not.toContain(title);
      expect(response.body).not.toContain('Competency profile');
    }
    // Refused before the cache is looked at.
    expect(cache.stats().hits).toBe(before.hits);
    expect(cache.stats().misses).toBe(before.misses);
    const signedOut = await cached.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
    expect(signedOut.statusCode).toBe(303);
  });
});

describe('a cached report is never stale', () => {
  const versionLine = (body: string) => /Version (\d+), computed/.exec(body)?.[1];

  it('shows a new profile version at once', async () => {
    const before = await viewChecked('coach', ids.followUp);
    // k new peers: the re-release rule lets staff see the new version (fewer would be held back).
    await addPeersForNewVersion(t.db, ids.followUp);
    await seeded.aggregate(ids.followUp);
    const after = await viewChecked('coach', ids.followUp);
    expect(Number(versionLine(after))).toBe(Number(versionLine(before)) + 1);
  });

  it('shows a new change at once (the baseline moved, this profile did not)', async () => {
    const latestChange = async () =>
      (
        await t.db
          .selectFrom('change_results')
          .select((eb) => eb.fn.max('version').as('v'))
          .where('subject_id', '=', ids.followUp)
          .executeTakeFirstOrThrow()
      ).v;
    const before = await viewChecked('coach', ids.followUp);
    const changeBefore = await latestChange();
    await addPeersForNewVersion(t.db, ids.baseline);
    await seeded.aggregate(ids.baseline);
    await seeded.aggregate(ids.followUp); // same profile; a new change against the new baseline
    expect(await latestChange()).toBe(changeBefore + 1);
    const after = await viewChecked('coach', ids.followUp);
    expect(versionLine(after)).toBe(versionLine(before));
    const changeSection = (body: string) => body.slice(body.indexOf('id="change"'));
    expect(changeSection(after)).not.toBe(changeSection(before));
  });

  it('shows a release at once, to staff and to the leader, and the leader keeps the released version', async () => {
    const draft = await viewChecked('coach', ids.followUp);
    expect(draft).toContain('Not released to');
    const coach = webClient(cached);
    coach.cookies.set('panorama_session', cookies.coach);
    await coach.get(`/reports/${ids.followUp}`);
    expect((await coach.post(`/reports/${ids.followUp}/release`)).statusCode).toBe(303);
    const released = await viewChecked('coach', ids.followUp);
    const version = versionLine(released)!;
    expect(released).toContain(`(version ${version})`);

    // The leader sees it; the baseline is not released, so no comparison yet.
    const leaderPage = await viewChecked('leader', ids.followUp);
    expect(leaderPage).toContain('released to you by your coach');
    expect(leaderPage).toContain('once your coach has released both reports');
    expect(leaderPage).not.toContain(`href="/reports/${ids.baseline}"`);

    // Releasing the baseline changes the follow-up page too (its comparison and its link to the baseline).
    await coach.get(`/reports/${ids.baseline}`);
    expect((await coach.post(`/reports/${ids.baseline}/release`)).statusCode).toBe(303);
    const both = await viewChecked('leader', ids.followUp);
    expect(both).not.toContain('once your coach has released both reports');
    expect(both).toContain(`href="/reports/${ids.baseline}"`);

    // A later version: staff see it (and that the leader is behind); the leader keeps the released one.
    await addPeersForNewVersion(t.db, ids.followUp);
    await seeded.aggregate(ids.followUp);
    const staff = await viewChecked('coach', ids.followUp);
    expect(Number(versionLine(staff))).toBe(Number(version) + 1);
    expect(staff).toContain(`sees version ${version}`);
    expect(versionLine(await viewChecked('leader', ids.followUp))).toBe(version);
  });

  it('shows a renamed leader at once', async () => {
    await viewChecked('hr', ids.followUp);
    await t.db
      .updateTable('people')
      .set({ name: 'Amara Okafor-Reyes' })
      .where('id', '=', ids.leader)
      .execute();
    const renamed = await viewChecked('hr', ids.followUp);
    expect(renamed).toContain('<h1>Amara Okafor-Reyes</h1>');
  });
});

describe('the cache', () => {
  it('keeps to its size bound, and pages it cannot hold are still served whole', async () => {
    const subjects = await t.db
      .selectFrom('subjects')
      .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
      .select('subjects.id')
      .where('cycles.programme_id', '=', seeded.programmeId)
      .orderBy('subjects.id')
      .limit(8)
      .execute();
    for (const maxBytes of [400_000, 1_000]) {
      const bounded = createReportCache({ maxBytes });
      const app = await reportApp(t.db, { reportCache: bounded });
      try {
        for (const { id } of subjects) {
          const url = `/reports/${id}`;
          const fromCache = await view(app, cookies.hr, url);
          const rendered = await view(plain, cookies.hr, url);
          expect(fromCache.statusCode).toBe(200);
          expect(firstDifference(withoutTokens(fromCache.body), withoutTokens(rendered.body))).toBeNull();
          expect(bounded.stats().bytes).toBeLessThanOrEqual(maxBytes);
        }
        const { entries } = bounded.stats();
        if (maxBytes === 1_000) expect(entries).toBe(0);
        else {
          expect(entries).toBeGreaterThan(0);
          expect(entries).toBeLessThan(subjects.length);
          // The least recently used went first: the first report is a miss again, the last a hit.
          const { hits: h, misses: m } = bounded.stats();
          await view(app, cookies.hr, `/reports/${subjects.at(-1)!.id}`);
          expect(bounded.stats().hits).toBe(h + 1);
          await view(app, cookies.hr, `/reports/${subjects[0]!.id}`);
          expect(bounded.stats().misses).toBe(m + 1);
        }
      } finally {
        await app.close();
      }
    }
  });
});
