import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  organisationRepository,
  outboxRepository,
  personRepository,
  programmeRepository,
  responseRepository,
  resultRepository,
  type Database,
  type Relationship,
} from '@panorama/db';
import {
  instrumentChecksum,
  loadInstrument,
  openOutbox,
  parseAnswers,
  type Instrument,
  type SecretKeys,
} from '@panorama/domain';
import { closeCycle, importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { createSurveyService } from '@panorama/survey';
import { createHandlers, createWorkerLogger } from '@panorama/worker';
import { COACHES, COMMENTS, DEMO_ACCOUNTS, FIRST, LAST, LEADERS, demoEmail } from './people.ts';
import { demoRandom, type DemoRandom } from './random.ts';

export const DEMO_SLUG = 'northwind-demo';
/** The slug while the demo is being created: renamed to DEMO_SLUG as the last step, so a seed that was
 * interrupted is recognised, removed and done again instead of passing for a finished demo. */
export const DEMO_SLUG_INCOMPLETE = 'northwind-demo-incomplete';
const INSTRUMENT = path.resolve(import.meta.dirname, '../../surveys/leadership-360/instrument.yaml');

export type DemoAccounts = typeof DEMO_ACCOUNTS;

interface Rater {
  email: string;
  name: string;
  relationship: Relationship;
  leniency: number;
}

interface LeaderModel {
  email: string;
  name: string;
  coach: string;
  level: number;
  growth: number;
  /** Competency offsets as others see them, and as the leader sees them. */
  others: Record<string, number>;
  self: Record<string, number>;
  raters: Rater[];
}

const email = demoEmail;

function nameMaker(random: DemoRandom) {
  const used = new Set<string>([...LEADERS, ...COACHES]);
  return () => {
    for (;;) {
      const name = `${random.pick(FIRST)} ${random.pick(LAST)}`;
      if (!used.has(name)) {
        used.add(name);
        return name;
      }
    }
  };
}

function modelCohort(instrument: Instrument, random: DemoRandom, person: () => string): LeaderModel[] {
  const competencies = instrument.competencies.map((c) => c.id);
  return LEADERS.map((name, index) => {
    const others: Record<string, number> = {};
    const self: Record<string, number> = {};
    for (const c of competencies) {
      others[c] = random.normal(0, 0.3);
      // Leaders rate themselves a little higher than others do (Heidemeier & Moser 2009: d ≈ .32).
      self[c] = others[c] + 0.25 + random.normal(0, 0.25);
    }
    // A couple of blind spots (self high, others low) and hidden strengths (the reverse).
    if (index % 4 === 0) {
      const c = competencies[(index * 3) % competencies.length]!;
      others[c] = -0.9;
      self[c] = 0.9;
    }
    if (index % 5 === 1) {
      const c = competencies[(index * 7 + 2) % competencies.length]!;
      others[c] = 0.8;
      self[c] = -0.9;
    }
    // 8 to 12 raters each. One leader has a small team (2 direct reports), so that group is merged or
    // suppressed as the anonymity rules say.
    const small = index === 5;
    const groups: [Relationship, number][] = [
      ['manager', 1],
      ['peer', small ? 4 : random.int(3, 4)],
      ['direct_report', small ? 2 : random.int(3, 5)],
      ['other', small ? 2 : random.int(1, 2)],
    ];
    const raters: Rater[] = [];
    for (const [relationship, count] of groups) {
      for (let i = 0; i < count; i++) {
        const raterName = person();
        raters.push({
          email: email(raterName),
          name: raterName,
          relationship,
          leniency: random.normal(0, 0.3),
        });
      }
    }
    return {
      email: email(name),
      name,
      coach: COACHES[index % COACHES.length]!,
      level: 3.35 + random.normal(0, 0.3),
      growth: 0.18 + random.normal(0, 0.12),
      others,
      self,
      raters,
    };
  });
}

function rosterCsv(
  cohort: LeaderModel[],
  follow: boolean,
  random: DemoRandom,
  newcomer: () => Rater['name'],
): string {
  const lines = ['leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship'];
  for (const leader of cohort) {
    for (const [index, rater] of leader.raters.entries()) {
      // About one rater in seven is replaced between the cycles (people move on), which the change report
      // counts as lower rater overlap.
      if (follow && rater.relationship !== 'manager' && random.next() < 0.15) {
        const name = newcomer();
        leader.raters[index] = { ...rater, name, email: email(name) };
      }
      const current = leader.raters[index]!;
      lines.push(
        [
          leader.email,
          leader.name,
          email(leader.coach),
          leader.coach,
          current.email,
          current.name,
          current.relationship,
        ].join(','),
      );
    }
  }
  return lines.join('\n');
}

function answer(
  instrument: Instrument,
  leader: LeaderModel,
  rater: Rater | 'self',
  follow: boolean,
  random: DemoRandom,
): Record<string, string> {
  const fields: Record<string, string> = {};
  const isSelf = rater === 'self';
  const naChance = isSelf ? 0 : rater.relationship === 'other' ? 0.12 : 0.04;
  for (const competency of instrument.competencies) {
    const offset = isSelf ? leader.self[competency.id]! : leader.others[competency.id]!;
    const base =
      leader.level +
      offset +
      (isSelf ? 0 : rater.leniency) +
      (follow ? leader.growth * (isSelf ? 0.6 : 1) : 0);
    for (const item of competency.items) {
      if (random.next() < naChance) {
        fields[`r.${item.id}`] = 'na';
        continue;
      }
      const value = Math.round(base + random.normal(0, 0.55));
      fields[`r.${item.id}`] = String(Math.min(5, Math.max(1, value)));
    }
  }
  for (const question of instrument.questions) {
    const bank = COMMENTS[question.id] ?? COMMENTS.other!;
    if (random.next() < 0.45) fields[`c.${question.id}`] = random.pick(bank);
  }
  return fields;
}

/**
 * Removes the demo organisation, finished or not, with everything in it (people, programmes, cycles,
 * responses, results and outboxes go with it). Returns whether there was one.
 */
export async function removeDemo(db: Kysely<Database>): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const demo = trx
      .selectFrom('organisations')
      .select('id')
      .where('slug', 'in', [DEMO_SLUG, DEMO_SLUG_INCOMPLETE]);
    // Programmes first: their subjects point at the organisation's people without a cascade.
    await trx.deleteFrom('programmes').where('organisation_id', 'in', demo).execute();
    const removed = await trx.deleteFrom('organisations').where('id', 'in', demo).executeTakeFirst();
    return Number(removed.numDeletedRows) > 0;
  });
}

