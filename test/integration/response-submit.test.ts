import { randomBytes, randomUUID } from 'node:crypto';
import { RawNode, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AlreadySubmittedError,
  DEFAULT_MIN_BATCH,
  outboxRepository,
  personRepository,
  responseRepository,
  rosterRepository,
  type JobToEnqueue,
} from '@panorama/db';
import { parseAnswers, tokenMac } from '@panorama/domain';
import {
  createCompletionSet,
  createProducer,
  createRedis,
  MIN_COMPLETION_BATCH,
  planJob,
} from '@panorama/jobs';
import { closeCycle, importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createSurveyService } from '@panorama/survey';
import {
  completeFields,
  createProgramme,
  keys,
  linksFromOutbox,
  rosterCsv,
  SURVEY_URL,
} from '../support/scenario.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { createFlushCompletions } from '../../services/worker/src/handlers/flush-completions.ts';

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

/** One leader's open cycle with its links and complete answers (a fresh database slug each time). */
async function openLeader(slug: string) {
  const { baseline, instrument } = await createProgramme(t.db, { slug });
  await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(rosterCsv([slug])) });
  await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
  await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
  const links = await linksFromOutbox(t.db);
  await t.db.updateTable('email_outbox').set({ status: 'sent' }).execute();
  const answers = parseAnswers(instrument, completeFields(instrument), { complete: true });
  const tokenOf = (to: string) => links.find((l) => l.to === `${to}@acme.test`)!.token;
  return { cycleId: baseline.id, tokens: links.map((l) => l.token), tokenOf, answers };
}

const pendingOf = async (cycleId: string) =>
  (
    await t.db
      .selectFrom('pending_completions')
      .innerJoin('invitations', 'invitations.id', 'pending_completions.invitation_id')
      .innerJoin('subjects', 'subjects.id', 'invitations.subject_id')
      .select('invitation_id')
      .where('subjects.cycle_id', '=', cycleId)
      .execute()
  ).map((r) => r.invitation_id);

