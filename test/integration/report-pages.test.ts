import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRepository, type Db } from '@panorama/db';
import type { Profile } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme } from '../support/scenario.ts';
import { webClient } from '../support/web-client.ts';
import { addPeerResponse, reportApp, seedReports, sessionFor } from '../support/report-pages-seed.ts';

let t: TestDatabase;
let app: FastifyInstance;
let seeded: Awaited<ReturnType<typeof seedReports>>;
/** The demo leader (coached by the demo coach) in both cycles, and a leader of another coach. */
const ids = { baseline: '', followUp: '', otherLeaderFollowUp: '', programme: '' };
const cookies = { hr: '', coach: '', otherCoach: '', leader: '', otherLeader: '', otherOrgHr: '' };

async function subjectOf(db: Db, email: string, kind: 'baseline' | 'follow_up') {
  const row = await db
    .selectFrom('subjects')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .innerJoin('people', 'people.id', 'subjects.leader_id')
    .select('subjects.id')
    .where('people.email', '=', email)
    .where('cycles.kind', '=', kind)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function coachOf(db: Db, subjectId: string) {
  const row = await db
    .selectFrom('subjects')
    .innerJoin('people', 'people.id', 'subjects.coach_id')
    .select('people.email')
    .where('subjects.id', '=', subjectId)
    .executeTakeFirstOrThrow();
  return row.email;
}

/** A browser signed in with this session cookie (or signed out with null). */
function as(cookie: string | null) {
  const browser = webClient(app);
  if (cookie) browser.cookies.set('panorama_session', cookie);
  return browser;
}

const api = (url: string, cookie: string | null) =>
  app.inject({
    method: 'GET',
    url,
    headers: { accept: 'application/json', ...(cookie ? { cookie: `panorama_session=${cookie}` } : {}) },
  });

beforeAll(async () => {
  t = await createTestDatabase();
  seeded = await seedReports(t.db);
  const { accounts } = seeded;
  ids.programme = seeded.programmeId;
  ids.baseline = await subjectOf(t.db, accounts.leader, 'baseline');
  ids.followUp = await subjectOf(t.db, accounts.leader, 'follow_up');
  const otherLeader = 'ben.carter@northwind.example.org';
  ids.otherLeaderFollowUp = await subjectOf(t.db, otherLeader, 'follow_up');

  // A comment written to break out of the page, on one of the leader's peer responses.
  const peer = await t.db
    .selectFrom('responses')
    .select('id')
    .where('subject_id', '=', ids.followUp)
    .where('relationship', '=', 'peer')
    .executeTakeFirstOrThrow();
  await t.db
    .insertInto('response_comments')
    .values({
      response_id: peer.id,
      question_id: 'anything_else',
      body: '<script>alert(1)</script> {{7*7}} <a href="javascript:alert(2)">click</a> javascript:alert(3)',
    })
    .onConflict((oc) =>
      oc.columns(['response_id', 'question_id']).doUpdateSet({ body: (eb) => eb.ref('excluded.body') }),
    )
    .execute();
  await seeded.aggregate(ids.followUp);

  cookies.hr = await sessionFor(t.db, accounts.hr);
  cookies.coach = await sessionFor(t.db, accounts.coach);
  cookies.otherCoach = await sessionFor(t.db, await coachOf(t.db, ids.otherLeaderFollowUp));
  cookies.leader = await sessionFor(t.db, accounts.leader);
  cookies.otherLeader = await sessionFor(t.db, otherLeader);
  const other = await createProgramme(t.db, { slug: 'other-org' });
  cookies.otherOrgHr = await sessionFor(t.db, other.hr.email);
  app = await reportApp(t.db);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await t?.drop();
});

describe('who may see a leader report', () => {
  it('sends signed-out visitors to sign in, and answers the API with 401 JSON', async () => {
    for (const url of [
      `/reports/${ids.followUp}`,
      '/hr',
      `/hr/programmes/${ids.programme}`,
      '/coach',
      '/me',
    ]) {
      const response = await as(null).get(url);
      expect(response.statusCode, url).toBe(303);
      expect(response.headers.location).toBe('/sign-in');
    }
    const response = await api(`/api/subjects/${ids.followUp}/profile`, null);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: expect.any(String) });
  });

  it('shows the report to HR and the leader’s coach, and a 404 to everyone else', async () => {
    const expected: [keyof typeof cookies, number][] = [
      ['hr', 200],
      ['coach', 200],
      ['otherCoach', 404],
      ['leader', 404],
      ['otherLeader', 404],
      ['otherOrgHr', 404],
    ];
    for (const [who, status] of expected) {
      const response = await as(cookies[who]).get(`/reports/${ids.followUp}`);
      expect(response.statusCode, who).toBe(status);
    }
  });

  it('answers an edited URL (IDOR), an unknown id and a malformed id with the same 404', async () => {
    const coach = as(cookies.coach);
    const idor = await coach.get(`/reports/${ids.otherLeaderFollowUp}`);
    const unknown = await coach.get(`/reports/${randomUUID()}`);
    expect(idor.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    const message = 'There is nothing at this address';
    expect(idor.body).toContain(message);
    expect(unknown.body).toContain(message);
    for (const url of [
      '/reports/not-a-uuid',
      "/reports/1'%20or%201=1",
      '/hr/programmes/123',
      '/hr/programmes/x/export/cohort.csv',
    ]) {
      expect((await as(cookies.hr).get(url)).statusCode, url).toBe(404);
    }
    await coach.get(`/reports/${ids.followUp}`);
    expect((await coach.post(`/reports/${ids.otherLeaderFollowUp}/release`)).statusCode).toBe(404);
  });

  it('keeps HR pages to HR and admins of the organisation', async () => {
    expect((await as(cookies.hr).get('/hr')).statusCode).toBe(200);
    expect((await as(cookies.hr).get(`/hr/programmes/${ids.programme}`)).statusCode).toBe(200);
    for (const who of ['coach', 'leader', 'otherOrgHr'] as const) {
      expect((await as(cookies[who]).get(`/hr/programmes/${ids.programme}`)).statusCode, who).toBe(404);
    }
    expect((await as(cookies.coach).get('/hr')).statusCode).toBe(404);
    expect((await as(cookies.hr).get('/coach')).statusCode).toBe(404);
  });
});

