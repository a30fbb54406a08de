import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  personRepository,
  responseRepository,
  resultRepository,
  rosterRepository,
  type Db,
  type Relationship,
} from '@panorama/db';
import {
  buildChange,
  buildCohort,
  buildProfile,
  competencyItemMatrix,
  createSeededRandom,
  cronbachAlpha,
  shownStats,
  type AnonymityRules,
  type Instrument,
  type OtherGroup,
  type Profile,
  type ScoringResponse,
} from '@panorama/domain';
import { loadConfig } from '@panorama/config';
import { createProducer, createRedis, type Producer } from '@panorama/jobs';
import {
  createHandlers,
  createWorkerLogger,
  startWorker,
  workerProcessEnv,
  type RunningWorker,
} from '@panorama/worker';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';

const SECRET = 'worker-pipeline-secret-'.padEnd(48, 'x');
const RULES: AnonymityRules = {
  k: { peer: 3, direct_report: 3, other: 3, all_others: 4 },
  distributionMinN: 4,
};
const LEADERS = 5;
const silent = createWorkerLogger('silent');

const sampleSd = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
};

interface Seeded {
  instrument: Instrument;
  programmeId: string;
  baselineCycleId: string;
  followUpCycleId: string;
  /** leader index -> subject ids */
  subjects: { baseline: string; followUp: string }[];
  /** raters invited for a leader in both cycles, per group */
  overlap: Partial<Record<OtherGroup, number>>[];
}

const GROUPS: [Relationship, number][] = [
  ['self', 1],
  ['manager', 1],
  ['peer', 3],
  ['direct_report', 3],
  ['other', 2],
];

/** A programme with a baseline and a follow-up cycle, LEADERS leaders, invitations and responses in both. */
async function seed(db: Db): Promise<Seeded> {
  const {
    instrument,
    organisation,
    programme,
    baseline,
    followUp: second,
  } = await createProgramme(db, {
    slug: 'acme',
    followUp: true,
  });
  const followUp = second!;
  const itemCompetency = new Map(
    instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
  );
  const random = createSeededRandom('worker-pipeline');
  const subjects: Seeded['subjects'] = [];
  const overlap: Seeded['overlap'] = [];
  for (let l = 0; l < LEADERS; l++) {
    const person = (email: string) =>
      personRepository.upsert(db, { organisationId: organisation.id, email, name: email });
    const leader = await person(`leader${l}@acme.test`);
    const pair = { baseline: '', followUp: '' };
    const both: Partial<Record<OtherGroup, number>> = {};
    for (const [cycle, key] of [
      [baseline, 'baseline'],
      [followUp, 'followUp'],
    ] as const) {
      const subject = await rosterRepository.addSubject(db, {
        cycleId: cycle.id,
        leaderId: leader.id,
        coachId: null,
      });
      pair[key] = subject.id;
      const leaning = l * 0.2 + (key === 'followUp' ? 0.3 : 0);
      for (const [relationship, count] of GROUPS) {
        for (let r = 0; r < count; r++) {
          // The last rater of each group is new in the follow-up; the others were invited to both.
          const fresh = key === 'followUp' && r === count - 1 && count > 1;
          const rater =
            relationship === 'self'
              ? leader
              : await person(`l${l}.${relationship}${r}${fresh ? 'b' : ''}@acme.test`);
          if (key === 'followUp' && relationship !== 'self' && !fresh) {
            const group = relationship as OtherGroup;
            both[group] = (both[group] ?? 0) + 1;
          }
          await rosterRepository.addInvitation(db, {
            subjectId: subject.id,
            raterId: rater.id,
            relationship,
            status: 'completed',
          });
          const ratings: Record<string, number | null> = {};
          for (const itemId of itemCompetency.keys()) {
            const draw = random();
            ratings[itemId] =
              draw < 0.06 ? null : Math.min(5, Math.max(1, Math.round(2.6 + leaning + random() * 2.2)));
          }
          await responseRepository.submit(db, {
            spentMac: randomBytes(32),
            response: {
              cycleId: cycle.id,
              subjectId: subject.id,
              relationship,
              ratings,
              comments: random() < 0.5 ? { [instrument.questions[0]!.id]: `comment ${l}.${r}` } : {},
            },
            itemCompetency,
            jobs: [],
          });
        }
      }
    }
    subjects.push(pair);
    overlap.push(both);
  }
  return {
    instrument,
    programmeId: programme.id,
    baselineCycleId: baseline.id,
    followUpCycleId: followUp.id,
    subjects,
    overlap,
  };
}

