import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { resultRepository, sessionRepository, type Database } from '@panorama/db';
import { newToken, tokenMac } from '@panorama/domain';
import { buildReportApp, type ReportAppDeps } from '@panorama/report';
import { createHandlers, createWorkerLogger } from '@panorama/worker';
import { DEMO_SLUG, seedDemo } from '../../infra/demo/seed.ts';
import { keys, SURVEY_URL, TEST_SECRET } from './scenario.ts';
import { webClient } from './web-client.ts';

/**
 * The demo organisation (12 leaders, baseline and follow-up) with every profile, change and the cohort
 * computed by the worker's own handlers, called directly instead of through Redis.
 */
export async function seedReports(db: Kysely<Database>) {
  const accounts = await seedDemo({ db, keys, surveyBaseUrl: SURVEY_URL, log: () => {} });
  if (!accounts) throw new Error('the demo organisation exists already');
  const handlers = createHandlers({
    db,
    producer: { add: async () => undefined, enqueue: async () => undefined } as never,
    mailer: { send: () => Promise.reject(new Error('no mail in tests')) },
    keys,
    anonymityK: 3,
    logger: createWorkerLogger('silent'),
  });
  const context = { jobId: 'test', attempt: 1, log: async () => {} };
  // Only the demo programme's subjects: the database may hold other tests' programmes too.
  const subjects = await db
    .selectFrom('subjects')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
    .innerJoin('organisations', 'organisations.id', 'programmes.organisation_id')
    .where('organisations.slug', '=', DEMO_SLUG)
    .select(['subjects.id', 'cycles.kind', 'cycles.programme_id'])
    .orderBy('cycles.kind')
    .orderBy('subjects.id')
    .execute();
  for (const s of subjects) await handlers['aggregate-subject']({ subjectId: s.id }, context);
  const programmeId = subjects[0]!.programme_id;
  // The cohort roll-up fixes SD1 and alpha; changes are computed after it, as the worker's queue would.
  await handlers['rollup-cohort']({ programmeId }, context);
  for (const s of subjects.filter((x) => x.kind === 'follow_up'))
    await handlers['compute-change']({ subjectId: s.id }, context);
  await handlers['rollup-cohort']({ programmeId }, context);
  const check = await resultRepository.latestCohort(db, programmeId);
  if (!check) throw new Error('no cohort result was written');
  /** Recomputes one subject's profile (and its change), as the worker does after a new response. */
  const aggregate = async (subjectId: string) => {
    await handlers['aggregate-subject']({ subjectId }, context);
    await handlers['compute-change']({ subjectId }, context);
  };
  return { accounts, programmeId, aggregate };
}

/** A live session for the person with this email, as the sign-in link would create; returns the cookie value. */
export async function sessionFor(db: Kysely<Database>, email: string): Promise<string> {
  const person = await db
    .selectFrom('people')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  return sessionForPerson(db, person.id);
}

export async function sessionForPerson(db: Kysely<Database>, personId: string): Promise<string> {
  const id = newToken();
  await sessionRepository.createSession(db, {
    idHash: tokenMac(keys.session, id),
    personId,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return id;
}

/** A browser (see web-client.ts) signed in as this person. */
export async function signedInClient(app: FastifyInstance, db: Kysely<Database>, personId: string) {
  const browser = webClient(app);
  browser.cookies.set('panorama_session', await sessionForPerson(db, personId));
  return browser;
}

/** The report app as the tests build it: no Redis, silent logs; `reportCache` as in ReportAppDeps. */
export function reportApp(db: Kysely<Database>, options: Pick<ReportAppDeps, 'reportCache'> = {}) {
  return buildReportApp({
    ...options,
    db,
    keys,
    config: {
      LOG_LEVEL: 'silent',
      APP_SECRET: TEST_SECRET,
      REPORT_PUBLIC_URL: 'http://report.test',
      SURVEY_PUBLIC_URL: SURVEY_URL,
      TRUST_PROXY: false,
      SESSION_TTL_HOURS: 1,
    },
  });
}

/** One more peer response for a subject: a copy of an existing one's ratings under a fresh id. */
export async function addPeerResponse(db: Kysely<Database>, subjectId: string) {
  const peer = await db
    .selectFrom('responses')
    .selectAll()
    .where('subject_id', '=', subjectId)
    .where('relationship', '=', 'peer')
    .executeTakeFirstOrThrow();
  const id = randomUUID();
  await db
    .insertInto('responses')
    .values({ ...peer, id })
    .execute();
  const ratings = await db
    .selectFrom('response_ratings')
    .select(['item_id', 'competency_id', 'value'])
    .where('response_id', '=', peer.id)
    .execute();
  await db
    .insertInto('response_ratings')
    .values(ratings.map((r) => ({ ...r, response_id: id })))
    .execute();
}

/**
 * As many more peer responses as the re-release rule needs before staff may see a new version: the larger
 * of the peer and all-others k of the subject's latest profile. Returns how many were added.
 */
export async function addPeersForNewVersion(db: Kysely<Database>, subjectId: string): Promise<number> {
  const latest = await resultRepository.latestProfile(db, subjectId);
  const { k } = (latest!.data as { anonymity: { k: { peer: number; all_others: number } } }).anonymity;
  const count = Math.max(k.peer, k.all_others);
  for (let i = 0; i < count; i++) await addPeerResponse(db, subjectId);
  return count;
}
