import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  outboxRepository,
  personRepository,
  programmeRepository,
  rosterRepository,
  type Db,
  type Relationship,
} from '@panorama/db';
import {
  buildProfile,
  createSeededRandom,
  ValidationError,
  type Instrument,
  type ScoringResponse,
} from '@panorama/domain';
import { loadConfig } from '@panorama/config';
import { exportProgramme, importResponses } from '@panorama/report';
import { createWorkerLogger, startWorker, workerProcessEnv, type RunningWorker } from '@panorama/worker';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';

const LEADERS = 5;
const RULES = { k: { peer: 3, direct_report: 3, other: 3, all_others: 4 }, distributionMinN: 4 };
const GROUPS: [Relationship, number][] = [
  ['self', 1],
  ['manager', 1],
  ['peer', 3],
  ['direct_report', 4],
];

/** Enough CSV for the export's tables, whose cells hold no commas, quotes or line breaks. */
function parse(text: string, _options: { columns: true }): Record<string, string>[] {
  const [header, ...lines] = text.trim().split('\n');
  const names = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [names[i], cell])));
}

function expectClose(actual: unknown, expected: unknown, where = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(actual, where).toBeCloseTo(expected, 9);
  } else if (Array.isArray(expected)) {
    expect((actual as unknown[]).length, where).toBe(expected.length);
    expected.forEach((e, i) => expectClose((actual as unknown[])[i], e, `${where}[${i}]`));
  } else if (typeof expected === 'object' && expected !== null) {
    expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected)) {
      expectClose((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
    }
  } else {
    expect(actual, where).toEqual(expected);
  }
}

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
  const subjects = new Map<string, string>();
  for (let l = 0; l < LEADERS; l++) {
    const leader = await personRepository.upsert(db, {
      organisationId: organisation.id,
      email: `leader${l}@acme.test`,
      name: `Leader ${l}`,
    });
    for (const cycle of [baseline, followUp]) {
      const subject = await rosterRepository.addSubject(db, {
        cycleId: cycle.id,
        leaderId: leader.id,
        coachId: null,
      });
      subjects.set(`${cycle.kind}:${leader.email}`, subject.id);
    }
  }
  return { instrument, programmeId: programme.id, baseline, followUp, subjects };
}

/** Long-format CSVs for one cycle, and the same responses as scoring inputs keyed by leader email. */
function makeCsv(instrument: Instrument, cycleKind: string) {
  const random = createSeededRandom(`bulk-${cycleKind}`);
  const ratingLines = ['subject_email,relationship,response_key,item_id,value'];
  const commentLines = ['subject_email,relationship,response_key,question_id,text'];
  const byLeader = new Map<string, ScoringResponse[]>();
  for (let l = 0; l < LEADERS; l++) {
    const email = `leader${l}@acme.test`;
    const list: ScoringResponse[] = [];
    for (const [relationship, count] of GROUPS) {
      for (let r = 0; r < count; r++) {
        const key = `${cycleKind}-${l}-${relationship}-${r}`;
        const response: ScoringResponse = { id: key, relationship, ratings: {}, comments: {} };
        for (const competency of instrument.competencies) {
          for (const item of competency.items) {
            const value =
              random() < 0.05
                ? null
                : Math.min(
                    5,
                    Math.max(
                      1,
                      Math.round(2.5 + l * 0.3 + (cycleKind === 'follow_up' ? 0.4 : 0) + random() * 2),
                    ),
                  );
            response.ratings[item.id] = value;
            ratingLines.push(`${email},${relationship},${key},${item.id},${value ?? 'NA'}`);
          }
        }
        const question = instrument.questions[0]!.id;
        const text = `Keeps "us" informed, mostly (${key})`;
        response.comments[question] = text;
        commentLines.push(`${email},${relationship},${key},${question},"${text.replace(/"/g, '""')}"`);
        list.push(response);
      }
    }
    byLeader.set(email, list);
  }
  return { responsesCsv: ratingLines.join('\n'), commentsCsv: commentLines.join('\n'), byLeader };
}