/** Raw responses straight from the tables, without the repository the worker uses. */
async function rawResponses(db: Db, where: { subjectId: string } | { cycleId: string }) {
  const column = 'subjectId' in where ? 'subject_id' : 'cycle_id';
  const value = 'subjectId' in where ? where.subjectId : where.cycleId;
  const rows = await sql<{
    id: string;
    relationship: Relationship;
    item_id: string | null;
    value: number | null;
    question_id: string | null;
    body: string | null;
  }>`select r.id, r.relationship, rr.item_id, rr.value, null as question_id, null as body
     from responses r left join response_ratings rr on rr.response_id = r.id where r.${sql.ref(column)} = ${value}
     union all
     select r.id, r.relationship, null, null, rc.question_id, rc.body
     from responses r join response_comments rc on rc.response_id = r.id where r.${sql.ref(column)} = ${value}`.execute(
    db,
  );
  const byId = new Map<string, ScoringResponse>();
  for (const row of rows.rows) {
    const response = byId.get(row.id) ?? {
      id: row.id,
      relationship: row.relationship,
      ratings: {},
      comments: {},
    };
    byId.set(row.id, response);
    if (row.item_id !== null) response.ratings[row.item_id] = row.value;
    if (row.question_id !== null) response.comments[row.question_id] = row.body ?? '';
  }
  return [...byId.values()];
}

/** Deep equality with numbers compared to 9 decimals (SQL and JS sum in different orders). */
function expectClose(actual: unknown, expected: unknown, where = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(actual, where).toBeCloseTo(expected, 9);
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), where).toBe(true);
    expect((actual as unknown[]).length, where).toBe(expected.length);
    expected.forEach((e, i) => expectClose((actual as unknown[])[i], e, `${where}[${i}]`));
  } else if (typeof expected === 'object' && expected !== null) {
    expect(typeof actual, where).toBe('object');
    expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected)) {
      expectClose((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
    }
  } else {
    expect(actual, where).toEqual(expected);
  }
}

