import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { buildReportApp, safeReturnPath } from '@panorama/report';
import { openOutbox, tokenMac } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, keys, TEST_SECRET } from '../support/scenario.ts';
import { webClient } from '../support/web-client.ts';
import { sessionFor } from '../support/report-pages-seed.ts';

let t: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  t = await createTestDatabase();
  await createProgramme(t.db);
  app = await buildReportApp({
    db: t.db,
    keys,
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: TEST_SECRET,
      REPORT_PUBLIC_URL: 'http://report.test',
      SURVEY_PUBLIC_URL: 'http://survey.test',
      TRUST_PROXY: false,
      SESSION_TTL_HOURS: 1,
    },
  });
});
afterAll(async () => {
  await app.close();
  await t.drop();
});

async function signInLink(): Promise<string> {
  const row = await t.db
    .selectFrom('email_outbox')
    .select('payload')
    .where('template', '=', 'sign-in')
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  const { data } = JSON.parse(openOutbox(keys, row.payload!)) as { data: { link: string } };
  return new URL(data.link).pathname;
}

describe('staff sign-in', () => {
  it('serves the sign-in page with strict security headers', async () => {
    const response = await webClient(app).get('/sign-in');
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<label for="email">');
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('refuses a post without a valid CSRF token', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in');
    const forged = await browser.post('/sign-in', { email: 'hr@acme.test' }, { csrf: 'forged' });
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('This form has expired');
    const missing = await browser.post('/sign-in', { email: 'hr@acme.test' }, { csrf: false });
    expect(missing.statusCode).toBe(403);
  });

  it('answers the same for unknown addresses and sends nothing', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in');
    const response = await browser.post('/sign-in', { email: 'nobody@acme.test' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('If nobody@acme.test belongs to a Panorama account');
    const mails = await t.db
      .selectFrom('email_outbox')
      .select('id')
      .where('to_address', '=', 'nobody@acme.test')
      .execute();
    expect(mails).toHaveLength(0);
  });

  it('explains a malformed address beside the field', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in');
    const response = await browser.post('/sign-in', { email: 'not an email' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('aria-invalid="true"');
  });

  it('signs in once by emailed link, keeps a session cookie, and signs out', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in');
    await browser.post('/sign-in', { email: 'HR@acme.test ' });
    const link = await signInLink();
    expect((await browser.get(link)).statusCode).toBe(200);
    const signedIn = await browser.post(link);
    expect(signedIn.statusCode).toBe(303);
    const cookie = signedIn.cookies.find((c) => c.name === 'panorama_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
    const stored = await t.db.selectFrom('sessions').select('id_hash').execute();
    expect(stored.map((s) => s.id_hash.toString('utf8'))).not.toContain(cookie.value);
    expect((await browser.get('/')).headers.location).toBe('/hr');

    // The link is spent.
    const again = webClient(app);
    await again.get('/sign-in');
    expect((await again.post(link)).statusCode).toBe(404);
    expect((await again.get(link)).statusCode).toBe(404);

    await browser.get('/sign-in');
    const out = await browser.post('/sign-out');
    expect(out.statusCode).toBe(303);
    expect(await t.db.selectFrom('sessions').select('id_hash').execute()).toHaveLength(0);
  });

  it('answers a page with an expired session 401 with a sign-in page that says so and links back', async () => {
    const browser = await expiredSession();
    const response = await browser.get('/admin');
    expect(response.statusCode).toBe(401);
    expect(response.body).toContain('Your session has expired — sign in again');
    expect(response.body).toContain('<a href="/admin">the page you wanted</a>');
    expect(response.body).toContain('<input type="hidden" name="next" value="/admin">');
    // The stale cookie is cleared, so the next request is an ordinary signed-out one.
    const cleared = response.cookies.find((c) => c.name === 'panorama_session');
    expect(cleared?.value).toBe('');
    expect(browser.cookies.has('panorama_session')).toBe(false);
    expect((await browser.get('/admin')).headers.location).toBe('/sign-in');
    // The home page says the same rather than redirecting silently.
    const home = await (await expiredSession()).get('/');
    expect(home.statusCode).toBe(401);
    expect(home.body).toContain('Your session has expired');
  });

  it('still sends a visitor without a session cookie to sign in', async () => {
    const response = await webClient(app).get('/admin');
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/sign-in');
  });

  it('answers a form post with an expired session 401, offering the page the form was on', async () => {
    const browser = await expiredSession();
    const subjectId = randomUUID();
    const release = await browser.post(`/reports/${subjectId}/release`);
    expect(release.statusCode).toBe(401);
    expect(release.body).toContain('Your session has expired — sign in again');
    expect(release.body).toContain(`<a href="/reports/${subjectId}">the page you wanted</a>`);
    const create = await (await expiredSession()).post('/admin/programmes', { name: 'Lost?' });
    expect(create.statusCode).toBe(401);
    expect(create.body).toContain('<a href="/admin">the page you wanted</a>');
    expect(await t.db.selectFrom('programmes').select('id').where('name', '=', 'Lost?').execute()).toEqual(
      [],
    );
  });

  it('brings the visitor back to the page they wanted after signing in by link', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in?next=%2Fadmin');
    await browser.post('/sign-in', { email: 'hr@acme.test', next: '/admin' });
    const row = await t.db
      .selectFrom('email_outbox')
      .select('payload')
      .where('template', '=', 'sign-in')
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    const link = new URL(
      (JSON.parse(openOutbox(keys, row.payload!)) as { data: { link: string } }).data.link,
    );
    expect(link.searchParams.get('next')).toBe('/admin');
    const confirm = await browser.get(link.pathname + link.search);
    expect(confirm.body).toContain(`action="${link.pathname}?next=%2Fadmin"`);
    const signedIn = await browser.post(`${link.pathname}?next=%2Fadmin`);
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.headers.location).toBe('/admin');
  });

  it('only ever returns to a path on this site', () => {
    for (const bad of [
      '//evil.test/x',
      '/\\evil.test',
      'https://evil.test/',
      'admin',
      '/a b',
      '/sign-in',
      '/sign-in/abc',
      '/sign-out',
      '',
      3,
    ])
      expect(safeReturnPath(bad), String(bad)).toBeNull();
    for (const good of ['/admin', '/reports/1?released', '/hr/programmes/x#top'])
      expect(safeReturnPath(good)).toBe(good);
  });
});

/** A browser whose session cookie belongs to a session that has since expired. */
async function expiredSession() {
  const browser = webClient(app);
  await browser.get('/sign-in');
  const cookie = await sessionFor(t.db, 'hr@acme.test');
  browser.cookies.set('panorama_session', cookie);
  await t.db
    .updateTable('sessions')
    .set({ expires_at: new Date(Date.now() - 1000) })
    .where('id_hash', '=', tokenMac(keys.session, cookie))
    .execute();
  return browser;
}