describe('report content', () => {
  it('renders comments inert: escaped, never a link or an evaluated template', async () => {
    const { body } = await as(cookies.coach).get(`/reports/${ids.followUp}`);
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).not.toContain('<script>alert(1)');
    expect(body).toContain('{{7*7}}');
    expect(body).not.toMatch(/<a[^>]+href=["']?javascript:/i);
    expect(body).toContain('&lt;a href&#x3D;&quot;javascript:alert(2)&quot;&gt;click&lt;/a&gt;');
  });

  it('shows a group under k as "fewer than k responses" and never its count', async () => {
    const rows = await t.db
      .selectFrom('profile_snapshots')
      .innerJoin('subjects', 'subjects.id', 'profile_snapshots.subject_id')
      .select(['subjects.id', 'profile_snapshots.data'])
      // Every other subject has one version, so its snapshot is the one the page shows.
      .where('subjects.id', '!=', ids.followUp)
      .orderBy('subjects.id')
      .execute();
    const small = rows.find((r) => {
      const p = (r.data as Profile).participation;
      return (
        p.other.responses > 0 &&
        !p.other.shown &&
        (r.data as Profile).competencies.some((c) => c.groups.other.suppressed)
      );
    });
    expect(small, 'the demo has a leader with a small "others" group').toBeDefined();
    const profile = small!.data as Profile;
    const { body } = await as(cookies.hr).get(`/reports/${small!.id}`);
    expect(body).toMatch(/<dt>Others<\/dt><dd>fewer than 3 responses<\/dd>/);
    expect(body).not.toMatch(
      new RegExp(`<dt>Others</dt><dd>${profile.participation.other.responses} response`),
    );
    // Every competency where "others" is suppressed has a suppression marker in its place, not numbers.
    const suppressed = profile.competencies.filter((c) => c.groups.other.suppressed).length;
    const markers = body.match(
      /<th scope="row">Others<\/th>\s*<td colspan="4" class="rpt-suppressed">fewer than 3 responses<\/td>/g,
    );
    expect(suppressed).toBeGreaterThan(0);
    expect(markers).toHaveLength(suppressed);
  });

  it('shows the change from the baseline on a follow-up report', async () => {
    const { body } = await as(cookies.coach).get(`/reports/${ids.followUp}`);
    expect(body).toContain('Change since Baseline (spring 2026)');
    expect(body).toMatch(/Within measurement error|Reliable improvement|Reliable decline/);
    expect(body).toContain('Raters invited to both cycles');
    expect(body).toContain('<svg class="chart chart-wide"');
  });

  it('lists the coach’s leaders with their release state', async () => {
    const { body, statusCode } = await as(cookies.coach).get('/coach');
    expect(statusCode).toBe(200);
    expect(body).toContain('Amara Okafor');
    expect(body).not.toContain('Ben Carter');
    expect(body).toContain(`href="/reports/${ids.followUp}"`);
    expect(body).toContain('not released');
  });
});

describe('release', () => {
  it('refuses a release without a valid CSRF token and releases nothing', async () => {
    const coach = as(cookies.coach);
    await coach.get(`/reports/${ids.followUp}`);
    expect((await coach.post(`/reports/${ids.followUp}/release`, {}, { csrf: false })).statusCode).toBe(403);
    expect((await coach.post(`/reports/${ids.followUp}/release`, {}, { csrf: 'forged' })).statusCode).toBe(
      403,
    );
    const subject = await t.db
      .selectFrom('subjects')
      .select('released_version')
      .where('id', '=', ids.followUp)
      .executeTakeFirstOrThrow();
    expect(subject.released_version).toBeNull();
  });

  it('lets the leader see nothing before release: 404 on the report and the API, an explanation on /me', async () => {
    expect((await as(cookies.leader).get(`/reports/${ids.followUp}`)).statusCode).toBe(404);
    expect((await api(`/api/subjects/${ids.followUp}/profile`, cookies.leader)).statusCode).toBe(404);
    const me = await as(cookies.leader).get('/me');
    expect(me.statusCode).toBe(200);
    expect(me.body).toContain('Your report is not available yet');
  });

  it('releases on the coach’s request; the leader then sees that pinned version, not a later one', async () => {
    const coach = as(cookies.coach);
    await coach.get(`/reports/${ids.baseline}`);
    expect((await coach.post(`/reports/${ids.baseline}/release`)).statusCode).toBe(303);
    await coach.get(`/reports/${ids.followUp}`);
    const released = await coach.post(`/reports/${ids.followUp}/release`);
    expect(released.statusCode).toBe(303);
    expect(released.headers.location).toBe(`/reports/${ids.followUp}?released`);
    const confirmation = await coach.get(released.headers.location as string);
    expect(confirmation.body).toContain('is released to Amara Okafor');
    // The leader is told by email (queued with the release), once per release.
    const notices = await t.db
      .selectFrom('email_outbox')
      .select('to_address')
      .where('template', '=', 'report-released')
      .execute();
    expect(notices.map((n) => n.to_address)).toEqual([
      'amara.okafor@northwind.example.org',
      'amara.okafor@northwind.example.org',
    ]);

    const pinned = (
      await t.db
        .selectFrom('subjects')
        .select('released_version')
        .where('id', '=', ids.followUp)
        .executeTakeFirstOrThrow()
    ).released_version!;
    const leader = as(cookies.leader);
    const report = await leader.get(`/reports/${ids.followUp}`);
    expect(report.statusCode).toBe(200);
    expect(report.body).toContain(`Version ${pinned},`);
    expect(report.body).toContain('Change since Baseline');
    expect(report.body).not.toContain('/release');
    const me = await leader.get('/me');
    expect(me.body).toContain(`href="/reports/${ids.followUp}"`);
    expect((await as(cookies.otherLeader).get(`/reports/${ids.followUp}`)).statusCode).toBe(404);

    // A late response makes a new version; the leader keeps seeing the released one, and so does the coach:
    // one new peer is fewer than k, so showing it would let the two versions be differenced.
    await addPeerResponse(t.db, ids.followUp);
    await seeded.aggregate(ids.followUp);
    const latest = (await resultRepository.latestProfile(t.db, ids.followUp))!.version;
    expect(latest).toBe(pinned + 1);
    expect((await leader.get(`/reports/${ids.followUp}`)).body).toContain(`Version ${pinned},`);
    const coachView = await coach.get(`/reports/${ids.followUp}`);
    expect(coachView.body).toContain(`Version ${pinned},`);
    expect(coachView.body).not.toContain(`Version ${latest},`);
    expect(coachView.body).toContain('Later responses are held back');
    const json = await api(`/api/subjects/${ids.followUp}/profile`, cookies.leader);
    expect(json.statusCode).toBe(200);
    expect(json.json().profile.version).toBe(pinned);
  });

  it('explains a re-release the anonymity rule refuses (one new peer is fewer than k)', async () => {
    const coach = as(cookies.coach);
    await coach.get(`/reports/${ids.followUp}`);
    const refused = await coach.post(`/reports/${ids.followUp}/release`);
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain('role="alert"');
    expect(refused.body).toContain('cannot be released again yet');
  });

  it('does not let a leader release their own report', async () => {
    const leader = as(cookies.leader);
    await leader.get(`/reports/${ids.followUp}`);
    expect((await leader.post(`/reports/${ids.followUp}/release`)).statusCode).toBe(404);
  });

  it('shows who released what, and when, on the HR dashboard', async () => {
    const { body } = await as(cookies.hr).get(`/hr/programmes/${ids.programme}`);
    expect(body).toContain('Release history');
    expect(body).toMatch(
      /<th scope="row"><a href="\/reports\/[^"]+">Amara Okafor<\/a><\/th><td>Follow-up \(autumn 2026\)<\/td><td class="num">\d+<\/td><td>Maya Patel<\/td>/,
    );
  });
});

