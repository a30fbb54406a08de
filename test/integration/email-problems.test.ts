import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRepository, responseRepository, type Db } from '@panorama/db';
import { parseAnswers, sealOutbox } from '@panorama/domain';
import { PermanentMailError, TemporaryMailError, type MailMessage } from '@panorama/mail';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createSurveyService } from '@panorama/survey';
import { createDeliverEmail } from '../../services/worker/src/handlers/deliver-email.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { reportApp, signedInClient } from '../support/report-pages-seed.ts';
import {
  completeFields,
  createProgramme,
  keys,
  linksFromOutbox,
  rosterCsv,
  SURVEY_URL,
} from '../support/scenario.ts';

let t: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  t = await createTestDatabase();
  app = await reportApp(t.db);
});
afterAll(async () => {
  await app?.close();
  await t?.drop();
});

/** Delivers every queued email once, through the real handler, with a mail server scripted per address. */
async function deliverAll(db: Db, answer: (to: string) => 'ok' | 'permanent' | 'temporary') {
  const sent: MailMessage[] = [];
  const deliver = createDeliverEmail({
    db,
    keys,
    logger: pino({ level: 'silent' }),
    // One attempt a spell: a temporary failure sets the email aside at once.
    maxAttempts: 1,
    mailer: {
      send: async (message) => {
        const outcome = answer(message.to);
        if (outcome === 'permanent') throw new PermanentMailError('SMTP 550 5.1.1', 550);
        if (outcome === 'temporary') throw new TemporaryMailError('SMTP 451 4.2.0', 451);
        sent.push(message);
        return { messageId: 'x', destination: 'smtp' };
      },
    },
  });
  const queued = await db.selectFrom('email_outbox').select('id').where('status', '=', 'queued').execute();
  for (const { id } of queued) await deliver({ outboxId: id }, { jobId: id, attempt: 1, log: () => {} });
  return sent;
}

const statusOf = (db: Db, email: string, cycleId: string) =>
  db
    .selectFrom('invitations')
    .innerJoin('people', 'people.id', 'invitations.rater_id')
    .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
    .select(['invitations.id', 'invitations.status', 'invitations.bounce_reason'])
    .where('people.email', '=', email)
    .where('subjects.cycle_id', '=', cycleId)
    .execute();