async function drainAndWait(db: Db, worker: RunningWorker) {
  const deadline = Date.now() + 50_000;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the queues did not drain in time');
    await outboxRepository.drainJobs(db, (job) => worker.producer.add(job));
    const counts = await worker.producer.queue('aggregate').getJobCounts('waiting', 'delayed', 'active');
    const outbox = await db
      .selectFrom('job_outbox')
      .select(db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    quiet = Object.values(counts).every((n) => n === 0) && outbox.n === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('bulk import and export', () => {
  let t: TestDatabase;
  let worker: RunningWorker;
  let seeded: Awaited<ReturnType<typeof seed>>;

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seed(t.db);
    const config = loadConfig(
      workerProcessEnv,
      {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: t.url,
        DATABASE_POOL_SIZE: '4',
        REDIS_URL: redisUrl(),
        QUEUE_PREFIX: queuePrefix(),
        APP_SECRET: 'bulk-secret-'.padEnd(48, 'x'),
      },
      'worker-test',
    );
    worker = await startWorker(config, { logger: createWorkerLogger('silent'), schedule: false });
  });
  afterAll(async () => {
    await worker?.close();
    await t?.drop();
  });

  it('reports bad rows with their row numbers and stores nothing', async () => {
    const item = seeded.instrument.competencies[0]!.items[0]!.id;
    const csv = [
      'subject_email,relationship,response_key,item_id,value',
      `leader0@acme.test,peer,k1,${item},4`,
      `leader0@acme.test,peer,k1,communication.nope,4`,
      `leader0@acme.test,peer,k2,${item},7`,
      `stranger@acme.test,peer,k3,${item},3`,
      `leader1@acme.test,peer,k1,${item},3`,
      `leader0@acme.test,boss,k4,${item},3`,
      `leader0@acme.test,peer,k1,${item},2`,
    ].join('\n');
    const error = await importResponses(t.db, { cycleId: seeded.baseline.id, responsesCsv: csv }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toEqual([
      { path: 'row 3', message: "item_id 'communication.nope' is not an item of leadership-360 v1" },
      { path: 'row 4', message: "value '7' is not a whole number from 1 to 5 or NA" },
      { path: 'row 5', message: "subject_email 'stranger@acme.test' is not a leader of this cycle" },
      {
        path: 'row 6',
        message:
          "response_key 'k1' belongs to leader0@acme.test as peer (row 2); one response has one subject and relationship",
      },
      {
        path: 'row 7',
        message: "relationship 'boss' is not one of self, manager, peer, direct_report, other",
      },
      {
        path: 'row 8',
        message: `item_id '${item}' is rated twice for response_key 'k1' (first on row 2)`,
      },
    ]);
    expect((error as Error).message).toMatch(
      /^6 problems in the file; nothing was imported\.\nrow 3: item_id/,
    );
    expect(await t.db.selectFrom('responses').selectAll().execute()).toEqual([]);
    expect(await t.db.selectFrom('job_outbox').selectAll().execute()).toEqual([]);

    const comments =
      'subject_email,relationship,response_key,question_id,text\nleader0@acme.test,peer,k9,nope,Hi';
    const valid = `subject_email,relationship,response_key,item_id,value\nleader0@acme.test,peer,k9,${item},4`;
    await expect(
      importResponses(t.db, { cycleId: seeded.baseline.id, responsesCsv: valid, commentsCsv: comments }),
    ).rejects.toThrow(/comments row 2: question_id 'nope' is not a question of leadership-360 v1/);
    expect(await t.db.selectFrom('responses').selectAll().execute()).toEqual([]);
  });

  it('imports both cycles, aggregates them, and exports the same numbers', async () => {
    const files = {
      baseline: makeCsv(seeded.instrument, 'baseline'),
      follow_up: makeCsv(seeded.instrument, 'follow_up'),
    };
    for (const cycle of [seeded.baseline, seeded.followUp]) {
      const file = files[cycle.kind];
      const result = await importResponses(t.db, {
        cycleId: cycle.id,
        responsesCsv: file.responsesCsv,
        commentsCsv: file.commentsCsv,
      });
      const perLeader = GROUPS.reduce((n, [, c]) => n + c, 0);
      expect(result).toEqual({
        responses: LEADERS * perLeader,
        ratings: LEADERS * perLeader * 44,
        comments: LEADERS * perLeader,
        subjects: LEADERS,
      });
    }
    const keys = await t.db.selectFrom('responses').select('id').execute();
    expect(keys.every((r) => /^[0-9a-f-]{36}$/.test(r.id))).toBe(true);
    expect(await t.db.selectFrom('job_outbox').select('name').execute()).toHaveLength(2 * LEADERS);

    await drainAndWait(t.db, worker);
    // Exports follow the publication rule: nothing from a cycle still collecting responses.
    const whileOpen = await exportProgramme(t.db, seeded.programmeId);
    expect(whileOpen.json.profiles).toEqual([]);
    expect(whileOpen.json.changes).toEqual([]);
    expect(whileOpen.json.cohort).toBeNull();
    for (const cycle of [seeded.baseline, seeded.followUp]) {
      await programmeRepository.transitionCycle(t.db, cycle.id, 'open');
      await programmeRepository.transitionCycle(t.db, cycle.id, 'closed');
    }
    const exported = await exportProgramme(t.db, seeded.programmeId);

    expect(exported.json.profiles).toHaveLength(2 * LEADERS);
    for (const profile of exported.json.profiles) {
      const responses = files[profile.cycle.kind].byLeader.get(profile.leader.email)!;
      const expected = buildProfile({
        instrument: seeded.instrument,
        responses,
        rules: RULES,
        seed: profile.subjectId,
      });
      expect(profile.subjectId).toBe(seeded.subjects.get(`${profile.cycle.kind}:${profile.leader.email}`));
      expectClose(profile.profile.competencies, JSON.parse(JSON.stringify(expected.competencies)));
      // Participation counts only for groups shown; a hidden group is a suppression marker (docs/api.md).
      expect(profile.profile.participation).toEqual(
        Object.fromEntries(
          Object.entries(expected.participation).map(([group, p]) => [
            group,
            p.shown
              ? { responses: p.responses, k: p.k, shown: true }
              : { suppressed: true, reason: 'fewer_than_k', k: p.k },
          ]),
        ),
      );
      expect(profile.profile).not.toHaveProperty('comments');
    }

    const rows = parse(exported.csv.profiles, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(2 * LEADERS * seeded.instrument.competencies.length * 6);
    for (const row of rows) {
      const profile = exported.json.profiles.find(
        (p) => p.leader.email === row['leader_email'] && p.cycle.kind === row['cycle_kind'],
      )!;
      const group = profile.profile.competencies.find((c) => c.id === row['competency_id'])!.groups[
        row['group'] as 'peer'
      ];
      if (group.suppressed) expect(row['mean']).toBe('');
      else expect(Number(row['mean'])).toBe(group.mean);
    }
    expect(rows.find((r) => r['group'] === 'peer' && r['cycle_kind'] === 'baseline')?.['suppressed']).toBe(
      'false',
    );

    expect(exported.json.changes).toHaveLength(LEADERS);
    const changeRows = parse(exported.csv.changes, { columns: true }) as Record<string, string>[];
    const change = exported.json.changes[0]!.report.competencies[0]!.allOthers;
    expect(change.available).toBe(true);
    const row = changeRows.find(
      (r) =>
        r['leader_email'] === exported.json.changes[0]!.leader.email &&
        r['competency_id'] === exported.json.changes[0]!.report.competencies[0]!.id &&
        r['group'] === 'all_others',
    );
    if (change.available) expect(Number(row?.['delta'])).toBe(change.delta);

    expect(exported.json.cohort?.leaders).toBe(LEADERS);
    expect(exported.json.cohort?.report.suppressed).toBe(false);
    const cohortRows = parse(exported.csv.cohort, { columns: true }) as Record<string, string>[];
    expect(cohortRows).toHaveLength(seeded.instrument.competencies.length);
    const json = JSON.stringify(exported.json);
    expect(json).not.toMatch(/response_key|baseline-0-peer|Keeps \\"us\\"/);
  });
});