describe('HR dashboard, exports and API', () => {
  it('shows cohort change in words with its chart, heatmap and histogram', async () => {
    const { body } = await as(cookies.hr).get(`/hr/programmes/${ids.programme}`);
    expect(body).toContain('leaders have results in both cycles');
    expect(body).toMatch(/Clear improvement|No clear change|Clear decline/);
    expect(body).toContain('Average change per competency, with 95% confidence intervals');
    expect(body).toContain('class="rpt-heatmap"');
    expect(body).toContain('hm-none');
    expect(body).toContain('chart-histogram');
    expect(body).not.toContain('style=');
  });

  it('exports cohort and profile CSVs with aggregates only', async () => {
    const hr = as(cookies.hr);
    const cohort = await hr.get(`/hr/programmes/${ids.programme}/export/cohort.csv`);
    expect(cohort.statusCode).toBe(200);
    expect(cohort.headers['content-type']).toContain('text/csv');
    expect(cohort.headers['content-disposition']).toContain('attachment');
    const cohortLines = cohort.body.trim().split('\n');
    expect(cohortLines[0]).toMatch(/^competency_id,competency,status,leaders,mean_change,ci95_low,ci95_high/);
    expect(cohortLines).toHaveLength(12);

    const profiles = await hr.get(`/hr/programmes/${ids.programme}/export/profiles.csv`);
    expect(profiles.statusCode).toBe(200);
    const [header, ...rows] = profiles.body.trim().split('\n');
    expect(header).not.toMatch(/rater|response|comment|token|invitation/i);
    expect(header).toContain('all_others_mean');
    expect(rows).toHaveLength(24 * 11);
    const responseIds = await t.db.selectFrom('responses').select('id').limit(20).execute();
    for (const { id } of responseIds) expect(profiles.body).not.toContain(id);

    expect(
      (await as(cookies.coach).get(`/hr/programmes/${ids.programme}/export/profiles.csv`)).statusCode,
    ).toBe(404);
    expect(
      (await as(cookies.otherOrgHr).get(`/hr/programmes/${ids.programme}/export/cohort.csv`)).statusCode,
    ).toBe(404);
  });

  it('serves the JSON API with the same access rules and JSON errors', async () => {
    const cohort = await api(`/api/programmes/${ids.programme}/cohort`, cookies.hr);
    expect(cohort.statusCode).toBe(200);
    expect(cohort.headers['content-type']).toContain('application/json');
    expect(cohort.json()).toMatchObject({
      programme: { id: ids.programme },
      cohort: { report: { suppressed: false, leaders: expect.any(Number) } },
    });

    const profile = await api(`/api/subjects/${ids.followUp}/profile`, cookies.coach);
    expect(profile.statusCode).toBe(200);
    expect(profile.json()).toMatchObject({
      subject: { id: ids.followUp },
      profile: { data: { competencies: expect.any(Array) } },
    });
    expect(profile.body).not.toContain('response_id');

    for (const [url, cookie] of [
      [`/api/programmes/${ids.programme}/cohort`, cookies.coach],
      [`/api/programmes/${ids.programme}/cohort`, cookies.otherOrgHr],
      ['/api/programmes/not-a-uuid/cohort', cookies.hr],
      [`/api/subjects/${ids.otherLeaderFollowUp}/profile`, cookies.coach],
      ['/api/subjects/nope/profile', cookies.hr],
      [`/api/subjects/${randomUUID()}/profile`, cookies.hr],
    ] as const) {
      const response = await api(url, cookie);
      expect(response.statusCode, url).toBe(404);
      expect(response.json()).toMatchObject({ error: 'Not found' });
    }
  });
  it('shows no cohort numbers while a cycle it compares is still open, on the page, in the API and the CSV', async () => {
    const followUpCycle = await t.db
      .selectFrom('subjects')
      .select('cycle_id')
      .where('id', '=', ids.followUp)
      .executeTakeFirstOrThrow();
    const setStatus = (status: 'open' | 'closed') =>
      t.db.updateTable('cycles').set({ status }).where('id', '=', followUpCycle.cycle_id).execute();
    await setStatus('open');
    try {
      const page = await as(cookies.hr).get(`/hr/programmes/${ids.programme}`);
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain(
        'The cohort comparison is published when the cycles it compares have closed',
      );
      expect(page.body).not.toContain('leaders have results in both cycles');
      expect(page.body).not.toContain('Average change per competency, with 95% confidence intervals');
      // Participation counts stay live (counts only).
      expect(page.body).toContain('Participation');

      const cohort = await api(`/api/programmes/${ids.programme}/cohort`, cookies.hr);
      expect(cohort.statusCode).toBe(200);
      expect(cohort.json()).toMatchObject({ cohort: null, withheld: { reason: 'cycle_open' } });

      const csv = await as(cookies.hr).get(`/hr/programmes/${ids.programme}/export/cohort.csv`);
      expect(csv.statusCode).toBe(404);
      expect(csv.body).not.toContain('mean_change');
    } finally {
      await setStatus('closed');
    }
    const cohort = await api(`/api/programmes/${ids.programme}/cohort`, cookies.hr);
    expect(cohort.json()).toMatchObject({ withheld: null, cohort: { report: { suppressed: false } } });
  });
  it('shows a follow-up’s change from the versions shown, not from a baseline version held back', async () => {
    const changeSection = (body: string) => body.slice(body.indexOf('id="change"'));
    const changeRows = () =>
      t.db
        .selectFrom('change_results')
        .select(['version', 'data'])
        .where('subject_id', '=', ids.followUp)
        .orderBy('version', 'desc')
        .execute();
    const before = await as(cookies.hr).get(`/reports/${ids.followUp}`);
    expect(before.body).toContain('Change since Baseline');
    const shownBefore = (await api(`/api/subjects/${ids.followUp}/profile`, cookies.hr)).json();
    const rowsBefore = await changeRows();

    // One late peer at baseline: its new version is held back from staff, but a change is computed from it.
    await addPeerResponse(t.db, ids.baseline);
    await seeded.aggregate(ids.baseline);
    await seeded.aggregate(ids.followUp);
    const rowsAfter = await changeRows();
    expect(rowsAfter.length).toBeGreaterThan(rowsBefore.length);

    const after = await as(cookies.hr).get(`/reports/${ids.followUp}`);
    expect(changeSection(after.body)).toBe(changeSection(before.body));
    const shown = (await api(`/api/subjects/${ids.followUp}/profile`, cookies.hr)).json();
    expect(shown.change).toEqual(shownBefore.change);
    const newest = rowsAfter[0]!.data as { baselineVersion: number; followUpVersion: number };
    const published = await t.db
      .selectFrom('subjects')
      .select('published_version')
      .where('id', '=', ids.baseline)
      .executeTakeFirstOrThrow();
    expect(newest.baselineVersion).toBeGreaterThan(published.published_version!);
  });
});
