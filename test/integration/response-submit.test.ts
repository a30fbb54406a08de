import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadySubmittedError,
  outboxRepository,
  personRepository,
  responseRepository,
  rosterRepository,
  type JobToEnqueue,
} from '@panorama/db';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

async function subjectAndItems(slug: string) {
  const { instrument, organisation, baseline } = await createProgramme(t.db, { slug });
  const leader = await personRepository.upsert(t.db, {
    organisationId: organisation.id,
    email: `lee@${slug}.test`,
    name: 'Lee',
  });
  const subject = await rosterRepository.addSubject(t.db, {
    cycleId: baseline.id,
    leaderId: leader.id,
    coachId: null,
  });
  const itemCompetency = new Map(
    instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
  );
  return { cycleId: baseline.id, subjectId: subject.id, itemCompetency };
}

const outboxIds = async () =>
  (await t.db.selectFrom('job_outbox').select('id').execute()).map((r) => r.id).sort();

describe('storing a response in one statement', () => {
  it('writes the response, its ratings, comments and jobs, deletes the draft, and refuses a spent token', async () => {
    const { cycleId, subjectId, itemCompetency } = await subjectAndItems('one');
    const [first, second, third] = [...itemCompetency.keys()];
    const draftMac = randomBytes(32);
    const otherDraft = randomBytes(32);
    await responseRepository.saveDraft(t.db, draftMac, Buffer.from('sealed'));
    await responseRepository.saveDraft(t.db, otherDraft, Buffer.from('sealed'));
    const spentMac = randomBytes(32);
    const jobs: JobToEnqueue[] = [
      { queue: 'aggregate', name: 'aggregate-subject', jobId: `s:${subjectId}`, data: { subjectId } },
      { queue: 'cohort', name: 'rollup-cohort', jobId: 'c:1', data: { programmeId: 'p' } },
    ];
    const input = {
      spentMac,
      draftMac,
      response: {
        cycleId,
        subjectId,
        relationship: 'peer' as const,
        ratings: { [first!]: 4, [second!]: null, [third!]: 1 },
        comments: { keep_doing: 'Listens — really <listens>', start_doing: 'מאזין' },
      },
      itemCompetency,
      jobs,
    };
    const stored = await responseRepository.submit(t.db, input);

    const response = await t.db.selectFrom('responses').selectAll().executeTakeFirstOrThrow();
    expect(response).toMatchObject({
      id: stored.id,
      cycle_id: cycleId,
      subject_id: subjectId,
      relationship: 'peer',
    });
    const ratings = await t.db
      .selectFrom('response_ratings')
      .select(['item_id', 'competency_id', 'value'])
      .where('response_id', '=', stored.id)
      .orderBy('item_id')
      .execute();
    expect(ratings).toEqual(
      [
        { item_id: first!, competency_id: itemCompetency.get(first!)!, value: 4 },
        { item_id: second!, competency_id: itemCompetency.get(second!)!, value: null },
        { item_id: third!, competency_id: itemCompetency.get(third!)!, value: 1 },
      ].sort((a, b) => (a.item_id < b.item_id ? -1 : 1)),
    );
    const comments = await t.db
      .selectFrom('response_comments')
      .select(['question_id', 'body'])
      .where('response_id', '=', stored.id)
      .orderBy('question_id')
      .execute();
    expect(comments).toEqual([
      { question_id: 'keep_doing', body: 'Listens — really <listens>' },
      { question_id: 'start_doing', body: 'מאזין' },
    ]);
    const outbox = await t.db.selectFrom('job_outbox').select(['id', 'name', 'job_id', 'data']).execute();
    expect(outbox).toHaveLength(2);
    expect(stored.jobs.map((j) => [j.jobId, j.outboxId])).toEqual(
      jobs.map((j) => [j.jobId, outbox.find((o) => o.job_id === j.jobId)!.id]),
    );
    expect(outbox.find((o) => o.name === 'aggregate-subject')!.data).toEqual({ subjectId });
    expect(await responseRepository.loadDraft(t.db, draftMac)).toBeUndefined();
    expect(await responseRepository.loadDraft(t.db, otherDraft)).toBeDefined();

    // The same token again: refused, and nothing at all is written (no second response, job or deletion).
    await responseRepository.saveDraft(t.db, draftMac, Buffer.from('sealed again'));
    await expect(responseRepository.submit(t.db, input)).rejects.toBeInstanceOf(AlreadySubmittedError);
    expect(await t.db.selectFrom('responses').select('id').execute()).toHaveLength(1);
    expect(await t.db.selectFrom('response_ratings').select('item_id').execute()).toHaveLength(3);
    expect(await outboxIds()).toHaveLength(2);
    expect(await responseRepository.loadDraft(t.db, draftMac)).toEqual(Buffer.from('sealed again'));
    await t.db.deleteFrom('job_outbox').execute();
  });

  it('pushes the jobs it wrote and deletes only their rows; a failed push leaves the row for the sweeper', async () => {
    const { cycleId, subjectId, itemCompetency } = await subjectAndItems('two');
    const submit = (jobId: string) =>
      responseRepository.submit(t.db, {
        spentMac: randomBytes(32),
        response: { cycleId, subjectId, relationship: 'self', ratings: {}, comments: {} },
        itemCompetency,
        jobs: [{ queue: 'aggregate', name: 'aggregate-subject', jobId, data: { subjectId } }],
      });
    const backlog = await submit('backlog');
    const pushed: string[] = [];
    const fresh = await submit('fresh');
    await outboxRepository.pushWritten(
      t.db,
      async (job) => void pushed.push(job.jobId),
      fresh.jobs,
      () => {
        throw new Error('no error expected');
      },
    );
    expect(pushed).toEqual(['fresh']);
    // The backlog row (an earlier submission's, left by a Redis outage) is the sweeper's, not this request's.
    expect(await outboxIds()).toEqual([backlog.jobs[0]!.outboxId]);

    const errors: unknown[] = [];
    const failing = await submit('failing');
    await outboxRepository.pushWritten(
      t.db,
      async () => {
        throw new Error('redis down');
      },
      failing.jobs,
      (error) => errors.push(error),
    );
    expect(errors).toHaveLength(1);
    expect(await outboxIds()).toEqual([backlog.jobs[0]!.outboxId, failing.jobs[0]!.outboxId].sort());
  });
});