async function waitForIdle(db: Db, producer: Producer) {
  const deadline = Date.now() + 50_000;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the queues did not drain in time');
    const counts = await producer
      .queue('aggregate')
      .getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'paused');
    const outbox = await db
      .selectFrom('job_outbox')
      .select(db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const busy = Object.values(counts).reduce((a, b) => a + b, 0) + outbox.n;
    quiet = busy === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function workerConfig(t: TestDatabase, prefix: string) {
  return loadConfig(
    workerProcessEnv,
    {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: t.url,
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      APP_SECRET: SECRET,
      OUTBOX_DIR: path.join(t.name, 'outbox'),
    },
    'worker-test',
  );
}

describe('worker: responses to profiles, changes and the cohort', () => {
  let t: TestDatabase;
  let seeded: Seeded;
  let worker: RunningWorker;
  const prefix = queuePrefix();

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seed(t.db);
    worker = await startWorker(workerConfig(t, prefix), { logger: silent, schedule: false });
    for (const pair of seeded.subjects) {
      await worker.producer.enqueue('aggregate-subject', { subjectId: pair.baseline });
      await worker.producer.enqueue('aggregate-subject', { subjectId: pair.followUp });
    }
    await waitForIdle(t.db, worker.producer);
  });
  afterAll(async () => {
    await worker?.close();
    await t?.drop();
  });

  it('stores one profile per subject equal to buildProfile over the raw rows', async () => {
    for (const pair of seeded.subjects) {
      for (const subjectId of [pair.baseline, pair.followUp]) {
        const stored = await resultRepository.latestProfile(t.db, subjectId);
        expect(stored?.version).toBe(1);
        const expected = buildProfile({
          instrument: seeded.instrument,
          responses: await rawResponses(t.db, { subjectId }),
          rules: RULES,
          seed: subjectId,
        });
        expect(stored?.data).toEqual(JSON.parse(JSON.stringify(expected)));
        expect(stored?.group_counts).toEqual({ self: 1, manager: 1, peer: 3, direct_report: 3, other: 2 });
      }
    }
  });

  it('stores each change with SD1 from the baseline cohort, alpha of the baseline cycle and overlap from invitations', async () => {
    const baselineProfiles = await Promise.all(
      seeded.subjects.map(
        async (p) => (await resultRepository.latestProfile(t.db, p.baseline))!.data as Profile,
      ),
    );
    const cycleResponses = await rawResponses(t.db, { cycleId: seeded.baselineCycleId });
    const sd1: Record<string, number> = {};
    const rxx: Record<string, number> = {};
    for (const competency of seeded.instrument.competencies) {
      const means = baselineProfiles.flatMap((p) => {
        const stats = shownStats(p.competencies.find((c) => c.id === competency.id)!.groups, 'all_others');
        return stats ? [stats.mean] : [];
      });
      sd1[competency.id] = sampleSd(means);
      const alpha = cronbachAlpha(
        competencyItemMatrix(seeded.instrument, competency.id, cycleResponses),
      ).alpha;
      if (alpha !== null && alpha >= 0 && alpha < 1) rxx[competency.id] = alpha;
    }

    expect(Object.keys(sd1)).toHaveLength(seeded.instrument.competencies.length);
    expect(Object.keys(rxx).length).toBeGreaterThan(0);
    for (const [l, pair] of seeded.subjects.entries()) {
      const stored = await resultRepository.latestChange(t.db, pair.followUp);
      expect(stored?.baseline_subject_id).toBe(pair.baseline);
      const data = stored!.data as {
        sd1ByCompetency: Record<string, number>;
        rxxByCompetency: Record<string, number>;
        report: unknown;
      };
      expectClose(data.sd1ByCompetency, sd1);
      expectClose(data.rxxByCompetency, rxx);
      const expected = buildChange({
        baseline: baselineProfiles[l]!,
        followUp: (await resultRepository.latestProfile(t.db, pair.followUp))!.data as Profile,
        sd1ByCompetency: sd1,
        rxxByCompetency: rxx,
        overlap: seeded.overlap[l]!,
      });
      expectClose(data.report, JSON.parse(JSON.stringify(expected)));
    }
  });

  it('stores the cohort roll-up equal to buildCohort over the latest profiles, with invitation counts', async () => {
    const stored = await resultRepository.latestCohort(t.db, seeded.programmeId);
    const data = stored!.data as {
      leaders: number;
      sd1ByCompetency: Record<string, number>;
      rxxByCompetency: Record<string, number>;
      invitations: { baseline: Record<string, { invited: number }> };
      report: unknown;
    };
    expect(data.leaders).toBe(LEADERS);
    expect(data.invitations.baseline['peer']?.invited).toBe(3 * LEADERS);
    const leaders = await Promise.all(
      seeded.subjects.map(async (p) => ({
        baseline: (await resultRepository.latestProfile(t.db, p.baseline))!.data as Profile,
        followUp: (await resultRepository.latestProfile(t.db, p.followUp))!.data as Profile,
      })),
    );
    const expected = buildCohort({
      leaders,
      cohortLeaderCount: LEADERS,
      sd1ByCompetency: data.sd1ByCompetency,
      rxxByCompetency: data.rxxByCompetency,
      rules: RULES,
    });
    expect(expected.suppressed).toBe(false);
    expectClose(data.report, JSON.parse(JSON.stringify(expected)));
  });

  it('running a handler again, or twice at once, stores nothing new', async () => {
    const handlers = createHandlers({
      db: t.db,
      producer: worker.producer,
      mailer: { send: () => Promise.reject(new Error('no mail here')) },
      keys: { outbox: Buffer.alloc(32) },
      anonymityK: 3,
      logger: silent,
    });
    const context = { jobId: 'x', attempt: 1, log: () => {} };
    const subjectId = seeded.subjects[0]!.baseline;
    const before = await sql<{
      data: string;
    }>`select data::text from profile_snapshots where subject_id = ${subjectId}`.execute(t.db);
    const count = () =>
      sql<{ n: number }>`
        select (select count(*) from change_results)::int + (select count(*) from cohort_results)::int as n`.execute(
        t.db,
      );
    const versions = await count();
    await handlers['aggregate-subject']({ subjectId }, context);
    await Promise.all([
      handlers['aggregate-subject']({ subjectId }, context),
      handlers['aggregate-subject']({ subjectId }, context),
      handlers['compute-change']({ subjectId }, context),
      handlers['rollup-cohort']({ programmeId: seeded.programmeId }, context),
    ]);
    const after = await sql<{
      data: string;
    }>`select data::text from profile_snapshots where subject_id = ${subjectId}`.execute(t.db);
    expect(after.rows).toEqual(before.rows);
    expect((await count()).rows).toEqual(versions.rows);
  });

  it('a new response aggregated by two workers racing on one queue makes exactly one new version', async () => {
    const subjectId = seeded.subjects[1]!.followUp;
    const itemCompetency = new Map(
      seeded.instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
    );
    const ratings = Object.fromEntries([...itemCompetency.keys()].map((id) => [id, 4]));
    await responseRepository.submit(t.db, {
      spentMac: randomBytes(32),
      response: { cycleId: seeded.followUpCycleId, subjectId, relationship: 'peer', ratings, comments: {} },
      itemCompetency,
      jobs: [],
    });
    // A second worker process on the same queue, and several jobs for the same subject under distinct ids,
    // so both workers really do run the handler at the same time.
    const second = await startWorker(workerConfig(t, prefix), { logger: silent, schedule: false });
    try {
      const queue = worker.producer.queue('aggregate');
      await Promise.all(
        ['a', 'b', 'c', 'd'].map((id) =>
          queue.add('aggregate-subject', { subjectId }, { jobId: `race-${id}` }),
        ),
      );
      await waitForIdle(t.db, worker.producer);
    } finally {
      await second.close();
    }
    const rows = await sql<{ version: number; data: string }>`
      select version, data::text from profile_snapshots where subject_id = ${subjectId} order by version`.execute(
      t.db,
    );
    expect(rows.rows.map((r) => r.version)).toEqual([1, 2]);
    const expected = buildProfile({
      instrument: seeded.instrument,
      responses: await rawResponses(t.db, { subjectId }),
      rules: RULES,
      seed: subjectId,
    });
    expect(JSON.parse(rows.rows[1]!.data)).toEqual(JSON.parse(JSON.stringify(expected)));
    expect((await resultRepository.latestProfile(t.db, subjectId))?.group_counts).toMatchObject({ peer: 4 });
  });

  it('release pins the latest version and refuses a re-release that would reveal a late response', async () => {
    const subjectId = seeded.subjects[2]!.baseline;
    expect(await resultRepository.release(t.db, subjectId, null)).toEqual({ version: 1, changed: true });
    // Releasing the same version again changes nothing (and notifies nobody twice).
    expect(await resultRepository.release(t.db, subjectId, null)).toEqual({ version: 1, changed: false });
    const itemCompetency = new Map(
      seeded.instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
    );
    const ratings = Object.fromEntries([...itemCompetency.keys()].map((id) => [id, 2]));
    await responseRepository.submit(t.db, {
      spentMac: randomBytes(32),
      response: {
        cycleId: seeded.baselineCycleId,
        subjectId,
        relationship: 'direct_report',
        ratings,
        comments: {},
      },
      itemCompetency,
      jobs: [],
    });
    const handlers = createHandlers({
      db: t.db,
      producer: { add: async () => {}, enqueue: async () => ({}) as never },
      mailer: { send: () => Promise.reject(new Error('no mail here')) },
      keys: { outbox: Buffer.alloc(32) },
      anonymityK: 3,
      logger: silent,
    });
    await handlers['aggregate-subject']({ subjectId }, { jobId: 'x', attempt: 1, log: () => {} });
    await expect(resultRepository.release(t.db, subjectId, null)).rejects.toThrow(
      /cannot be released again yet: direct report changed by 1 \(needs 3 or more\)/,
    );
    const subject = await rosterRepository.findSubject(t.db, subjectId);
    expect(subject?.released_version).toBe(1);
    const releases = await t.db
      .selectFrom('releases')
      .selectAll()
      .where('subject_id', '=', subjectId)
      .execute();
    expect(releases).toHaveLength(1);
  });
});

