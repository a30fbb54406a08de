import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, parseAnswers, tokenMac } from '@panorama/domain';
import { closeCycle, importRoster, openCycle, parseRosterCsv, sendReminders } from '@panorama/report';
import { createSurveyService, LinkUnusableError } from '@panorama/survey';
import { AlreadySubmittedError, responseRepository } from '@panorama/db';
import { createCompletionSet, createRedis } from '@panorama/jobs';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import {
  completeFields,
  createProgramme,
  keys,
  linksFromOutbox,
  rosterCsv,
  SURVEY_URL,
} from '../support/scenario.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('roster import', () => {
  it('reports every bad row by number and imports nothing', async () => {
    const { baseline } = await createProgramme(t.db);
    const csv = [
      'leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship',
      'dana@acme.test,Dana,,,sam@acme.test,Sam,peer',
      'dana@acme.test,Dana,,,kim@acme.test,Kim,peer ',
      'dana@acme.test,Dana,,,not-an-email,Lee,manager',
      'dana@acme.test,Dana,,,sam@acme.test,Sam,peer',
    ].join('\n');
    let error: unknown;
    try {
      parseRosterCsv(csv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const problems = (error as ValidationError).problems.map((p) => `${p.path}: ${p.message}`);
    expect(problems).toContain(
      "row 3: relationship 'peer ' is not one of self, manager, peer, direct_report, other",
    );
    expect(problems).toContain("row 4: rater_email 'not-an-email' is not an email address");
    expect(problems.some((p) => p.startsWith('row 5: repeats the rater sam@acme.test'))).toBe(true);
    const subjects = await t.db
      .selectFrom('subjects')
      .select('id')
      .where('cycle_id', '=', baseline.id)
      .execute();
    expect(subjects).toHaveLength(0);
  });

  it('rejects missing and unknown columns', () => {
    expect(() => parseRosterCsv('leader_email,rater_email\na@b.c,d@e.f')).toThrow(
      /missing column\(s\): leader_name/,
    );
    expect(() => parseRosterCsv(rosterCsv(['x']).replace('relationship', 'relationship,extra'))).toThrow(
      /unknown column/,
    );
  });

  it('adds leaders, coaches, raters and each leader’s self-assessment', async () => {
    const { baseline } = await createProgramme(t.db);
    const result = await importRoster(t.db, {
      cycleId: baseline.id,
      rows: parseRosterCsv(rosterCsv(['ana', 'ben'])),
    });
    expect(result).toEqual({ leaders: 2, invitations: 2 * (1 + 1 + 3 + 3) });
    const self = await t.db
      .selectFrom('invitations')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .select('invitations.relationship')
      .where('subjects.cycle_id', '=', baseline.id)
      .where('invitations.relationship', '=', 'self')
      .execute();
    expect(self).toHaveLength(2);
  });
});