/**
 * Aggregates the demo leader's baseline with the worker's own handler and releases it as her coach would
 * (the repository call behind the report page's Release button), so the printed leader account has a
 * report to read. Jobs the aggregation plans stay in the job outbox for the worker's sweeper.
 */
async function releaseLeaderBaseline(
  db: Kysely<Database>,
  keys: SecretKeys,
  anonymityK: number,
  subjectId: string,
  coachId: string | null,
): Promise<void> {
  const handlers = createHandlers({
    db,
    producer: {
      add: () => Promise.reject(new Error('no Redis while seeding: the sweeper pushes the job outbox')),
      enqueue: () => Promise.reject(new Error('no Redis while seeding')),
    },
    mailer: { send: () => Promise.reject(new Error('the demo seed sends no email')) },
    keys,
    anonymityK,
    logger: createWorkerLogger('silent'),
  });
  await handlers['aggregate-subject']({ subjectId }, { jobId: 'demo-seed', attempt: 1, log: () => {} });
  await resultRepository.release(db, subjectId, coachId);
}

/**
 * Seeds the demo organisation through the code paths a real cycle uses: roster CSV import, opening the cycle
 * (links sealed into the outbox), the survey service taking each link, closing the cycle. Returns null
 * when the demo organisation exists already. A demo left half-made by an interrupted seed is removed and
 * made again. With `release`, the demo leader's baseline report is computed and released by her coach.
 */