describe('worker: outbox sweeping', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('sweep-outboxes pushes queued jobs to Redis and empties the table', async () => {
    const redis = createRedis(redisUrl(), 'worker');
    const producer = createProducer({ connection: redis, prefix: queuePrefix() });
    try {
      const subjectId = '00000000-0000-4000-8000-000000000001';
      await t.db
        .insertInto('job_outbox')
        .values({
          queue: 'aggregate',
          name: 'aggregate-subject',
          job_id: 'x',
          data: JSON.stringify({ subjectId }),
        })
        .execute();
      const handlers = createHandlers({
        db: t.db,
        producer,
        mailer: { send: () => Promise.reject(new Error('no mail here')) },
        keys: { outbox: Buffer.alloc(32) },
        anonymityK: 3,
        logger: silent,
      });
      await handlers['sweep-outboxes']({}, { jobId: 'x', attempt: 1, log: () => {} });
      expect(await t.db.selectFrom('job_outbox').selectAll().execute()).toEqual([]);
      const jobs = await producer.queue('aggregate').getJobs(['delayed', 'waiting']);
      expect(jobs.map((j) => [j.name, j.data])).toEqual([['aggregate-subject', { subjectId }]]);
    } finally {
      await producer.close();
      redis.disconnect();
    }
  });
});
