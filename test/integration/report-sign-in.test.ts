import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReportApp } from '@panorama/report';
import { openOutbox } from '@panorama/domain';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, keys, TEST_SECRET } from '../support/scenario.ts';
import { webClient } from '../support/web-client.ts';

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

  it('treats an expired session as signed out', async () => {
    const browser = webClient(app);
    await browser.get('/sign-in');
    await browser.post('/sign-in', { email: 'hr@acme.test' });
    const link = await signInLink();
    await browser.get(link);
    await browser.post(link);
    await t.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute();
    expect((await browser.get('/')).headers.location).toBe('/sign-in');
  });
});
