import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  personRepository,
  programmeRepository,
  responseRepository,
  resultRepository,
  rosterRepository,
  type Db,
  type InvitationStatus,
  type Relationship,
} from '@panorama/db';
import {
  competencyItemMatrix,
  createSeededRandom,
  cronbachAlpha,
  instrumentChecksum,
  type ChangeReport,
  type CohortAgreement,
  type CohortReport,
  type Instrument,
  type Profile,
} from '@panorama/domain';
import {
  createComputeChange,
  createCycleStats,
  createHandlers,
  createInstrumentCache,
  createRollupCohort,
  createWorkerLogger,
} from '@panorama/worker';
import { cohortQualityExport } from '../../infra/cli/cohort-quality.ts';
import { createProgramme } from '../support/scenario.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';

const LEADERS = 12;
const silent = createWorkerLogger('silent');
const context = { jobId: 'x', attempt: 1, log: async () => {} };
const noProducer = { add: async () => {}, enqueue: async () => ({}) as never };

const GROUPS: [Relationship, number][] = [
  ['self', 1],
  ['manager', 1],
  ['peer', 3],
  ['direct_report', 3],
];

interface Seeded {
  instrument: Instrument;
  programmeId: string;
  baselineCycleId: string;
  followUpCycleId: string;
  subjects: { baseline: string; followUp: string }[];
  /** The first competency: its SD1 and rxx are configured in the instrument's norms. */
  configured: string;
}

interface StoredChange {
  followUpVersion: number;
  sd1Source: Record<string, string>;
  sd1ByCompetency: Record<string, number>;
  rxxSource: Record<string, string>;
  rxxByCompetency: Record<string, number>;
  report: ChangeReport;
}

interface StoredCohort {
  leaders: number;
  sd1Source: Record<string, string>;
  sd1ByCompetency: Record<string, number>;
  rxxByCompetency: Record<string, number>;
  reliability: Record<
    'baseline' | 'followUp',
    Record<string, { alpha: number | null; rows: number; items: number; label: string | null }>
  >;
  agreement: Record<'baseline' | 'followUp', CohortAgreement>;
  report: CohortReport;
}

async function submit(
  db: Db,
  instrument: Instrument,
  input: {
    cycleId: string;
    subjectId: string;
    relationship: Relationship;
    ratings: Record<string, number | null>;
  },
) {
  const itemCompetency = new Map(
    instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, c.id] as const)),
  );
  await responseRepository.submit(db, {
    spentMac: randomBytes(32),
    response: { ...input, comments: {} },
    itemCompetency,
    jobs: [],
  });
}

/** The same rating for every item of the instrument. */
function everyItem(instrument: Instrument, value: number): Record<string, number> {
  return Object.fromEntries(instrument.competencies.flatMap((c) => c.items.map((i) => [i.id, value])));
}

/**
 * LEADERS leaders in a baseline and a follow-up cycle of an instrument that configures SD1 and rxx for its
 * first competency. Half the leaders improve by a lot, so some reliable improvement is certain. Leader 0
 * also has three extra peers: one completed the baseline and declined the follow-up, one completed the
 * baseline and never answered the follow-up, one declined the baseline and completed the follow-up.
 */
