import { randomBytes } from 'node:crypto';
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
  buildProfile,
  createSeededRandom,
  type AnonymityRules,
  type Instrument,
  type ScoringResponse,
} from '@panorama/domain';
import { createHandlers, createWorkerLogger } from '@panorama/worker';
import { createAggregateCycle } from '../../services/worker/src/handlers/aggregate-cycle.ts';
import { createInstrumentCache } from '../../services/worker/src/handlers/instruments.ts';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';

const RULES: AnonymityRules = {
  k: { peer: 3, direct_report: 3, other: 3, all_others: 4 },
  distributionMinN: 4,
};
const LEADERS = 12;
const silent = createWorkerLogger('silent');
const context = { jobId: 'x', attempt: 1, log: () => {} };

/**
 * Leaders whose groups are of every size around k (so groups are shown, suppressed and merged into
 * "other"), with N/A from none to most items, whole competencies skipped (partial answers), blank items,
 * comments, and one leader without any response.
 */
async function seed(db: Db) {
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
  const random = createSeededRandom('worker-bulk-aggregation');
  const subjects: { baseline: string; followUp: string }[] = [];
  for (let l = 0; l < LEADERS; l++) {
    const leader = await personRepository.upsert(db, {
      organisationId: organisation.id,
      email: `leader${l}@acme.test`,
      name: `Leader ${l}`,
    });
    const pair = { baseline: '', followUp: '' };
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
      if (l === LEADERS - 1 && key === 'followUp') continue;
      const groups: [Relationship, number][] = [
        ['self', l % 5 === 4 ? 0 : 1],
        ['manager', l % 3 === 2 ? 0 : 1],
        ['peer', 1 + (l % 5)],
        ['direct_report', (l * 2) % 6],
        ['other', l % 4],
      ];
      const naRate = [0, 0.05, 0.2, 0.45][l % 4]!;
      for (const [relationship, count] of groups) {
        for (let r = 0; r < count; r++) {
          const skipped = new Set(
            instrument.competencies.filter(() => random() < naRate / 2).map((c) => c.id),
          );
          const ratings: Record<string, number | null> = {};
          for (const [itemId, competencyId] of itemCompetency) {
            const draw = random();
            if (draw < 0.02) continue; // blank
            ratings[itemId] =
              skipped.has(competencyId) || draw < naRate ? null : 1 + Math.floor(random() * 5);
          }
          const comments: Record<string, string> = {};
          for (const question of instrument.questions) {
            if (random() < 0.4) comments[question.id] = `${relationship} ${r} on leader ${l}: “clear”, ok`;
          }
          await responseRepository.submit(db, {
            spentMac: randomBytes(32),
            response: { cycleId: cycle.id, subjectId: subject.id, relationship, ratings, comments },
            itemCompetency,
            jobs: [],
          });
        }
      }
    }
    subjects.push(pair);
  }
  // Ratings of item ids no instrument has, which the bulk read cannot take back from its digest string
  // (scoring ignores them, the digest includes them): one with ',' and '=', one that is `__proto__`.
  await sql`
    insert into response_ratings (response_id, item_id, competency_id, value)
    select id, x.item, 'communication', x.value
    from (select id from responses where subject_id = ${subjects[1]!.baseline} order by id limit 2) r,
         (values ('odd,item=1', 3), ('__proto__', null::int)) as x(item, value)`.execute(db);
  return {
    instrument,
    programmeId: programme.id,
    baselineId: baseline.id,
    followUpId: followUp.id,
    subjects,
  };
}

async function rawResponses(db: Db, subjectId: string): Promise<ScoringResponse[]> {
  const responses = await db
    .selectFrom('responses')
    .select(['id', 'relationship'])
    .where('subject_id', '=', subjectId)
    .execute();
  return Promise.all(
    responses.map(async (r) => ({
      id: r.id,
      relationship: r.relationship,
      ratings: Object.fromEntries(
        (
          await db
            .selectFrom('response_ratings')
            .select(['item_id', 'value'])
            .where('response_id', '=', r.id)
            .execute()
        ).map((x) => [x.item_id, x.value]),
      ),
      comments: Object.fromEntries(
        (
          await db
            .selectFrom('response_comments')
            .select(['question_id', 'body'])
            .where('response_id', '=', r.id)
            .execute()
        ).map((x) => [x.question_id, x.body]),
      ),
    })),
  );
}

const snapshots = async (db: Db) =>
  (
    await sql<{
      subject_id: string;
      version: number;
      source_digest: string;
      group_counts: string;
      data: string;
    }>`
      select subject_id, version, source_digest, group_counts::text, data::text
      from profile_snapshots order by subject_id, version`.execute(db)
  ).rows;