describe('undelivered emails', () => {
  it('a bounce reaches only the invitations its email carried; the admin sees each cycle’s bounces, delays and declines', async () => {
    const { hr, baseline, followUp, instrument } = await createProgramme(t.db, { followUp: true });
    // Pat rates two leaders in the baseline (one email with both links) and one in the follow-up.
    await importRoster(t.db, {
      cycleId: baseline.id,
      rows: parseRosterCsv(rosterCsv(['ada', 'bo'], { peers: 3, reports: 0, shared: ['pat@acme.test'] })),
    });
    await importRoster(t.db, {
      cycleId: followUp!.id,
      rows: parseRosterCsv(rosterCsv(['cy'], { peers: 3, reports: 0, shared: ['pat@acme.test'] })),
    });
    const lifecycle = { db: t.db, keys, surveyBaseUrl: SURVEY_URL };
    await openCycle(lifecycle, followUp!.id);
    await deliverAll(t.db, () => 'ok');
    await openCycle(lifecycle, baseline.id);
    const links = await linksFromOutbox(t.db);
    // A sign-in email to Pat belongs to no cycle and carries no invitation.
    await outboxRepository.queueEmail(t.db, {
      organisationId: hr.organisation_id,
      template: 'sign-in',
      toAddress: 'pat@acme.test',
      payload: sealOutbox(
        keys,
        JSON.stringify({
          template: 'sign-in',
          data: { name: 'Pat', link: 'https://report.test/sign-in/x', expiresInMinutes: 15 },
        }),
      ),
    });

    await deliverAll(t.db, (to) =>
      to === 'pat@acme.test' ? 'permanent' : to === 'ada.peer0@acme.test' ? 'temporary' : 'ok',
    );

    // The baseline email carried Pat's two baseline links: both bounced. The follow-up one went out
    // earlier in its own email and stays as it was; the sign-in bounce changed nothing.
    expect((await statusOf(t.db, 'pat@acme.test', baseline.id)).map((i) => i.status)).toEqual([
      'bounced',
      'bounced',
    ]);
    expect((await statusOf(t.db, 'pat@acme.test', followUp!.id)).map((i) => i.status)).toEqual(['sent']);
    // A temporary failure bounces nothing; the email waits.
    expect((await statusOf(t.db, 'ada.peer0@acme.test', baseline.id))[0]?.status).toBe('sent');
    const delayed = await t.db
      .selectFrom('email_outbox')
      .select(['status', 'rounds', 'last_error'])
      .where('to_address', '=', 'ada.peer0@acme.test')
      .executeTakeFirstOrThrow();
    expect(delayed).toEqual({ status: 'queued', rounds: 1, last_error: 'SMTP 451 4.2.0' });

    // One rater declines.
    const survey = createSurveyService({ db: t.db, keys });
    const decliner = links.find((l) => l.to === 'ada.peer1@acme.test')!;
    await survey.decline(await survey.open(decliner.token));

    // The bounced link still opens (Pat may have had it forwarded), and the answer counts.
    const patForAda = links.find((l) => l.to === 'pat@acme.test' && l.leaderName === 'ada')!;
    const opened = await survey.open(patForAda.token);
    await survey.submit(
      patForAda.token,
      opened,
      parseAnswers(instrument, completeFields(instrument), { complete: true }),
    );
    // One completion is below the batch minimum: the service holds it until shutdown, and the flush here
    // takes a batch of one.
    await survey.close();
    await responseRepository.flushCompletions(t.db, { minBatch: 1 });
    expect(
      (await statusOf(t.db, 'pat@acme.test', baseline.id)).find((i) => i.id === opened.invitationId)?.status,
    ).toBe('completed');

    const admin = await signedInClient(app, t.db, hr.id);
    const page = (await admin.get(`/admin/cycles/${baseline.id}`)).body;
    expect(page).toContain('Emails that could not be delivered');
    expect(page).toContain('invitation to pat@acme.test: SMTP 550 5.1.1');
    // Only this cycle's emails: the sign-in bounce is not one of them.
    expect(page.match(/to pat@acme\.test: SMTP 550/g)).toHaveLength(1);
    expect(page).toContain('Emails delayed');
    expect(page).toContain('1 email of this cycle is waiting');
    expect(page).toContain('last error: SMTP 451 4.2.0');
    expect(page).not.toContain('ada.peer0@acme.test: SMTP');
    expect(page).toContain('1 declined, 1 emails bounced');
    expect(rowsOf(page, 'ada Peer 1')).toEqual([expect.stringContaining('Declined')]);
    // Pat answered Ada's survey by the bounced link; Bo's invitation still shows the bounce.
    expect(
      rowsOf(page, 'pat')
        .map((r) => /<td>(Responded|Email bounced[^<]*)<\/td>/.exec(r)?.[1])
        .sort(),
    ).toEqual(['Email bounced (SMTP 550 5.1.1)', 'Responded']);

    const followUpPage = (await admin.get(`/admin/cycles/${followUp!.id}`)).body;
    expect(followUpPage).not.toContain('Emails that could not be delivered');
    expect(followUpPage).not.toContain('Emails delayed');
    expect(followUpPage).toContain('0 declined, 0 emails bounced');
  });
});

/** The admin table rows naming this rater (one per leader they rate). */
function rowsOf(body: string, name: string): string[] {
  return (body.match(/<tr>[\s\S]*?<\/tr>/g) ?? []).filter((r) => r.includes(`<td>${name}</td>`));
}