describe('a cycle from opening to close', () => {
  it('emails one message per rater with all their links, takes one response per link, reminds only non-responders', async () => {
    const { baseline, instrument } = await createProgramme(t.db);
    const shared = 'olga.other@acme.test';
    await importRoster(t.db, {
      cycleId: baseline.id,
      rows: parseRosterCsv(rosterCsv(['ana', 'ben'], { shared: [shared] })),
    });
    const opened = await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    expect(opened.invitations).toBe(2 * 9);
    expect(opened.emails).toBe(2 * 8 + 1);

    const links = await linksFromOutbox(t.db);
    const olga = links.filter((l) => l.to === shared);
    expect(olga.map((l) => l.leaderName).sort()).toEqual(['ana', 'ben']);
    expect(new Set(links.map((l) => l.token)).size).toBe(links.length);
    // Only MACs are stored: no token appears anywhere in the invitation links.
    const stored = await t.db.selectFrom('invitation_links').select('token_hash').execute();
    expect(stored.map((s) => s.token_hash.toString('hex'))).toContain(
      tokenMac(keys.invitation, links[0]!.token).toString('hex'),
    );

    const survey = createSurveyService({ db: t.db, keys });
    const link = links.find((l) => l.to === 'ana.peer0@acme.test')!;
    const opening = await survey.open(link.token);
    expect(opening.leaderName).toBe('ana');
    expect(opening.perspective).toBe('rater');
    const answers = parseAnswers(instrument, completeFields(instrument), { complete: true });
    // Two tabs submitting at once: exactly one response.
    const results = await Promise.allSettled([
      survey.submit(link.token, opening, answers),
      survey.submit(link.token, opening, answers),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')?.reason).toBeInstanceOf(AlreadySubmittedError);
    await expect(survey.open(link.token)).rejects.toBeInstanceOf(LinkUnusableError);
    const responses = await t.db
      .selectFrom('responses')
      .selectAll()
      .where('cycle_id', '=', baseline.id)
      .execute();
    expect(responses).toHaveLength(1);
    // The aggregation job waits in the job outbox (no Redis producer here), carrying ids only.
    const jobs = await t.db
      .selectFrom('job_outbox')
      .select(['name', 'data'])
      .where('name', '=', 'aggregate-subject')
      .execute();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.data).toEqual({ subjectId: opening.subjectId });

    // Completion reaches the invitation only through a batch of at least the minimum: without Redis the
    // service holds it, and on shutdown writes it to the Postgres fallback, where one waits unmarked.
    await survey.close();
    await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
    const reminded = await sendReminders({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const after = await t.db
      .selectFrom('invitations')
      .select(['status', 'completed_on'])
      .where('id', '=', opening.invitationId)
      .executeTakeFirstOrThrow();
    expect(after).toEqual({ status: 'sent', completed_on: null });
    expect(reminded.reminded.invitations).toBe(2 * 9 - 1);
    const reminders = await linksFromOutbox(t.db);
    expect(reminders.some((r) => r.to === 'ana.peer0@acme.test')).toBe(false);
    // The reminder's link works, and so does the original one, until one is used.
    const again = reminders.find((r) => r.to === 'ana.peer1@acme.test')!;
    await expect(survey.open(again.token)).resolves.toMatchObject({ leaderName: 'ana' });

    await closeCycle({ db: t.db }, baseline.id);
    await expect(survey.open(again.token)).rejects.toBeInstanceOf(LinkUnusableError);
    // Closing queues one aggregation of the whole cycle, carrying its id only.
    const aggregations = await t.db
      .selectFrom('job_outbox')
      .select('data')
      .where('name', '=', 'aggregate-cycle')
      .execute();
    expect(aggregations.map((a) => a.data)).toEqual([{ cycleId: baseline.id }]);
  });

  it('refuses garbled, unknown and declined links with the same error', async () => {
    const { baseline } = await createProgramme(t.db);
    await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv(['cy'])) });
    await t.db.deleteFrom('email_outbox').execute();
    await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const survey = createSurveyService({ db: t.db, keys });
    const [link] = await linksFromOutbox(t.db);
    const opened = await survey.open(link!.token);
    await survey.decline(opened);
    for (const token of [link!.token, 'short', 'x'.repeat(43), link!.token.slice(0, -1) + '_']) {
      await expect(survey.open(token)).rejects.toThrow(new LinkUnusableError().message);
    }
  });

  it('keeps drafts sealed: the stored bytes do not contain the answers', async () => {
    const { baseline } = await createProgramme(t.db);
    await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv(['di'])) });
    await t.db.deleteFrom('email_outbox').execute();
    await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
    const survey = createSurveyService({ db: t.db, keys });
    const [link] = await linksFromOutbox(t.db);
    await survey.saveDraft(link!.token, {
      ratings: { 'communication.x': 4 },
      comments: { keep: 'A secret remark' },
    });
    expect((await survey.loadDraft(link!.token)).comments.keep).toBe('A secret remark');
    const rows = await t.db.selectFrom('response_drafts').select('ciphertext').execute();
    expect(rows.some((r) => r.ciphertext.toString('latin1').includes('secret'))).toBe(false);
    expect(await responseRepository.loadDraft(t.db, tokenMac(keys.draft, link!.token))).toBeDefined();
  });
});

describe('completions waiting in the Redis set', () => {
  it('a reminder neither reminds a responder nor marks a batch smaller than the minimum', async () => {
    const redis = createRedis(redisUrl(), 'worker');
    const completions = createCompletionSet(redis, queuePrefix());
    try {
      const { baseline, instrument } = await createProgramme(t.db);
      await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv(['eva'])) });
      await t.db.deleteFrom('email_outbox').execute();
      await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
      const survey = createSurveyService({ db: t.db, keys, completions });
      const links = await linksFromOutbox(t.db);
      const responder = links.find((l) => l.to === 'eva.peer0@acme.test')!;
      const opened = await survey.open(responder.token);
      await survey.submit(
        responder.token,
        opened,
        parseAnswers(instrument, completeFields(instrument), { complete: true }),
      );
      expect(await completions.has(opened.invitationId)).toBe(true);
      await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();

      const result = await sendReminders(
        { db: t.db, keys, surveyBaseUrl: SURVEY_URL, completions, minCompletionBatch: 5 },
        baseline.id,
      );
      expect(result.reminded.invitations).toBe(8 - 1);
      const reminded = await linksFromOutbox(t.db);
      expect(reminded.some((r) => r.to === 'eva.peer0@acme.test')).toBe(false);
      // One completion is below the batch minimum: it stays in the set, the invitation is not yet marked.
      const invitation = await t.db
        .selectFrom('invitations')
        .select('status')
        .where('id', '=', opened.invitationId)
        .executeTakeFirstOrThrow();
      expect(invitation.status).toBe('sent');
      expect(await completions.has(opened.invitationId)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});
