import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personRepository } from '@panorama/db';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, linksFromOutbox } from '../support/scenario.ts';
import { reportApp, signedInClient } from '../support/report-pages-seed.ts';
import { webClient } from '../support/web-client.ts';

let t: TestDatabase;
let app: FastifyInstance;
let scenario: Awaited<ReturnType<typeof createProgramme>>;
let other: Awaited<ReturnType<typeof createProgramme>>;

/** A browser signed in as `personId` (session created as the sign-in flow does). */
const signedInAs = (personId: string) => signedInClient(app, t.db, personId);

async function multipartPost(browser: ReturnType<typeof webClient>, url: string, csv: string) {
  const boundary = '----panorama' + Math.random().toString(16).slice(2);
  const body =
    `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${browser.csrf}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="roster"; filename="roster.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n` +
    `--${boundary}--\r\n`;
  return app.inject({
    method: 'POST',
    url,
    payload: body,
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      accept: 'text/html',
    },
  });
}

beforeAll(async () => {
  t = await createTestDatabase();
  scenario = await createProgramme(t.db, { slug: 'acme' });
  other = await createProgramme(t.db, { slug: 'globex' });
  app = await reportApp(t.db);
});
afterAll(async () => {
  await app.close();
  await t.drop();
});

describe('admin pages', () => {
  it('launch a cycle from a CSV upload: bad rows listed and nothing imported, then import, open, remind, close', async () => {
    const hr = await signedInAs(scenario.hr.id);
    const cycleUrl = `/admin/cycles/${scenario.baseline.id}`;
    const page = await hr.get(cycleUrl);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Add leaders and raters');

    const bad = await multipartPost(
      hr,
      `${cycleUrl}/roster`,
      'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship\n' +
        'dana@acme.test,Dana,,,sam@acme.test,Sam,peer \n',
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('row 2');
    expect(bad.body).toContain('is not one of self, manager, peer, direct_report, other');
    expect(
      await t.db.selectFrom('subjects').select('id').where('cycle_id', '=', scenario.baseline.id).execute(),
    ).toHaveLength(0);

    const csv = await fs.readFile(path.resolve(import.meta.dirname, '../fixtures/roster-small.csv'), 'utf8');
    await hr.get(cycleUrl);
    const good = await multipartPost(hr, `${cycleUrl}/roster`, csv);
    expect(good.statusCode).toBe(200);
    expect(good.body).toContain('Imported 2 leaders');

    await hr.get(cycleUrl);
    const opened = await hr.post(`${cycleUrl}/open`);
    expect(opened.statusCode).toBe(200);
    expect(opened.body).toContain('The cycle is open');
    expect((await linksFromOutbox(t.db)).length).toBeGreaterThan(0);
    expect(opened.body).toContain('kim.wu@acme.test');

    const reminded = await hr.post(`${cycleUrl}/remind`);
    expect(reminded.body).toContain('Reminders sent');
    const closed = await hr.post(`${cycleUrl}/close`);
    expect(closed.body).toContain('The cycle is closed');
    const again = await hr.post(`${cycleUrl}/open`);
    expect(again.statusCode).toBe(409);

    const audit = await t.db
      .selectFrom('audit_log')
      .select('action')
      .where('target_id', '=', scenario.baseline.id)
      .execute();
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['roster.imported', 'cycle.open', 'cycle.remind', 'cycle.close']),
    );
  });

  it('create a programme from the form, with field errors for bad dates', async () => {
    const hr = await signedInAs(scenario.hr.id);
    await hr.get('/admin');
    const bad = await hr.post('/admin/programmes', { name: '', baseline_closes: 'soon' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Choose the baseline deadline');
    await hr.get('/admin');
    const created = await hr.post('/admin/programmes', {
      name: 'Emerging leaders',
      baseline_closes: '2099-03-31',
      follow_up_closes: '2099-09-30',
    });
    expect(created.statusCode).toBe(303);
    expect(created.headers.location).toMatch(/^\/admin\/cycles\//);
    expect((await hr.get('/admin')).body).toContain('Emerging leaders');
  });

  it('are for HR and admins of the same organisation only', async () => {
    const coach = await personRepository.upsert(t.db, {
      organisationId: scenario.organisation.id,
      email: 'c@acme.test',
      name: 'C',
    });
    await personRepository.grantRole(t.db, coach.id, 'coach');
    const asCoach = await signedInAs(coach.id);
    expect((await asCoach.get('/admin')).statusCode).toBe(404);
    expect((await asCoach.get(`/admin/cycles/${scenario.baseline.id}`)).statusCode).toBe(404);
    const otherHr = await signedInAs(other.hr.id);
    expect((await otherHr.get(`/admin/cycles/${scenario.baseline.id}`)).statusCode).toBe(404);
    expect((await otherHr.get('/admin/cycles/not-a-uuid')).statusCode).toBe(404);
    const anonymous = webClient(app);
    const redirect = await anonymous.get('/admin');
    expect(redirect.statusCode).toBe(303);
    expect(redirect.headers.location).toBe('/sign-in');
  });
});

describe('navigation', () => {
  it('shows HR the admin and nominations pages, and a coach only their own', async () => {
    const hr = await signedInAs(scenario.hr.id);
    const hrPage = (await hr.get('/admin')).body;
    expect(hrPage).toContain('href="/admin"');
    expect(hrPage).toContain('href="/nominations"');
    const coach = await personRepository.upsert(t.db, {
      organisationId: scenario.organisation.id,
      email: 'nav.coach@acme.test',
      name: 'N',
    });
    await personRepository.grantRole(t.db, coach.id, 'coach');
    const coachPage = (await (await signedInAs(coach.id)).get('/nominations')).body;
    expect(coachPage).toContain('href="/nominations"');
    expect(coachPage).not.toContain('href="/admin"');
  });
});