export async function seedDemo(deps: {
  db: Kysely<Database>;
  keys: SecretKeys;
  surveyBaseUrl: string;
  log: (line: string) => void;
  release?: { anonymityK: number };
}): Promise<DemoAccounts | null> {
  const { db, keys } = deps;
  if (await organisationRepository.findBySlug(db, DEMO_SLUG)) return null;
  if (await removeDemo(db)) deps.log('demo: removed a demo that an interrupted seed left unfinished');
  const random = demoRandom('panorama-demo');
  const instrument = await loadInstrument(INSTRUMENT);

  const organisation = await organisationRepository.create(db, {
    name: 'Northwind Health (demo)',
    slug: DEMO_SLUG_INCOMPLETE,
  });
  const hr = await personRepository.upsert(db, {
    organisationId: organisation.id,
    email: DEMO_ACCOUNTS.hr,
    name: 'Harriet Ross',
  });
  await personRepository.grantRole(db, hr.id, 'hr');
  await personRepository.grantRole(db, hr.id, 'admin');
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  const programme = await programmeRepository.create(db, {
    organisationId: organisation.id,
    name: 'Leading Through Change 2026',
    description: 'Six months of one-to-one coaching for twelve senior leaders, measured before and after.',
  });

  const person = nameMaker(random);
  const cohort = modelCohort(instrument, random, person);
  const survey = createSurveyService({ db, keys });
  const cycles: { kind: 'baseline' | 'follow_up'; name: string; ageDays: number }[] = [
    { kind: 'baseline', name: 'Baseline (spring 2026)', ageDays: 200 },
    { kind: 'follow_up', name: 'Follow-up (autumn 2026)', ageDays: 20 },
  ];
  for (const spec of cycles) {
    const follow = spec.kind === 'follow_up';
    const cycle = await programmeRepository.createCycle(db, {
      programmeId: programme.id,
      kind: spec.kind,
      name: spec.name,
      instrumentId: instrument.id,
      instrumentVersion: instrument.version,
      closesAt: new Date(Date.now() + 14 * 86_400_000),
    });
    await importRoster(db, {
      cycleId: cycle.id,
      rows: parseRosterCsv(rosterCsv(cohort, follow, random, person)),
    });
    await openCycle({ db, keys, surveyBaseUrl: deps.surveyBaseUrl }, cycle.id);

    // Take each link from its (sealed) email, as a rater would from their inbox.
    const emails = await db
      .selectFrom('email_outbox')
      .select(['id', 'to_address', 'payload'])
      .where('organisation_id', '=', organisation.id)
      .where('status', '=', 'queued')
      .execute();
    let responses = 0;
    for (const mail of emails) {
      const { data } = JSON.parse(openOutbox(keys, mail.payload!)) as {
        data: { surveys: { leaderName: string; link: string; self: boolean }[] };
      };
      for (const entry of data.surveys) {
        const leader = cohort.find((l) => l.name === entry.leaderName)!;
        const rater = entry.self ? 'self' : leader.raters.find((r) => r.email === mail.to_address);
        // Most raters answer; a few never do.
        if (!entry.self && random.next() < 0.1) continue;
        const token = entry.link.split('/').pop()!;
        const opened = await survey.open(token);
        const fields = answer(instrument, leader, rater ?? 'self', follow, random);
        await survey.submit(token, opened, parseAnswers(instrument, fields, { complete: true }));
        responses++;
      }
      // Demo addresses never receive mail; the emails count as sent.
      await outboxRepository.markEmailSent(db, mail.id);
    }
    await db.deleteFrom('job_outbox').where('name', '=', 'deliver-email').execute();
    // Completions the survey service still holds (it batches them without Redis) go to Postgres first.
    await survey.close();
    await responseRepository.flushCompletions(db);
    await closeCycle({ db }, cycle.id);
    // Move the cycle back in time, so the demo reads like a programme that ran this year.
    const closedAt = new Date(Date.now() - spec.ageDays * 86_400_000);
    await db
      .updateTable('cycles')
      .set({
        opened_at: new Date(closedAt.getTime() - 21 * 86_400_000),
        closes_at: closedAt,
        closed_at: closedAt,
      })
      .where('id', '=', cycle.id)
      .execute();
    deps.log(`demo: ${spec.name}: ${cohort.length} leaders, ${responses} responses`);
    if (deps.release && !follow) {
      const released = await db
        .selectFrom('subjects')
        .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
        .select(['subjects.id', 'subjects.coach_id'])
        .where('subjects.cycle_id', '=', cycle.id)
        .where('leader.email', '=', DEMO_ACCOUNTS.leader)
        .executeTakeFirstOrThrow();
      await releaseLeaderBaseline(db, keys, deps.release.anonymityK, released.id, released.coach_id);
      deps.log(`demo: ${spec.name}: released ${LEADERS[0]}'s report`);
    }
  }

  await db.updateTable('organisations').set({ slug: DEMO_SLUG }).where('id', '=', organisation.id).execute();
  return DEMO_ACCOUNTS;
}
