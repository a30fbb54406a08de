import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personRepository, rosterRepository } from '@panorama/db';
import { newToken, openOutbox } from '@panorama/domain';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { createProgramme, keys, SURVEY_URL } from '../support/scenario.ts';
import { reportApp, signedInClient } from '../support/report-pages-seed.ts';
import { webClient } from '../support/web-client.ts';

let t: TestDatabase;
let app: FastifyInstance;

const signedInAs = (personId: string) => signedInClient(app, t.db, personId);

async function nominationPath(leaderEmail: string) {
  const row = await t.db
    .selectFrom('email_outbox')
    .select('payload')
    .where('template', '=', 'nomination')
    .where('to_address', '=', leaderEmail)
    .executeTakeFirstOrThrow();
  return new URL((JSON.parse(openOutbox(keys, row.payload!)) as { data: { link: string } }).data.link)
    .pathname;
}

beforeAll(async () => {
  t = await createTestDatabase();
  app = await reportApp(t.db);
});
afterAll(async () => {
  await app.close();
  await t.drop();
});

describe('nominations', () => {
  it('a leader nominates, the coach approves, and the approved raters are invited', async () => {
    const { hr, baseline } = await createProgramme(t.db);
    // A roster of leaders only: the self row adds the leader and their coach, no raters yet.
    await importRoster(t.db, {
      cycleId: baseline.id,
      rows: parseRosterCsv(
        'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship\n' +
          'dana@acme.test,Dana Lee,coach@acme.test,Cora Coach,dana@acme.test,Dana Lee,self\n',
      ),
    });
    const admin = await signedInAs(hr.id);
    await admin.get(`/admin/cycles/${baseline.id}`);
    const bad = await admin.post(`/admin/cycles/${baseline.id}/nominations`, {
      min_manager: '1',
      min_peer: '2',
      min_direct_report: '3',
      min_other: '0',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Ask for at least 3 peers');
    const asked = await admin.post(`/admin/cycles/${baseline.id}/nominations`, {
      min_manager: '1',
      min_peer: '3',
      min_direct_report: '0',
      min_other: '0',
    });
    expect(asked.statusCode).toBe(303);
    const landing = await admin.get(asked.headers.location as string);
    expect(landing.statusCode, landing.body.slice(0, 2000)).toBe(200);
    expect(landing.body).toContain('Nomination links sent to 1 leaders');

    const leader = webClient(app);
    const link = await nominationPath('dana@acme.test');
    const form = await leader.get(link);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('Choose who gives you feedback');

    const invalid = await leader.post(link, {
      action: 'add',
      name_0: 'Kim Wu',
      email_0: 'kim@',
      relationship_0: 'manager',
      name_1: 'Dana Lee',
      email_1: 'dana@acme.test',
      relationship_1: 'peer',
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.body).toContain('&#x27;kim@&#x27; is not an email address');
    expect(invalid.body).toContain('is you');

    await leader.post(link, {
      action: 'add',
      name_0: 'Kim Wu',
      email_0: 'kim@acme.test',
      relationship_0: 'manager',
      name_1: 'Sam Ortiz',
      email_1: 'sam@acme.test',
      relationship_1: 'peer',
      name_2: 'Ali Khan',
      email_2: 'ali@acme.test',
      relationship_2: 'peer',
    });
    const short = await leader.post(link, { action: 'submit' });
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain('2 of at least 3');
    await leader.post(link, {
      action: 'add',
      name_0: 'Eve Moss',
      email_0: 'eve@acme.test',
      relationship_0: 'peer',
    });
    const submitted = await leader.post(link, { action: 'submit' });
    expect(submitted.statusCode).toBe(200);
    expect(submitted.body).toContain('sent to your coach');

    const coach = (await personRepository.findByEmail(t.db, 'coach@acme.test'))[0]!;
    const asCoach = await signedInAs(coach.id);
    const list = await asCoach.get('/nominations');
    expect(list.body).toContain('Ready for your approval');
    const subject = (await rosterRepository.subjectsOfCycle(t.db, baseline.id))[0]!;
    const review = await asCoach.get(`/nominations/${subject.id}`);
    expect(review.body).toContain('Eve Moss');
    // The coach edits the list: adds someone, removes someone.
    const added = await asCoach.post(`/nominations/${subject.id}`, {
      action: 'add',
      name_0: 'Ola Other',
      email_0: 'ola@acme.test',
      relationship_0: 'other',
    });
    expect(added.body).toContain('Ola Other');
    const ola = await t.db
      .selectFrom('invitations')
      .innerJoin('people', 'people.id', 'invitations.rater_id')
      .select('invitations.id')
      .where('people.email', '=', 'ola@acme.test')
      .executeTakeFirstOrThrow();
    const removed = await asCoach.post(`/nominations/${subject.id}`, {
      action: 'withdraw',
      invitation: ola.id,
    });
    expect(removed.body).not.toContain('Ola Other');
    const approved = await asCoach.post(`/nominations/${subject.id}`, { action: 'approve' });
    expect(approved.body).toContain('Approved 4 people');
    const statuses = await t.db
      .selectFrom('invitations')
      .select('status')
      .where('subject_id', '=', subject.id)
      .where('relationship', '<>', 'self')
      .execute();
    expect(statuses.filter((s) => s.status !== 'cancelled').map((s) => s.status)).toEqual(
      Array(4).fill('pending'),
    );

    // Opening the cycle invites them; a decline shows to the leader as a count, never a name.
    await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const sam = await t.db
      .selectFrom('invitations')
      .innerJoin('people', 'people.id', 'invitations.rater_id')
      .select('invitations.id')
      .where('people.email', '=', 'sam@acme.test')
      .executeTakeFirstOrThrow();
    await rosterRepository.decline(t.db, sam.id);
    const after = await leader.get(link);
    expect(after.body).toContain('1 Peer');
    expect(after.body).not.toContain('Sam Ortiz');
    expect(after.body).not.toContain('Responded');

    // Another coach cannot review this leader's list.
    const stranger = await personRepository.upsert(t.db, {
      organisationId: coach.organisation_id,
      email: 'other.coach@acme.test',
      name: 'Other',
    });
    await personRepository.grantRole(t.db, stranger.id, 'coach');
    expect((await (await signedInAs(stranger.id)).get(`/nominations/${subject.id}`)).statusCode).toBe(404);
  });

  it('refuses unknown and malformed nomination links with the same page', async () => {
    const leader = webClient(app);
    const a = await leader.get(`/nominate/${newToken()}`);
    const b = await leader.get('/nominate/short');
    expect(a.statusCode).toBe(404);
    expect(b.statusCode).toBe(404);
    expect(a.body).toBe(b.body);
  });
});