describe('worker: aggregating a whole cycle at once', () => {
  let t: TestDatabase;
  let seeded: Awaited<ReturnType<typeof seed>>;
  let instrument: Instrument;
  const jobs: { name: string; data: Record<string, unknown> }[] = [];
  const producer = {
    add: async (job: { name: string; data: Record<string, unknown> }) => void jobs.push(job),
    enqueue: async () => ({}) as never,
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seed(t.db);
    instrument = seeded.instrument;
  });
  afterAll(async () => {
    await t?.drop();
  });

  const handlers = () =>
    createHandlers({
      db: t.db,
      producer,
      mailer: { send: () => Promise.reject(new Error('no mail here')) },
      keys: { outbox: Buffer.alloc(32) },
      anonymityK: 3,
      logger: silent,
    });
  const aggregateCycle = () =>
    createAggregateCycle({
      db: t.db,
      instruments: createInstrumentCache(t.db),
      anonymityK: 3,
      producer,
      logger: silent,
      // Small chunks, two in flight: every chunk boundary and the pipelining are exercised.
      chunkSize: 4,
      parallel: 2,
    });

  it('stores byte for byte what aggregate-subject stores, which is buildProfile over the raw rows', async () => {
    const cycle = aggregateCycle();
    for (const cycleId of [seeded.baselineId, seeded.followUpId]) {
      expect(await cycle({ cycleId }, context)).toEqual({ subjects: LEADERS, created: LEADERS });
    }
    const fromCycle = await snapshots(t.db);
    expect(fromCycle).toHaveLength(2 * LEADERS);

    for (const row of fromCycle) {
      const raw = await rawResponses(t.db, row.subject_id);
      const expected = buildProfile({ instrument, responses: raw, rules: RULES, seed: row.subject_id });
      // Byte-equal once both go through jsonb (which orders keys and spaces its text its own way).
      const normalised = await sql<{
        text: string;
      }>`select ${JSON.stringify(expected)}::jsonb::text as text`.execute(t.db);
      expect(row.data).toBe(normalised.rows[0]!.text);
      // The bulk digest is the single-subject digest (versions stored before this path stay up to date).
      const [sources] = await resultRepository.sourcesOf(t.db, [row.subject_id]);
      expect(sources!.digest).toBe((await resultRepository.profileSourceDigest(t.db, row.subject_id)).digest);
      // The bulk read gives back exactly the stored rows, odd item ids included, in id order.
      expect(sources!.responses).toEqual(raw.sort((a, b) => (a.id < b.id ? -1 : 1)));
    }
    // The data covers the cases it is meant to: suppressed, merged and partial-answer groups.
    const odd = (await resultRepository.sourcesOf(t.db, [seeded.subjects[1]!.baseline]))[0]!.responses;
    expect(odd.filter((r) => Object.hasOwn(r.ratings, 'odd,item=1'))).toHaveLength(2);
    expect(odd.filter((r) => Object.hasOwn(r.ratings, '__proto__'))).toHaveLength(2);
    const all = fromCycle.map((r) => r.data).join('\n');
    expect(all).toContain('"reason": "fewer_than_k"');
    expect(all).toContain('"reason": "partial_answers"');
    expect(all).toContain('"merged": [');

    await sql`delete from profile_snapshots`.execute(t.db);
    const single = handlers();
    for (const { baseline, followUp } of seeded.subjects) {
      await single['aggregate-subject']({ subjectId: baseline }, context);
      await single['aggregate-subject']({ subjectId: followUp }, context);
    }
    expect(await snapshots(t.db)).toEqual(fromCycle);
  });

  it('recognises versions stored one subject at a time as up to date, and the other way round', async () => {
    const before = await snapshots(t.db);
    expect(await aggregateCycle()({ cycleId: seeded.baselineId }, context)).toEqual({
      subjects: LEADERS,
      created: 0,
    });
    await handlers()['aggregate-subject']({ subjectId: seeded.subjects[0]!.baseline }, context);
    expect(await snapshots(t.db)).toEqual(before);
  });

  it('appends one version for a changed subject only, and queues its change and the cohort once', async () => {
    const subjectId = seeded.subjects[3]!.baseline;
    const itemCompetency = new Map(
      instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
    );
    await responseRepository.submit(t.db, {
      spentMac: randomBytes(32),
      response: {
        cycleId: seeded.baselineId,
        subjectId,
        relationship: 'peer',
        ratings: Object.fromEntries([...itemCompetency.keys()].map((id) => [id, 4])),
        comments: {},
      },
      itemCompetency,
      jobs: [],
    });
    jobs.length = 0;
    expect(await aggregateCycle()({ cycleId: seeded.baselineId }, context)).toEqual({
      subjects: LEADERS,
      created: 1,
    });
    const versions = (await snapshots(t.db)).filter((r) => r.subject_id === subjectId);
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    const expected = buildProfile({
      instrument,
      responses: await rawResponses(t.db, subjectId),
      rules: RULES,
      seed: subjectId,
    });
    expect(JSON.parse(versions[1]!.data)).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(jobs.map((j) => [j.name, j.data])).toEqual([
      ['compute-change', { subjectId: seeded.subjects[3]!.followUp }],
      ['rollup-cohort', { programmeId: seeded.programmeId }],
    ]);
  });

  it('runs safely beside single-subject jobs for the same subjects', async () => {
    const subjectId = seeded.subjects[5]!.followUp;
    const ratings = Object.fromEntries(
      instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, 2] as const)),
    );
    await responseRepository.submit(t.db, {
      spentMac: randomBytes(32),
      response: { cycleId: seeded.followUpId, subjectId, relationship: 'other', ratings, comments: {} },
      itemCompetency: new Map(
        instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
      ),
      jobs: [],
    });
    const single = handlers();
    await Promise.all([
      aggregateCycle()({ cycleId: seeded.followUpId }, context),
      single['aggregate-subject']({ subjectId }, context),
      single['aggregate-subject']({ subjectId }, context),
    ]);
    const versions = (await snapshots(t.db)).filter((r) => r.subject_id === subjectId);
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
  });
});