async function seed(db: Db): Promise<Seeded> {
  const created = await createProgramme(db, { slug: 'norms', followUp: true });
  const base = created.instrument;
  const configured = base.competencies[0]!.id;
  const instrument = {
    ...base,
    version: 900,
    norms: { sd1: { [configured]: 0.3 }, rxx: { [configured]: 0.9 } },
  } as Instrument;
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  await db
    .updateTable('cycles')
    .set({ instrument_version: instrument.version })
    .where('programme_id', '=', created.programme.id)
    .execute();
  const baseline = created.baseline;
  const followUp = created.followUp!;
  const random = createSeededRandom('worker-change-cohort');
  const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
  const ratingsFor = (level: number) =>
    Object.fromEntries(
      items.map((id) => [id, Math.min(5, Math.max(1, Math.round(level + random() * 1.6 - 0.8)))]),
    );
  const person = (email: string) =>
    personRepository.upsert(db, { organisationId: created.organisation.id, email, name: email });
  const subjects: Seeded['subjects'] = [];
  for (let l = 0; l < LEADERS; l++) {
    const leader = await person(`leader${l}@norms.test`);
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
      const level = 2 + (l % 4) * 0.4 + (key === 'followUp' && l % 2 === 0 ? 1.2 : 0);
      for (const [relationship, count] of GROUPS) {
        for (let r = 0; r < count; r++) {
          const rater =
            relationship === 'self' ? leader : await person(`l${l}.${relationship}${r}@norms.test`);
          await rosterRepository.addInvitation(db, {
            subjectId: subject.id,
            raterId: rater.id,
            relationship,
            status: 'completed',
          });
          await submit(db, instrument, {
            cycleId: cycle.id,
            subjectId: subject.id,
            relationship,
            ratings: ratingsFor(relationship === 'self' ? level + 0.3 * ((l % 3) - 1) : level),
          });
        }
      }
    }
    subjects.push(pair);
  }
  const extra: [string, InvitationStatus, InvitationStatus][] = [
    ['declined-later', 'completed', 'declined'],
    ['silent-later', 'completed', 'sent'],
    ['declined-first', 'declined', 'completed'],
  ];
  for (const [name, before, after] of extra) {
    const rater = await person(`l0.${name}@norms.test`);
    for (const [subjectId, cycleId, status] of [
      [subjects[0]!.baseline, baseline.id, before],
      [subjects[0]!.followUp, followUp.id, after],
    ] as const) {
      await rosterRepository.addInvitation(db, {
        subjectId,
        raterId: rater.id,
        relationship: 'peer',
        status,
      });
      if (status === 'completed') {
        await submit(db, instrument, { cycleId, subjectId, relationship: 'peer', ratings: ratingsFor(3) });
      }
    }
  }
  return {
    instrument,
    programmeId: created.programme.id,
    baselineCycleId: baseline.id,
    followUpCycleId: followUp.id,
    subjects,
    configured,
  };
}

function handlersFor(db: Db) {
  return createHandlers({
    db,
    producer: noProducer,
    mailer: { send: () => Promise.reject(new Error('no mail here')) },
    keys: { outbox: Buffer.alloc(32) },
    anonymityK: 3,
    logger: silent,
  });
}

/** Raw ratings of a cycle straight from the tables. */
async function rawRatings(db: Db, cycleId: string) {
  const rows = await sql<{ id: string; item_id: string; value: number | null }>`
    select r.id, rr.item_id, rr.value from responses r join response_ratings rr on rr.response_id = r.id
    where r.cycle_id = ${cycleId}`.execute(db);
  const byId = new Map<string, { ratings: Record<string, number | null> }>();
  for (const row of rows.rows) {
    const response = byId.get(row.id) ?? { ratings: {} };
    response.ratings[row.item_id] = row.value;
    byId.set(row.id, response);
  }
  return [...byId.values()];
}

