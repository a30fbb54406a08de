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

/** The table row of the page that names this person. */
function rowOf(body: string, name: string): string {
  const rows = body.match(/<tr>[\s\S]*?<\/tr>/g) ?? [];
  const found = rows.filter((r) => r.includes(`<td>${name}</td>`));
  expect(found, name).toHaveLength(1);
  return found[0]!;
}

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

    // Opening the cycle invites them; a decline shows to the leader and the coach as a count, never a name:
    // the one who declined stays on their lists exactly as before.
    await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const sam = await t.db
      .selectFrom('invitations')
      .innerJoin('people', 'people.id', 'invitations.rater_id')
      .select('invitations.id')
      .where('people.email', '=', 'sam@acme.test')
      .executeTakeFirstOrThrow();
    const leaderBefore = await leader.get(link);
    const coachBefore = await asCoach.get(`/nominations/${subject.id}`);
    expect(leaderBefore.body).not.toContain('declined');
    await rosterRepository.decline(t.db, sam.id);
    const after = await leader.get(link);
    const coachAfter = await asCoach.get(`/nominations/${subject.id}`);
    for (const [before, now] of [
      [leaderBefore.body, after.body],
      [coachBefore.body, coachAfter.body],
    ] as const) {
      expect(now).toContain('1 Peer');
      expect(rowOf(now, 'Sam Ortiz')).toBe(rowOf(before, 'Sam Ortiz'));
      expect(rowOf(now, 'Sam Ortiz')).toContain('Approved');
      // Every approved nominee's row reads the same as before the decline.
      for (const name of ['Kim Wu', 'Ali Khan', 'Eve Moss'])
        expect(rowOf(now, name)).toBe(rowOf(before, name));
      expect(now).not.toContain('Responded');
      expect(now).not.toMatch(/Declined<\/td>/);
    }
    // The admin, and only the admin, sees who declined.
    const adminView = await admin.get(`/admin/cycles/${baseline.id}`);
    expect(rowOf(adminView.body, 'Sam Ortiz')).toContain('Declined');
    expect(adminView.body).toContain('1 declined');

    // The leader nominates a replacement; once the coach approves, the replacement is invited at once.
    const replaced = await leader.post(link, {
      action: 'add',
      name_0: 'Rio Reyes',
      email_0: 'rio@acme.test',
      relationship_0: 'peer',
    });
    expect(replaced.statusCode).toBe(200);
    expect(rowOf(replaced.body, 'Rio Reyes')).toContain('Awaiting approval');
    expect(replaced.body).toContain('Peer: at least 3 — you have 3 ✓');
    expect((await leader.post(link, { action: 'submit' })).body).toContain('sent to your coach');
    const approvedAgain = await asCoach.post(`/nominations/${subject.id}`, { action: 'approve' });
    expect(approvedAgain.body).toContain('Approved 1 people; 1 invitations sent');
    expect(rowOf(approvedAgain.body, 'Rio Reyes')).toContain('Approved');
    expect(rowOf(approvedAgain.body, 'Sam Ortiz')).toBe(rowOf(coachBefore.body, 'Sam Ortiz'));
    const invitationsToRio = await t.db
      .selectFrom('email_outbox')
      .select('template')
      .where('to_address', '=', 'rio@acme.test')
      .execute();
    expect(invitationsToRio).toEqual([{ template: 'invitation' }]);

    // Another coach cannot review this leader's list.
    const stranger = await personRepository.upsert(t.db, {
      organisationId: coach.organisation_id,
      email: 'other.coach@acme.test',
      name: 'Other',
    });
    await personRepository.grantRole(t.db, stranger.id, 'coach');
    expect((await (await signedInAs(stranger.id)).get(`/nominations/${subject.id}`)).statusCode).toBe(404);
  });

  it('the coach removes or re-groups nominees until the cycle opens; the admin can resend a nomination link', async () => {
    const { hr, baseline } = await createProgramme(t.db);
    await importRoster(t.db, {
      cycleId: baseline.id,
      rows: parseRosterCsv(
        'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship\n' +
          'noa@acme.test,Noa Berg,coach2@acme.test,Cai Coach,noa@acme.test,Noa Berg,self\n' +
          'max@acme.test,Max Ode,coach2@acme.test,Cai Coach,max@acme.test,Max Ode,self\n',
      ),
    });
    const admin = await signedInAs(hr.id);
    const cyclePage = await admin.get(`/admin/cycles/${baseline.id}`);
    // Nobody has been asked yet: no resend button, and resending is refused.
    expect(cyclePage.body).not.toContain('a new nomination link');
    const noa = (await rosterRepository.subjectsOfCycle(t.db, baseline.id)).find(
      (s) => s.leader_name === 'Noa Berg',
    );
    expect(
      (await admin.post(`/admin/cycles/${baseline.id}/nominations/${noa!.id}/resend`, {})).statusCode,
    ).toBe(409);
    await admin.post(`/admin/cycles/${baseline.id}/nominations`, {
      min_manager: '1',
      min_peer: '0',
      min_direct_report: '0',
      min_other: '0',
    });

    // The first email is lost; the admin sends a new link, and both work.
    const firstLink = await nominationPath('noa@acme.test');
    const page = await admin.get(`/admin/cycles/${baseline.id}`);
    expect(page.body).toContain('Email Noa Berg a new nomination link');
    const resent = await admin.post(`/admin/cycles/${baseline.id}/nominations/${noa!.id}/resend`, {});
    expect(resent.statusCode).toBe(303);
    expect((await admin.get(resent.headers.location as string)).body).toContain(
      'A new nomination link is on its way',
    );
    const emails = await t.db
      .selectFrom('email_outbox')
      .select(['payload', 'cycle_id'])
      .where('template', '=', 'nomination')
      .where('to_address', '=', 'noa@acme.test')
      .execute();
    expect(emails).toHaveLength(2);
    expect(emails.every((e) => e.cycle_id === baseline.id)).toBe(true);
    const links = emails.map(
      (e) =>
        new URL((JSON.parse(openOutbox(keys, e.payload!)) as { data: { link: string } }).data.link).pathname,
    );
    expect(links).toContain(firstLink);
    expect(new Set(links).size).toBe(2);
    const leader = webClient(app);
    for (const link of links) expect((await leader.get(link)).statusCode).toBe(200);
    // No such leader in this cycle: nothing there.
    expect(
      (await admin.post(`/admin/cycles/${baseline.id}/nominations/${crypto.randomUUID()}/resend`, {}))
        .statusCode,
    ).toBe(404);

    await leader.post(links[1]!, {
      action: 'add',
      name_0: 'Kai Manager',
      email_0: 'kai@acme.test',
      relationship_0: 'manager',
      name_1: 'Lia Peer',
      email_1: 'lia@acme.test',
      relationship_1: 'peer',
      name_2: 'Ode Other',
      email_2: 'ode@acme.test',
      relationship_2: 'other',
    });
    const coach = (await personRepository.findByEmail(t.db, 'coach2@acme.test'))[0]!;
    const asCoach = await signedInAs(coach.id);
    await asCoach.get(`/nominations/${noa!.id}`);
    const approving = await asCoach.post(`/nominations/${noa!.id}`, { action: 'approve' });
    expect(approving.body, approving.body.slice(0, 3000)).toContain('Approved 3 people');
    const idOf = async (email: string) =>
      (
        await t.db
          .selectFrom('invitations')
          .innerJoin('people', 'people.id', 'invitations.rater_id')
          .select(['invitations.id', 'invitations.relationship', 'invitations.status'])
          .where('people.email', '=', email)
          .where('invitations.subject_id', '=', noa!.id)
          .executeTakeFirstOrThrow()
      ).id;

    // Approved, but the cycle is still a draft: the coach moves one to another group and removes another.
    const review = await asCoach.get(`/nominations/${noa!.id}`);
    expect(review.body).toContain('Move Lia Peer');
    const moved = await asCoach.post(`/nominations/${noa!.id}`, {
      action: 'regroup',
      invitation: await idOf('lia@acme.test'),
      relationship: 'direct_report',
    });
    expect(moved.statusCode).toBe(200);
    expect(rowOf(moved.body, 'Lia Peer')).toContain('Direct report');
    const badGroup = await asCoach.post(`/nominations/${noa!.id}`, {
      action: 'regroup',
      invitation: await idOf('lia@acme.test'),
      relationship: 'self',
    });
    expect(badGroup.statusCode).toBe(400);
    const removed = await asCoach.post(`/nominations/${noa!.id}`, {
      action: 'withdraw',
      invitation: await idOf('ode@acme.test'),
    });
    expect(removed.statusCode).toBe(200);
    expect(removed.body).not.toContain('Ode Other');
    // The leader's self-assessment is not a nominee: it cannot be removed this way.
    const self = await t.db
      .selectFrom('invitations')
      .select('id')
      .where('subject_id', '=', noa!.id)
      .where('relationship', '=', 'self')
      .executeTakeFirstOrThrow();
    for (const fields of [
      { action: 'withdraw', invitation: self.id } as Record<string, string>,
      { action: 'regroup', invitation: self.id, relationship: 'peer' },
      { action: 'withdraw', invitation: crypto.randomUUID() },
    ]) {
      expect((await asCoach.post(`/nominations/${noa!.id}`, fields)).statusCode).toBe(404);
    }
    // HR may edit too.
    const byHr = await admin.post(`/nominations/${noa!.id}`, {
      action: 'regroup',
      invitation: await idOf('kai@acme.test'),
      relationship: 'peer',
    });
    expect(rowOf(byHr.body, 'Kai Manager')).toContain('Peer');
    const rows = await t.db
      .selectFrom('invitations')
      .innerJoin('people', 'people.id', 'invitations.rater_id')
      .select(['people.email', 'invitations.relationship', 'invitations.status'])
      .where('invitations.subject_id', '=', noa!.id)
      .orderBy('people.email')
      .execute();
    expect(rows).toEqual([
      { email: 'kai@acme.test', relationship: 'peer', status: 'pending' },
      { email: 'lia@acme.test', relationship: 'direct_report', status: 'pending' },
      { email: 'noa@acme.test', relationship: 'self', status: 'pending' },
      { email: 'ode@acme.test', relationship: 'other', status: 'cancelled' },
    ]);

    // Once the cycle is open, invitations are out: approved nominees stay as they are.
    await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const open = await asCoach.get(`/nominations/${noa!.id}`);
    expect(open.body).not.toContain('Move Lia Peer');
    expect(open.body).not.toContain('Remove Lia Peer');
    for (const fields of [
      { action: 'withdraw', invitation: await idOf('lia@acme.test') } as Record<string, string>,
      { action: 'regroup', invitation: await idOf('lia@acme.test'), relationship: 'peer' },
    ]) {
      const refused = await asCoach.post(`/nominations/${noa!.id}`, fields);
      expect(refused.statusCode).toBe(409);
      expect(refused.body).toContain('their invitation has been sent');
    }
    expect(
      await t.db
        .selectFrom('invitations')
        .select(['relationship', 'status'])
        .where('id', '=', await idOf('lia@acme.test'))
        .executeTakeFirstOrThrow(),
    ).toEqual({ relationship: 'direct_report', status: 'sent' });
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