describe('completions while Redis is down', () => {
  it('the repository flushes by default in batches of the same minimum the services use', () => {
    expect(DEFAULT_MIN_BATCH).toBe(MIN_COMPLETION_BATCH);
  });

  it('are held, written as a batch once the minimum gathered, and handed to Redis when it answers again', async () => {
    const { cycleId, tokens, answers } = await openLeader('held');
    const inRedis = new Set<string>();
    let redisUp = false;
    const completions = {
      add: async (id: string) => {
        if (!redisUp) throw new Error('Redis is down');
        inRedis.add(id);
      },
      has: async (id: string) => {
        if (!redisUp) throw new Error('Redis is down');
        return inRedis.has(id);
      },
    };
    const errors: unknown[] = [];
    const service = createSurveyService({
      db: t.db,
      keys,
      completions,
      minCompletionBatch: 3,
      completionRetryMs: 1,
      onEnqueueError: (error) => errors.push(error),
    });
    const submit = async (token: string) => {
      const opened = await service.open(token);
      await service.submit(token, opened, answers);
      return opened.invitationId;
    };
    const first = [await submit(tokens[0]!), await submit(tokens[1]!)];
    // Two are fewer than the batch: nothing in Postgres yet, yet both links are used up for this process.
    expect(await pendingOf(cycleId)).toEqual([]);
    await expect(service.open(tokens[0]!)).rejects.toThrow(/cannot be used/);
    first.push(await submit(tokens[2]!));
    expect((await pendingOf(cycleId)).sort()).toEqual([...first].sort());

    // One more, held; the retry timer ticks in between with nothing to move, then with it, and fails.
    const late = await submit(tokens[3]!);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await pendingOf(cycleId)).toHaveLength(3);
    redisUp = true;
    const next = await submit(tokens[4]!);
    // The next completion that reaches Redis takes the held one with it.
    expect([...inRedis].sort()).toEqual([late, next].sort());
    await service.close();
    expect(await pendingOf(cycleId)).toHaveLength(3);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('on shutdown, what is still held goes to Postgres whatever its number', async () => {
    const { cycleId, tokens, answers } = await openLeader('shutdown');
    const down = () => Promise.reject(new Error('Redis is down'));
    const service = createSurveyService({ db: t.db, keys, completions: { add: down, has: down } });
    const opened = await service.open(tokens[0]!);
    await service.submit(tokens[0]!, opened, answers);
    expect(await pendingOf(cycleId)).toEqual([]);
    await service.close();
    expect(await pendingOf(cycleId)).toEqual([opened.invitationId]);
  });
});

describe('a submission whose reply was lost after the commit', () => {
  /**
   * The database as a rater's request sees it when Postgres commits the response and then the connection
   * drops: the statement took effect, but the caller gets an error.
   */
  function dropsReplyAfterStoring(db: typeof t.db) {
    const storing = new Set<unknown>();
    let armed = true;
    const plugin: KyselyPlugin = {
      transformQuery({ node, queryId }) {
        if (
          armed &&
          RawNode.is(node) &&
          node.sqlFragments.some((f) => f.includes('insert into spent_tokens'))
        )
          storing.add(queryId);
        return node;
      },
      async transformResult({ result, queryId }) {
        if (!storing.delete(queryId)) return result;
        armed = false;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      },
    };
    return db.withPlugin(plugin);
  }

  const completionsIn = (set: Set<string>) => ({
    add: async (id: string) => void set.add(id),
    has: async (id: string) => set.has(id),
  });

  it('still gets its completion queued once Postgres answers, with no retry by the rater', async () => {
    const { tokens, answers } = await openLeader('lost-reply');
    const inRedis = new Set<string>();
    const service = createSurveyService({
      db: dropsReplyAfterStoring(t.db),
      keys,
      completions: completionsIn(inRedis),
      completionRetryMs: 5,
    });
    const opened = await service.open(tokens[0]!);
    await expect(service.submit(tokens[0]!, opened, answers)).rejects.toThrow(/Connection terminated/);
    expect(await responseRepository.isSpent(t.db, tokenMac(keys.spent, tokens[0]!))).toBe(true);
    await vi.waitFor(() => expect([...inRedis]).toEqual([opened.invitationId]));
    await service.close();
  });

  it('is settled when the rater opens the used link again, even after a restart', async () => {
    const { tokens, answers } = await openLeader('lost-reopen');
    const inRedis = new Set<string>();
    const crashed = createSurveyService({
      db: dropsReplyAfterStoring(t.db),
      keys,
      completions: completionsIn(inRedis),
    });
    const opened = await crashed.open(tokens[0]!);
    await expect(crashed.submit(tokens[0]!, opened, answers)).rejects.toThrow(/Connection terminated/);
    // The process dies before it could settle anything (no close); a new one knows nothing of it.
    expect(inRedis.size).toBe(0);
    const next = createSurveyService({ db: t.db, keys, completions: completionsIn(inRedis) });
    await expect(next.open(tokens[0]!)).rejects.toThrow(/cannot be used/);
    expect([...inRedis]).toEqual([opened.invitationId]);
    // A link that was never used queues nothing when refused for another reason.
    await expect(next.open(tokens[1]!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).rejects.toThrow(
      /cannot be used/,
    );
    expect(inRedis.size).toBe(1);
    await next.close();
  });

  it('a submission that failed before the commit queues nothing', async () => {
    const { tokens, answers } = await openLeader('failed-before');
    const inRedis = new Set<string>();
    const service = createSurveyService({
      db: t.db,
      keys,
      completions: completionsIn(inRedis),
      completionRetryMs: 5,
    });
    const opened = await service.open(tokens[0]!);
    // A response for another subject's cycle is refused by Postgres (foreign key): nothing was stored.
    await expect(
      service.submit(tokens[0]!, { ...opened, subjectId: randomUUID() }, answers),
    ).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await service.close();
    expect(inRedis.size).toBe(0);
    expect(await responseRepository.isSpent(t.db, tokenMac(keys.spent, tokens[0]!))).toBe(false);
  });
});

describe('aggregation after a burst', () => {
  it('a burst of submissions for one leader makes one aggregation job, by its deterministic id', async () => {
    const { tokens, answers } = await openLeader('burst');
    const redis = createRedis(redisUrl(), 'worker');
    const producer = createProducer({ connection: redis, prefix: queuePrefix() });
    // Date is held still inside one coalescing window, so the job id cannot change under the burst.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Math.ceil(Date.now() / 60_000) * 60_000 + 100);
    try {
      const service = createSurveyService({ db: t.db, keys, producer });
      const burst = tokens.slice(0, 8);
      const opened = await Promise.all(burst.map((token) => service.open(token)));
      const subjects = new Set(opened.map((o) => o.subjectId));
      expect(subjects.size).toBe(1);
      await Promise.all(burst.map((token, i) => service.submit(token, opened[i]!, answers)));
      const subjectId = opened[0]!.subjectId;
      const jobs = await producer.queue('aggregate').getJobs(['delayed', 'waiting', 'active', 'completed']);
      const forSubject = jobs.filter((j) => j.data.subjectId === subjectId);
      expect(forSubject).toHaveLength(1);
      expect(forSubject[0]!.id).toBe(planJob('aggregate-subject', { subjectId }).jobId);
      // Every submission's outbox row was pushed (the same job each time) and removed.
      const outbox = await t.db
        .selectFrom('job_outbox')
        .select('data')
        .where('name', '=', 'aggregate-subject')
        .execute();
      expect(outbox.filter((r) => (r.data as { subjectId?: string }).subjectId === subjectId)).toEqual([]);
      await service.close();
    } finally {
      vi.useRealTimers();
      await producer.close();
      redis.disconnect();
    }
  });
});

describe('completions of a closed cycle', () => {
  it('are marked when at least k wait; with fewer, only those whose group has one invitation', async () => {
    // Earlier tests' completions in the Postgres fallback would join the batch: start without them.
    await t.db.deleteFrom('pending_completions').execute();
    const redis = createRedis(redisUrl(), 'worker');
    const completions = createCompletionSet(redis, queuePrefix());
    const flush = createFlushCompletions({ db: t.db, completions, anonymityK: 3 });
    const context = { jobId: 'test', attempt: 1, log: async () => {} };
    const service = createSurveyService({ db: t.db, keys, completions });
    const statusOf = async (ids: string[]) =>
      (await t.db.selectFrom('invitations').select('status').where('id', 'in', ids).execute()).map(
        (r) => r.status,
      );
    try {
      const submitAs = async (leader: Awaited<ReturnType<typeof openLeader>>, who: string) => {
        const token = leader.tokenOf(who);
        const opened = await service.open(token);
        await service.submit(token, opened, leader.answers);
        return opened.invitationId;
      };
      const full = await openLeader('closing');
      const fullIds = [
        await submitAs(full, 'closing'),
        await submitAs(full, 'closing.peer0'),
        await submitAs(full, 'closing.peer1'),
      ];
      const open = await openLeader('staying');
      const openIds = [await submitAs(open, 'staying.peer0')];
      // Four wait, fewer than the batch minimum of five: nothing is marked while the cycle is open.
      await flush({}, context);
      expect(await statusOf([...fullIds, ...openIds])).toEqual(['sent', 'sent', 'sent', 'sent']);

      // Closed with k = 3 waiting: all three are marked; the open cycle's one keeps waiting.
      await closeCycle({ db: t.db }, full.cycleId);
      await flush({}, context);
      expect(await statusOf(fullIds)).toEqual(['completed', 'completed', 'completed']);
      expect(await statusOf(openIds)).toEqual(['sent']);
      expect(await completions.members()).toEqual(openIds);

      // Closed with two waiting: the self-assessment (its group is one invitation) is marked, the peer is not.
      const few = await openLeader('few');
      const self = await submitAs(few, 'few');
      const peer = await submitAs(few, 'few.peer0');
      await closeCycle({ db: t.db }, few.cycleId);
      await flush({}, context);
      expect(await statusOf([self])).toEqual(['completed']);
      expect(await statusOf([peer])).toEqual(['sent']);
      expect((await completions.members()).sort()).toEqual([...openIds, peer].sort());
    } finally {
      await service.close();
      redis.disconnect();
    }
  });
});