/** Waits until a session of this test's database waits for an advisory lock, or until `done` says the run finished. */
async function blockedOrDone(db: Db, done: () => boolean) {
  for (;;) {
    if (done()) return;
    const waiting = await sql<{ n: number }>`
      select count(*)::int as n from pg_locks
      where locktype = 'advisory' and not granted
        and database = (select oid from pg_database where datname = current_database())`.execute(db);
    if ((waiting.rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A gate a handler waits at (before saving) until the test opens it. */
function gate() {
  let open!: () => void;
  let arrived!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (arrived = r));
  return {
    reached,
    open,
    wait: async () => {
      arrived();
      await opened;
    },
  };
}

describe('worker: change and cohort statistics', () => {
  let t: TestDatabase;
  let seeded: Seeded;

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seed(t.db);
    const handlers = handlersFor(t.db);
    for (const pair of seeded.subjects) {
      await handlers['aggregate-subject']({ subjectId: pair.baseline }, context);
      await handlers['aggregate-subject']({ subjectId: pair.followUp }, context);
    }
    for (const pair of seeded.subjects)
      await handlers['compute-change']({ subjectId: pair.followUp }, context);
    await handlers['rollup-cohort']({ programmeId: seeded.programmeId }, context);
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  const latestChange = async (subjectId: string) =>
    (await resultRepository.latestChange(t.db, subjectId))!.data as StoredChange;
  const latestCohort = async () =>
    (await resultRepository.latestCohort(t.db, seeded.programmeId))!.data as StoredCohort;

  it('counts as overlap only raters who completed both cycles, not those who declined or never answered', async () => {
    const change = await latestChange(seeded.subjects[0]!.followUp);
    expect(change.report.overlap).toEqual({ manager: 1, peer: 3, direct_report: 3 });
    const other = await latestChange(seeded.subjects[1]!.followUp);
    expect(other.report.overlap).toEqual({ manager: 1, peer: 3, direct_report: 3 });
  });

  it('judges the cohort share of reliable improvement with the same SD1 and rxx as every leader', async () => {
    const cohort = await latestCohort();
    expect(cohort.report.suppressed).toBe(false);
    if (cohort.report.suppressed) return;
    const changes = await Promise.all(seeded.subjects.map((p) => latestChange(p.followUp)));
    let improvedSomewhere = 0;
    for (const competency of cohort.report.competencies) {
      if (competency.suppressed) continue;
      const verdicts = changes.flatMap((c) => {
        const all = c.report.competencies.find((x) => x.id === competency.id)?.allOthers;
        return all?.available ? [all.reliableChange?.verdict] : [];
      });
      expect(verdicts).toHaveLength(competency.paired.n);
      const improved = verdicts.filter((v) => v === 'improved').length;
      const deteriorated = verdicts.filter((v) => v === 'deteriorated').length;
      expect(Math.round(competency.reliableImprovement!.share * competency.paired.n)).toBe(improved);
      expect(competency.reliableImprovement!.share * competency.paired.n).toBeCloseTo(improved, 9);
      expect(competency.reliableDeterioration!.share * competency.paired.n).toBeCloseTo(deteriorated, 9);
      expect(competency.sd1).toBe(changes[0]!.sd1ByCompetency[competency.id]);
      expect(competency.sd1).toBe(cohort.sd1ByCompetency[competency.id]);
      improvedSomewhere += improved;
    }
    expect(improvedSomewhere).toBeGreaterThan(0);
  });

  it('takes SD1 and rxx from the instrument norms where configured and records where each came from', async () => {
    const change = await latestChange(seeded.subjects[2]!.followUp);
    const cohort = await latestCohort();
    const other = seeded.instrument.competencies[1]!.id;
    for (const stored of [change, cohort]) {
      expect(stored.sd1ByCompetency[seeded.configured]).toBe(0.3);
      expect(stored.rxxByCompetency[seeded.configured]).toBe(0.9);
      expect(stored.sd1Source[seeded.configured]).toBe('configured');
      expect(stored.sd1Source[other]).toBe('cohort');
    }
    expect(change.rxxSource[seeded.configured]).toBe('configured');
    expect(change.rxxSource[other]).toBe('cohort');
    // The cohort SD1 of the other competencies: between-leader SD of the shown all-others baseline scores.
    const means: number[] = [];
    for (const pair of seeded.subjects) {
      const profile = (await resultRepository.latestProfile(t.db, pair.baseline))!.data as Profile;
      const group = profile.competencies.find((c) => c.id === other)!.groups.all_others;
      if (!group.suppressed) means.push(group.mean);
    }
    const m = means.reduce((a, b) => a + b, 0) / means.length;
    const sd = Math.sqrt(means.reduce((a, x) => a + (x - m) ** 2, 0) / (means.length - 1));
    expect(change.sd1ByCompetency[other]).toBeCloseTo(sd, 9);
    const report = change.report.competencies.find((c) => c.id === seeded.configured)!.allOthers;
    expect(report.available).toBe(true);
    if (report.available) {
      expect(report.reliableChange!.sdiff).toBeCloseTo(Math.SQRT2 * 0.3 * Math.sqrt(1 - 0.9), 12);
    }
  });

  it("stores Cronbach's alpha per competency for both cycles, with rows used and a label", async () => {
    const cohort = await latestCohort();
    for (const [key, cycleId] of [
      ['baseline', seeded.baselineCycleId],
      ['followUp', seeded.followUpCycleId],
    ] as const) {
      const responses = await rawRatings(t.db, cycleId);
      for (const competency of seeded.instrument.competencies) {
        const rows = competencyItemMatrix(seeded.instrument, competency.id, responses);
        const expected = cronbachAlpha(rows).alpha!;
        const stored = cohort.reliability[key][competency.id]!;
        expect(stored.rows).toBe(rows.length);
        expect(stored.items).toBe(competency.items.length);
        expect(stored.alpha).toBeCloseTo(expected, 9);
        expect(stored.label).toBe(expected >= 0.8 ? 'good' : expected >= 0.7 ? 'acceptable' : 'low');
      }
    }
    // The RCI uses the baseline alpha where no norm is configured.
    const other = seeded.instrument.competencies[1]!.id;
    expect(cohort.rxxByCompetency[other]).toBeCloseTo(cohort.reliability.baseline[other]!.alpha!, 12);
  });

  it('stores self-other agreement categories per cycle, overall and per competency', async () => {
    const cohort = await latestCohort();
    for (const [key, side] of [
      ['baseline', 'baseline'],
      ['followUp', 'followUp'],
    ] as const) {
      // Overall D per leader: mean over competencies with both shown of self - all-others.
      const leaders: { gap: number; others: number }[] = [];
      for (const pair of seeded.subjects) {
        const profile = (await resultRepository.latestProfile(t.db, pair[side]))!.data as Profile;
        const both = profile.competencies.flatMap((c) => {
          const self = c.groups.self;
          const all = c.groups.all_others;
          return !self.suppressed && !all.suppressed ? [[self.mean, all.mean] as const] : [];
        });
        if (both.length === 0) continue;
        const self = both.reduce((a, [s]) => a + s, 0) / both.length;
        const others = both.reduce((a, [, o]) => a + o, 0) / both.length;
        leaders.push({ gap: self - others, others });
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const gaps = leaders.map((l) => l.gap);
      const mg = mean(gaps);
      const sg = Math.sqrt(gaps.reduce((a, g) => a + (g - mg) ** 2, 0) / (gaps.length - 1));
      const mo = mean(leaders.map((l) => l.others));
      const expected = { over_estimator: 0, under_estimator: 0, in_agreement_good: 0, in_agreement_poor: 0 };
      for (const l of leaders) {
        if (l.gap > mg + 0.5 * sg) expected.over_estimator += 1;
        else if (l.gap < mg - 0.5 * sg) expected.under_estimator += 1;
        else if (l.others >= mo) expected.in_agreement_good += 1;
        else expected.in_agreement_poor += 1;
      }
      const stored = cohort.agreement[key];
      expect(stored.minLeaders).toBe(10);
      expect(stored.overall.n).toBe(LEADERS);
      expect(stored.overall.counts).toEqual(expected);
      expect(stored.competencies.map((c) => c.id)).toEqual(seeded.instrument.competencies.map((c) => c.id));
      for (const c of stored.competencies) {
        const counts = c.counts!;
        expect(
          counts.over_estimator +
            counts.under_estimator +
            counts.in_agreement_good +
            counts.in_agreement_poor,
        ).toBe(c.n);
      }
    }
  });

  it('exports alpha per cycle and the agreement counts of the cohort', async () => {
    const cohort = await latestCohort();
    const exported = await cohortQualityExport(t.db, seeded.programmeId);
    expect(exported.json.cohortReliability).toEqual(cohort.reliability);
    expect(exported.json.cohortAgreement).toEqual(cohort.agreement);
    const alpha = exported.csv['cohort-alpha'].trim().split('\n');
    expect(alpha[0]).toBe('cycle_kind,competency_id,alpha,rows,items,label');
    expect(alpha).toHaveLength(1 + 2 * seeded.instrument.competencies.length);
    const id = seeded.instrument.competencies[0]!.id;
    const a = cohort.reliability.followUp[id]!;
    expect(alpha).toContain(`follow_up,${id},${a.alpha},${a.rows},${a.items},${a.label}`);
    const agreement = exported.csv['cohort-agreement'].trim().split('\n');
    const overall = cohort.agreement.baseline.overall;
    const c = overall.counts!;
    expect(agreement[1]).toBe(
      `baseline,overall,${LEADERS},true,${c.over_estimator},${c.under_estimator},${c.in_agreement_good},` +
        `${c.in_agreement_poor},${overall.cutoffs!.meanGap},${overall.cutoffs!.sdGap},${overall.cutoffs!.meanAllOthers}`,
    );
    expect(agreement).toHaveLength(1 + 2 * (1 + seeded.instrument.competencies.length));
  });

  it('streams the cohort a page at a time with the same result as reading it at once', async () => {
    const db = t.db;
    const before = (await resultRepository.latestCohort(db, seeded.programmeId))!;
    await db.deleteFrom('cohort_results').where('programme_id', '=', seeded.programmeId).execute();
    const paged = createRollupCohort({
      db,
      instruments: createInstrumentCache(db),
      stats: createCycleStats({ db }),
      anonymityK: 3,
      producer: noProducer,
      logger: silent,
      pageSize: 5,
    });
    await paged({ programmeId: seeded.programmeId }, context);
    const after = (await resultRepository.latestCohort(db, seeded.programmeId))!;
    expect(after.source_digest).toBe(before.source_digest);
    expect(after.data).toEqual(before.data);
    expect((after.data as StoredCohort).leaders).toBe(LEADERS);
  });

  it('a slower change run that read older inputs never appends its result last', async () => {
    const pair = seeded.subjects[3]!;
    const db = t.db;
    const instruments = createInstrumentCache(db);
    const stats = createCycleStats({ db });
    const hold = gate();
    const slow = createComputeChange({ db, instruments, stats, beforeSave: hold.wait });
    const fast = createComputeChange({ db, instruments, stats });
    // Start from the result of the current inputs; then a new response arrives while the slow run waits.
    const first = slow({ subjectId: pair.followUp }, context);
    await hold.reached;
    await submit(db, seeded.instrument, {
      cycleId: seeded.followUpCycleId,
      subjectId: pair.followUp,
      relationship: 'direct_report',
      ratings: everyItem(seeded.instrument, 5),
    });
    await handlersFor(db)['aggregate-subject']({ subjectId: pair.followUp }, context);
    const newest = (await resultRepository.latestProfileDigest(db, pair.followUp))!.version;
    let fastDone = false;
    const second = fast({ subjectId: pair.followUp }, context).finally(() => (fastDone = true));
    await blockedOrDone(db, () => fastDone);
    hold.open();
    await Promise.all([first, second]);
    expect((await latestChange(pair.followUp)).followUpVersion).toBe(newest);
  });

  it('a slower cohort run that read older inputs never appends its result last', async () => {
    const db = t.db;
    const instruments = createInstrumentCache(db);
    const stats = createCycleStats({ db });
    const deps = { db, instruments, stats, anonymityK: 3, producer: noProducer, logger: silent };
    const hold = gate();
    const slow = createRollupCohort({ ...deps, beforeSave: hold.wait });
    const fast = createRollupCohort(deps);
    const pair = seeded.subjects[4]!;
    // Make the stored cohort out of date, so the slow run has something to save.
    await submit(db, seeded.instrument, {
      cycleId: seeded.followUpCycleId,
      subjectId: pair.followUp,
      relationship: 'peer',
      ratings: everyItem(seeded.instrument, 1),
    });
    await handlersFor(db)['aggregate-subject']({ subjectId: pair.followUp }, context);
    const first = slow({ programmeId: seeded.programmeId }, context);
    await hold.reached;
    await submit(db, seeded.instrument, {
      cycleId: seeded.followUpCycleId,
      subjectId: pair.followUp,
      relationship: 'peer',
      ratings: everyItem(seeded.instrument, 2),
    });
    await handlersFor(db)['aggregate-subject']({ subjectId: pair.followUp }, context);
    let fastDone = false;
    const second = fast({ programmeId: seeded.programmeId }, context).finally(() => (fastDone = true));
    await blockedOrDone(db, () => fastDone);
    hold.open();
    await Promise.all([first, second]);
    // The latest stored cohort is the one for the current inputs: computing again stores nothing new.
    const before = await resultRepository.latestCohort(db, seeded.programmeId);
    await fast({ programmeId: seeded.programmeId }, context);
    const after = await resultRepository.latestCohort(db, seeded.programmeId);
    expect(after?.version).toBe(before?.version);
  });
});

describe('worker: a cohort of closed cycles', () => {
  let t: TestDatabase;
  let seeded: Seeded;
  const handlers = () => handlersFor(t.db);
  const cohortReport = async () =>
    ((await resultRepository.latestCohort(t.db, seeded.programmeId))!.data as StoredCohort).report;
  const latePeers = async (subjectId: string, count: number, value: number) => {
    for (let i = 0; i < count; i++)
      await submit(t.db, seeded.instrument, {
        cycleId: seeded.followUpCycleId,
        subjectId,
        relationship: 'peer',
        ratings: everyItem(seeded.instrument, value),
      });
    await handlers()['aggregate-subject']({ subjectId }, context);
    await handlers()['compute-change']({ subjectId }, context);
    await handlers()['rollup-cohort']({ programmeId: seeded.programmeId }, context);
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    seeded = await seed(t.db);
    for (const pair of seeded.subjects) {
      await handlers()['aggregate-subject']({ subjectId: pair.baseline }, context);
      await handlers()['aggregate-subject']({ subjectId: pair.followUp }, context);
    }
    await t.db
      .updateTable('cycles')
      .set({ status: 'closed' })
      .where('programme_id', '=', seeded.programmeId)
      .execute();
    for (const pair of seeded.subjects)
      await handlers()['compute-change']({ subjectId: pair.followUp }, context);
    await handlers()['rollup-cohort']({ programmeId: seeded.programmeId }, context);
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('rolls up the versions staff are shown, so a late import of fewer than k changes nothing in it', async () => {
    const before = await cohortReport();
    const pair = seeded.subjects[2]!;
    const published = await t.db
      .selectFrom('subjects')
      .select('published_version')
      .where('id', '=', pair.followUp)
      .executeTakeFirstOrThrow();
    // The roll-up published what it used: the version every staff page of this leader now shows.
    expect(published.published_version).toBe(1);

    // One late peer (3 -> 4, fewer than k = 3 new): a new version, which the re-release rule holds back.
    await latePeers(pair.followUp, 1, 1);
    expect((await resultRepository.latestProfile(t.db, pair.followUp))!.version).toBe(2);
    expect(await cohortReport()).toEqual(before);

    // Three more (k): the re-release rule lets the newer version through, and the cohort moves with it.
    await latePeers(pair.followUp, 3, 1);
    expect(await cohortReport()).not.toEqual(before);
    const shown = await resultRepository.staffPublication(t.db, pair.followUp);
    expect(shown).toMatchObject({ state: 'shown', version: 3 });
  });
});
