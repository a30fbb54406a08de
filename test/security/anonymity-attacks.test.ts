import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  personRepository,
  responseImportRepository,
  responseRepository,
  resultRepository,
  sessionRepository,
} from '@panorama/db';
import {
  buildChange,
  buildCohort,
  buildProfile,
  ConflictError,
  DEFAULT_ANONYMITY,
  publicMixWarnings,
  createSeededRandom,
  newToken,
  tokenMac,
  parseAnswers,
  seededShuffle,
  type CohortLeader,
  type GroupResult,
  type GroupResults,
  type Profile,
  type ScoringResponse,
} from '@panorama/domain';
import { FIXTURE_INSTRUMENT, many, rate } from '../../packages/domain/src/scoring/test-fixtures.ts';
import { mixWarningText } from '../../services/report/src/view-models/leader-report.ts';
import { createCompletionSet } from '@panorama/jobs';
import { createSurveyService } from '@panorama/survey';
import { createHandlers, createWorkerLogger } from '@panorama/worker';
import { createTestDatabase, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { seedReports, sessionFor } from '../support/report-pages-seed.ts';
import { completeFields, createProgramme, keys, linksFromOutbox } from '../support/scenario.ts';
import { closeCycle, importRoster, openCycle, parseRosterCsv } from '@panorama/report';
import { recordTotals, reportApp } from './support.ts';
import { SURVEY_URL } from '../support/scenario.ts';

let t: TestDatabase;
let app: FastifyInstance;
let redis: Redis;
const context = { jobId: 'test', attempt: 1, log: async () => {} };
let handlers: ReturnType<typeof createHandlers>;

beforeAll(async () => {
  t = await createTestDatabase();
  redis = new Redis(redisUrl());
  app = await reportApp(t.db);
  handlers = createHandlers({
    db: t.db,
    producer: { add: async () => undefined, enqueue: async () => undefined } as never,
    mailer: { send: () => Promise.reject(new Error('no mail in tests')) },
    keys,
    anonymityK: 3,
    logger: createWorkerLogger('silent'),
  });
}, 120_000);
afterAll(async () => {
  await app?.close();
  redis?.disconnect();
  await t?.drop();
});

type Rel = 'self' | 'manager' | 'peer' | 'direct_report' | 'other';

/**
 * One leader in an open cycle with the given raters; each rater answers with `answer(index)` and the
 * comment `comment(index, questionId)`, in the order given. Returns the subject and its coach's id.
 */
async function leaderWith(
  raters: { relationship: Rel; rating: (itemId: string) => string; comment?: (q: string) => string }[],
  options: {
    completions?: Pick<ReturnType<typeof createCompletionSet>, 'add' | 'has'>;
    minCompletionBatch?: number;
  } = {},
) {
  const tag = randomUUID().slice(0, 8);
  const { baseline, instrument, hr } = await createProgramme(t.db);
  const leader = `lee.${tag}@acme.test`;
  const lines = ['leader_email,leader_name,coach_email,coach_name,rater_email,rater_name,relationship'];
  raters.forEach((r, i) => {
    const email = r.relationship === 'self' ? leader : `r${i}.${tag}@acme.test`;
    lines.push(`${leader},Lee,coach.${tag}@acme.test,Coach,${email},Rater ${i},${r.relationship}`);
  });
  await importRoster(t.db, { cycleId: baseline.id, rows: parseRosterCsv(lines.join('\n')) });
  await openCycle({ db: t.db, keys, surveyBaseUrl: SURVEY_URL }, baseline.id);
  const links = (await linksFromOutbox(t.db)).filter((l) => l.to.endsWith(`.${tag}@acme.test`));
  const service = createSurveyService({
    db: t.db,
    keys,
    completions: options.completions,
    ...(options.minCompletionBatch ? { minCompletionBatch: options.minCompletionBatch } : {}),
  });
  const submitted: string[] = [];
  const tokens: string[] = [];
  for (const [i, r] of raters.entries()) {
    const to = r.relationship === 'self' ? leader : `r${i}.${tag}@acme.test`;
    const token = links.find((l) => l.to === to)!.token;
    tokens.push(token);
  }
  const submit = async (i: number) => {
    const r = raters[i]!;
    const token = tokens[i]!;
    const opened = await service.open(token);
    const fields = completeFields(instrument, r.rating);
    for (const q of instrument.questions) if (r.comment) fields[`c.${q.id}`] = r.comment(q.id);
    await service.submit(token, opened, parseAnswers(instrument, fields, { complete: true }));
    submitted.push(opened.invitationId);
  };
  const subject = await t.db
    .selectFrom('subjects')
    .selectAll()
    .where('cycle_id', '=', baseline.id)
    .executeTakeFirstOrThrow();
  /** Closes the cycle: staff see numbers only from then on (the publication rule). */
  const close = () => closeCycle({ db: t.db }, baseline.id);
  return { subject, instrument, hr, baseline, tokens, submit, submitted, service, close };
}

/** No response's transaction id is within one of a completion write's (equal or next to it). */
function expectNotAdjacent(responseXmins: string[], writeXmins: string[]) {
  for (const r of responseXmins)
    for (const w of writeXmins)
      expect(Math.abs(Number(r) - Number(w)), `response xmin ${r} vs completion write ${w}`).toBeGreaterThan(
        1,
      );
}

/** A session for this person (emails repeat across the test organisations, ids do not). */
async function sessionOf(personId: string): Promise<string> {
  const id = newToken();
  await sessionRepository.createSession(t.db, {
    idHash: tokenMac(keys.session, id),
    personId,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return id;
}

const aggregate = (subjectId: string) => handlers['aggregate-subject']({ subjectId }, context);

/** The profile as the API publishes it to staff (the version the publication rule shows). */
async function published(subjectId: string, personId: string): Promise<Profile> {
  const response = await app.inject({
    method: 'GET',
    url: `/api/subjects/${subjectId}/profile`,
    headers: { accept: 'application/json', cookie: `panorama_session=${await sessionOf(personId)}` },
  });
  expect(response.statusCode).toBe(200);
  return (response.json() as { profile: { data: Profile } }).profile.data;
}

const shown = (g: GroupResult | undefined): g is Extract<GroupResult, { suppressed: false }> =>
  !!g && !g.suppressed;

/**
 * The differencing attack on one measure: the all-others composite minus any combination of the published
 * groups inside it. Every residual must be empty, only non-anonymous raters (the manager), or at least k.
 */
function differencingLeaks(measure: string, groups: GroupResults, k: number): string[] {
  const all = groups.all_others;
  if (!shown(all)) return [];
  const inside = (['manager', 'peer', 'direct_report', 'other'] as const).filter(
    (g) => all.groups?.includes(g) && shown(groups[g]),
  );
  const n = (g: (typeof inside)[number]) => (groups[g] as { n: number }).n;
  const hidden = all.n - inside.reduce((sum, g) => sum + n(g), 0);
  const leaks: string[] = [];
  // Every subset of the published groups, subtracted from the composite (pairs are the one-group subsets).
  for (let mask = 0; mask < 1 << inside.length; mask++) {
    const subtracted = inside.filter((_, i) => mask & (1 << i));
    const left = inside.filter((g) => !subtracted.includes(g));
    const residual = all.n - subtracted.reduce((sum, g) => sum + n(g), 0);
    const anonymousLeft = hidden > 0 || left.some((g) => g !== 'manager');
    if (residual > 0 && residual < k && anonymousLeft)
      leaks.push(
        `${measure}: all_others (n=${all.n}) minus ${subtracted.join('+') || 'nothing'} leaves ${residual}`,
      );
  }
  return leaks;
}

describe('anonymity attacks', () => {
  it('differencing: no pair or combination of published aggregates isolates fewer than k anonymous raters', async () => {
    // A lone direct report, two others, three peers (one answering N/A on some items) and a manager.
    const naItems = new Set<string>();
    const scenarios: Rel[][] = [
      ['self', 'manager', 'peer', 'peer', 'peer', 'direct_report'],
      ['self', 'manager', 'peer', 'peer', 'peer', 'direct_report', 'other', 'other'],
      ['self', 'manager', 'peer', 'peer', 'peer', 'peer', 'direct_report', 'direct_report', 'other'],
      ['manager', 'peer', 'peer', 'peer', 'direct_report', 'direct_report', 'direct_report', 'other'],
    ];
    let checked = 0;
    for (const [s, rels] of scenarios.entries()) {
      const { subject, instrument, hr, submit, close } = await leaderWith(
        rels.map((relationship, i) => ({
          relationship,
          // One peer says "can't say" to every third item: groups fall under k item by item.
          rating: (itemId: string) => {
            const index = instrument.competencies.flatMap((c) => c.items).findIndex((x) => x.id === itemId);
            if (relationship === 'peer' && i === 2 && index % 3 === s % 3) {
              naItems.add(itemId);
              return 'na';
            }
            return String(((i * 7 + index) % 5) + 1);
          },
        })),
      );
      for (let i = 0; i < rels.length; i++) await submit(i);
      await close();
      await aggregate(subject.id);
      const profile = await published(subject.id, hr.id);
      const leaks: string[] = [];
      for (const c of profile.competencies) {
        leaks.push(...differencingLeaks(c.id, c.groups, 3));
        for (const item of c.items) leaks.push(...differencingLeaks(item.id, item.groups, 3));
        checked += 1 + c.items.length;
        // A group under k is never published, and never inside a composite that is.
        for (const g of ['peer', 'direct_report', 'other'] as const) {
          const group = c.groups[g];
          if (shown(group)) expect(group.n).toBeGreaterThanOrEqual(3);
        }
      }
      expect(leaks).toEqual([]);
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('re-release after one late response is refused (the 4th rating would be 4·m4 − 3·m3)', async () => {
    const raters = ['self', 'manager', 'peer', 'peer', 'peer', 'peer', 'peer', 'peer', 'peer'].map(
      (relationship, i) => ({
        relationship: relationship as Rel,
        rating: () => String((i % 5) + 1),
      }),
    );
    const { subject, submit, hr } = await leaderWith(raters);
    for (let i = 0; i < 5; i++) await submit(i); // self, manager, 3 peers
    await aggregate(subject.id);
    const first = await resultRepository.release(t.db, subject.id, hr.id);
    expect(first.changed).toBe(true);

    await submit(5); // one late peer
    await aggregate(subject.id);
    await expect(resultRepository.release(t.db, subject.id, hr.id)).rejects.toBeInstanceOf(ConflictError);
    // Through the page too: the coach or HR is told why, and the leader keeps reading version 1.
    const cookie = `panorama_session=${await sessionOf(hr.id)}`;
    const page = await app.inject({ method: 'GET', url: `/reports/${subject.id}`, headers: { cookie } });
    const csrfCookie = [page.headers['set-cookie']]
      .flat()
      .find((c) => c?.startsWith('panorama-csrf='))!
      .split(';')[0];
    const csrf = /name=["']_csrf["'] value=["']([^"']+)["']/.exec(page.body)![1]!;
    const refused = await app.inject({
      method: 'POST',
      url: `/reports/${subject.id}/release`,
      payload: `_csrf=${encodeURIComponent(csrf)}`,
      headers: { cookie: `${cookie}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(refused.statusCode).toBe(409);
    const row = await t.db
      .selectFrom('subjects')
      .select('released_version')
      .where('id', '=', subject.id)
      .executeTakeFirstOrThrow();
    expect(row.released_version).toBe(first.version);

    // Three more peers: peers gained 4 since the release, reaching both their k (3) and all-others' (4).
    await submit(6);
    await submit(7);
    await aggregate(subject.id);
    await expect(resultRepository.release(t.db, subject.id, hr.id)).rejects.toBeInstanceOf(ConflictError);
    await submit(8);
    await aggregate(subject.id);
    expect((await resultRepository.release(t.db, subject.id, hr.id)).changed).toBe(true);
  });

  it('cohort slices under k, and slices whose complement is under k, are never shown', async () => {
    const seeded = await seedReports(t.db);
    const hrCookie = `panorama_session=${await sessionFor(t.db, seeded.accounts.hr)}`;
    const api = await app.inject({
      method: 'GET',
      url: `/api/programmes/${seeded.programmeId}/cohort`,
      headers: { accept: 'application/json', cookie: hrCookie },
    });
    const cohort = (
      api.json() as { cohort: { leaders: number; report: { suppressed: boolean; leaders?: number } } }
    ).cohort;
    expect(cohort.leaders).toBeGreaterThanOrEqual(4);
    if (!cohort.report.suppressed) expect(cohort.report.leaders).toBeGreaterThanOrEqual(4);

    // Every slice of the real cohort (every subset by size and position), with its complement.
    const rows = await t.db
      .selectFrom('profile_snapshots as b')
      .innerJoin('subjects as bs', 'bs.id', 'b.subject_id')
      .innerJoin('cycles as bc', 'bc.id', 'bs.cycle_id')
      .innerJoin('subjects as fs', 'fs.leader_id', 'bs.leader_id')
      .innerJoin('cycles as fc', (j) => j.onRef('fc.id', '=', 'fs.cycle_id').on('fc.kind', '=', 'follow_up'))
      .innerJoin('profile_snapshots as f', 'f.subject_id', 'fs.id')
      .select(['b.data as baseline', 'f.data as follow_up'])
      .where('bc.kind', '=', 'baseline')
      .where('bc.programme_id', '=', seeded.programmeId)
      .execute();
    const leaders: CohortLeader[] = rows.map((r) => ({
      baseline: r.baseline as Profile,
      followUp: r.follow_up as Profile,
    }));
    const total = leaders.length;
    let slices = 0;
    for (let size = 0; size <= total; size++) {
      for (let offset = 0; offset < total; offset += 3) {
        const slice = seededShuffle(leaders, `slice-${size}-${offset}`).slice(0, size);
        const report = buildCohort({ leaders: slice, cohortLeaderCount: total, rxxByCompetency: {} });
        slices++;
        const complement = total - size;
        if (size < 4 || (complement > 0 && complement < 4)) {
          expect(report.suppressed, `slice ${size} of ${total}`).toBe(true);
          expect(JSON.stringify(report)).not.toMatch(/mean|paired|participation/);
        } else {
          expect(report.suppressed).toBe(false);
        }
      }
    }
    expect(slices).toBeGreaterThan(40);
    // The HR page and the CSV exports hold nothing rater-level: no response id appears in them.
    const responseIds = (await t.db.selectFrom('responses').select('id').execute()).map((r) => r.id);
    for (const url of [
      `/hr/programmes/${seeded.programmeId}`,
      `/hr/programmes/${seeded.programmeId}/export/profiles.csv`,
      `/hr/programmes/${seeded.programmeId}/export/cohort.csv`,
      `/api/programmes/${seeded.programmeId}/cohort`,
    ]) {
      const body = (await app.inject({ method: 'GET', url, headers: { cookie: hrCookie } })).body;
      for (const id of responseIds) expect(body).not.toContain(id);
    }
  });

  it('comments: a sub-k group is never labelled with its name, and the order follows neither submission nor rater', async () => {
    // Six peers (shown), two direct reports (under k, pooled with one "other" to reach k as "other").
    const rels: Rel[] = [
      'peer',
      'peer',
      'peer',
      'peer',
      'peer',
      'peer',
      'direct_report',
      'direct_report',
      'other',
    ];
    const { subject, submit, hr, close } = await leaderWith(
      rels.map((relationship, i) => ({
        relationship,
        rating: () => '4',
        comment: (q: string) => `Comment ${i} (${relationship}) on ${q}`,
      })),
    );
    for (let i = 0; i < rels.length; i++) await submit(i);
    await close();
    await aggregate(subject.id);
    const profile = await published(subject.id, hr.id);
    const orders: string[] = [];
    for (const question of profile.comments) {
      for (const c of question.comments) {
        if (c.text.includes('(direct_report)')) expect(c.group).not.toBe('direct_report');
      }
      const peerOrder = question.comments
        .filter((c) => c.text.includes('(peer)'))
        .map((c) => Number(/Comment (\d)/.exec(c.text)![1]));
      expect(peerOrder).toHaveLength(6);
      orders.push(peerOrder.join(','));
    }
    // Not in submission order on every question (chance 1/720 per question if shuffled), and not the same
    // permutation on every question, which would group each rater's comments by position.
    expect(orders.every((o) => o === '0,1,2,3,4,5')).toBe(false);
    expect(new Set(orders).size).toBeGreaterThan(1);

    // Two direct reports alone (no "other" to pool with): their comments are withheld, not labelled.
    const alone = await leaderWith(
      (['peer', 'peer', 'peer', 'direct_report', 'direct_report'] as Rel[]).map((relationship, i) => ({
        relationship,
        rating: () => '3',
        comment: (q: string) => `Alone ${i} (${relationship}) on ${q}`,
      })),
    );
    for (let i = 0; i < 5; i++) await alone.submit(i);
    await alone.close();
    await aggregate(alone.subject.id);
    const aloneProfile = await published(alone.subject.id, alone.hr.id);
    const texts = aloneProfile.comments.flatMap((q) => q.comments.map((c) => c.text));
    expect(texts.some((x) => x.includes('(direct_report)'))).toBe(false);
    expect(texts.filter((x) => x.includes('(peer)')).length).toBe(3 * aloneProfile.comments.length);
  });

  it('timing and order: responses share no transaction id with invitations, and completion order says nothing', async () => {
    const prefix = `test-${randomUUID()}`;
    const completions = createCompletionSet(redis, prefix);
    const N = 30;
    const { subject, submit, submitted } = await leaderWith(
      Array.from({ length: N }, (_, i) => ({
        relationship: 'peer' as Rel,
        rating: () => String((i % 5) + 1),
      })),
      { completions },
    );
    const invitationXminBefore = await sql<{ xmin: string }>`
      select xmin::text from invitations where subject_id = ${subject.id}`.execute(t.db);
    // Submission order: a fixed shuffle of the roster order, so neither roster nor insert order is it.
    const order = seededShuffle(
      Array.from({ length: N }, (_, i) => i),
      'submission-order',
    );
    for (const i of order) await submit(i);
    // Submitting did not touch the invitations at all: still the row versions from before.
    const afterSubmit = await sql<{ xmin: string }>`
      select xmin::text from invitations where subject_id = ${subject.id}`.execute(t.db);
    expect(afterSubmit.rows.map((r) => r.xmin).sort()).toEqual(
      invitationXminBefore.rows.map((r) => r.xmin).sort(),
    );

    // The worker's batch (with whatever earlier tests left in the Postgres fallback).
    expect(await responseRepository.flushCompletionSet(t.db, completions, 5)).toBeGreaterThanOrEqual(N);
    const invitations = await sql<{
      id: string;
      xmin: string;
      block: number;
      line: number;
      completed_on: unknown;
    }>`
      select id, xmin::text as xmin, (ctid::text::point)[0]::int as block, (ctid::text::point)[1]::int as line, completed_on
      from invitations where subject_id = ${subject.id} and status = 'completed'`.execute(t.db);
    expect(invitations.rows).toHaveLength(N);
    expect(new Set(invitations.rows.map((r) => r.xmin)).size).toBe(1);
    const responses = await sql<{ xmin: string }>`
      select xmin::text from responses where subject_id = ${subject.id}`.execute(t.db);
    const invitationXmins = new Set(invitations.rows.map((r) => r.xmin));
    for (const r of responses.rows) expect(invitationXmins.has(r.xmin)).toBe(false);
    // Nor the one next to it: the batch's transaction id is not the one right after the last response's.
    expectNotAdjacent(
      responses.rows.map((r) => r.xmin),
      [...invitationXmins],
    );

    // Nothing on the response side is finer than a day.
    const columns = await sql<{ table_name: string; column_name: string; data_type: string }>`
      select table_name, column_name, data_type from information_schema.columns
      where table_schema = 'public'
        and table_name in ('responses', 'response_ratings', 'response_comments', 'spent_tokens', 'response_drafts')`.execute(
      t.db,
    );
    const timed = columns.rows.filter((c) => /time|interval/.test(c.data_type));
    expect(timed).toEqual([]);

    // Permutation test: does the physical order of the completed invitations follow submission order?
    // Statistic: |Spearman rho| between submission rank and ctid rank; its null distribution from 20,000
    // permutations drawn with a fixed seed (the invitation ids are random, so the observed rho varies by run).
    const submissionRank = new Map(submitted.map((id, rank) => [id, rank]));
    const physical = [...invitations.rows].sort((a, b) => a.block - b.block || a.line - b.line);
    const ranks = physical.map((r) => submissionRank.get(r.id)!);
    const rho = (xs: number[]) => {
      const n = xs.length;
      const d2 = xs.reduce((sum, x, i) => sum + (x - i) ** 2, 0);
      return 1 - (6 * d2) / (n * (n * n - 1));
    };
    const observed = Math.abs(rho(ranks));
    let atLeast = 0;
    const PERMUTATIONS = 20_000;
    const random = createSeededRandom('ctid-permutation-test');
    const shuffled = [...ranks];
    for (let p = 0; p < PERMUTATIONS; p++) {
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      if (Math.abs(rho(shuffled)) >= observed) atLeast++;
    }
    const pValue = (atLeast + 1) / (PERMUTATIONS + 1);
    recordTotals('ctid-permutation-test', {
      n: N,
      permutations: PERMUTATIONS,
      rho: Number(observed.toFixed(3)),
      pValue,
    });
    // Fails only when at most one of 20,000 permutations is as extreme: a false alarm about once in 10,000
    // runs, while an order that follows submission gives rho = 1 and no permutation as extreme.
    expect(pValue).toBeGreaterThan(1e-4);
  });
  it('Redis down: completions wait in shuffled batches of the minimum, never next to a response', async () => {
    const down = () => Promise.reject(new Error('Redis is down'));
    const N = 24;
    const BATCH = 8;
    const { subject, submit, submitted, service } = await leaderWith(
      Array.from({ length: N }, (_, i) => ({
        relationship: 'peer' as Rel,
        rating: () => String((i % 5) + 1),
      })),
      { completions: { add: down, has: down }, minCompletionBatch: BATCH },
    );
    const order = seededShuffle(
      Array.from({ length: N }, (_, i) => i),
      'fallback-order',
    );
    for (const [n, i] of order.entries()) {
      await submit(i);
      // Held in the survey process until a full batch has gathered: nothing in Postgres before.
      const written = await sql<{ n: number }>`
        select count(*)::int as n from pending_completions p join invitations i on i.id = p.invitation_id
        where i.subject_id = ${subject.id}`.execute(t.db);
      expect(written.rows[0]!.n).toBe(Math.floor((n + 1) / BATCH) * BATCH);
    }
    await service.close();

    const pending = await sql<{ invitation_id: string; xmin: string; block: number; line: number }>`
      select p.invitation_id, p.xmin::text as xmin, (p.ctid::text::point)[0]::int as block,
             (p.ctid::text::point)[1]::int as line
      from pending_completions p join invitations i on i.id = p.invitation_id
      where i.subject_id = ${subject.id}`.execute(t.db);
    expect(pending.rows).toHaveLength(N);
    const batches = new Map<string, typeof pending.rows>();
    for (const row of pending.rows) batches.set(row.xmin, [...(batches.get(row.xmin) ?? []), row]);
    expect([...batches.values()].map((b) => b.length)).toEqual([BATCH, BATCH, BATCH]);
    // Each batch is one statement in a random order: its rows do not lie in submission order (a false alarm
    // once in 8! = 40,320 per batch).
    const rank = new Map(submitted.map((id, r) => [id, r]));
    for (const batch of batches.values()) {
      const physical = [...batch].sort((a, b) => a.block - b.block || a.line - b.line);
      const ranks = physical.map((r) => rank.get(r.invitation_id)!);
      expect(ranks).not.toEqual([...ranks].sort((a, b) => a - b));
    }
    const responses = await sql<{ xmin: string }>`
      select xmin::text from responses where subject_id = ${subject.id}`.execute(t.db);
    expectNotAdjacent(
      responses.rows.map((r) => r.xmin),
      [...batches.keys()],
    );

    // The worker marks them in one batch, again next to no response.
    expect(await responseRepository.flushCompletions(t.db, { minBatch: 5 })).toBeGreaterThanOrEqual(N);
    const completed = await sql<{ xmin: string }>`
      select distinct xmin::text from invitations where subject_id = ${subject.id} and status = 'completed'`.execute(
      t.db,
    );
    expect(completed.rows).toHaveLength(1);
    expectNotAdjacent(
      responses.rows.map((r) => r.xmin),
      completed.rows.map((r) => r.xmin),
    );
  });
});

describe('publication rule: staff cannot difference report versions', () => {
  /** An admin (no HR role) of the subject's organisation. */
  async function adminBeside(hrId: string) {
    const hr = await t.db
      .selectFrom('people')
      .select('organisation_id')
      .where('id', '=', hrId)
      .executeTakeFirstOrThrow();
    const admin = await personRepository.upsert(t.db, {
      organisationId: hr.organisation_id,
      email: `admin.${randomUUID().slice(0, 8)}@acme.test`,
      name: 'Ada Admin',
    });
    await personRepository.grantRole(t.db, admin.id, 'admin');
    return admin.id;
  }

  const apiAs = async (subjectId: string, personId: string) => {
    const response = await app.inject({
      method: 'GET',
      url: `/api/subjects/${subjectId}/profile`,
      headers: { accept: 'application/json', cookie: `panorama_session=${await sessionOf(personId)}` },
    });
    expect(response.statusCode).toBe(200);
    return response.json() as {
      publication: { state: string; closesAt?: string; heldBack?: boolean } | null;
      profile: { version: number; data: Profile } | null;
    };
  };
  const pageAs = async (subjectId: string, personId: string) => {
    const response = await app.inject({
      method: 'GET',
      url: `/reports/${subjectId}`,
      headers: { accept: 'text/html', cookie: `panorama_session=${await sessionOf(personId)}` },
    });
    expect(response.statusCode).toBe(200);
    return response.body;
  };

  /** A late response stored the way a bulk import stores one (links stop working when a cycle closes). */
  async function importLate(
    subject: { id: string; cycle_id: string },
    instrument: { competencies: { id: string; items: { id: string }[] }[] },
    rating: (itemId: string) => number,
  ) {
    await responseImportRepository.insert(
      t.db,
      [
        {
          subjectId: subject.id,
          relationship: 'peer',
          ratings: instrument.competencies.flatMap((c) =>
            c.items.map((i) => ({ itemId: i.id, competencyId: c.id, value: rating(i.id) })),
          ),
          comments: [],
        },
      ],
      [],
      subject.cycle_id,
    );
  }

  /** The auditor's attack: each late peer rating as new n × new mean − old n × old mean, per item. */
  function recovered(before: Profile, after: Profile, secret: Record<string, number>) {
    let hits = 0;
    for (const [ci, c] of after.competencies.entries()) {
      for (const [ii, item] of c.items.entries()) {
        const a = before.competencies[ci]!.items[ii]!.groups.peer;
        const b = item.groups.peer;
        if (!shown(a) || !shown(b)) continue;
        if (Math.abs(b.n * b.mean - a.n * a.mean - secret[item.id]!) < 0.05) hits++;
      }
    }
    return hits;
  }

  const rels: Rel[] = ['self', 'manager', 'peer', 'peer', 'peer', 'peer'];

  it('while the cycle is open, HR, admins and the coach get no numbers, on the page or from the API', async () => {
    const { subject, hr, submit } = await leaderWith(
      rels.map((relationship, i) => ({ relationship, rating: () => String((i % 5) + 1) })),
    );
    const viewers = [hr.id, await adminBeside(hr.id), subject.coach_id!];
    for (let i = 0; i < 5; i++) await submit(i);
    await aggregate(subject.id);
    const look = async () => {
      for (const who of viewers) {
        const json = await apiAs(subject.id, who);
        expect(json.profile).toBeNull();
        expect(json.publication?.state).toBe('withheld');
        expect(json.publication?.closesAt).toEqual(expect.any(String));
        const page = await pageAs(subject.id, who);
        expect(page).toContain('This report is published when the cycle closes on');
        expect(page).toContain('still coming in');
        expect(page).toContain('Who responded so far');
        expect(page).not.toMatch(/Version \d+, computed/);
        expect(page).not.toContain('id="competencies"');
      }
    };
    await look();
    // The late peer the auditor differenced: still nothing to compare.
    await submit(5);
    await aggregate(subject.id);
    await look();
  });

  it("the auditor's repro: after publication a late response changes nothing staff see, so it cannot be worked out", async () => {
    const { subject, instrument, hr, submit, close } = await leaderWith(
      rels.map((relationship, i) => ({
        relationship,
        rating: (id: string) =>
          String(
            ((instrument.competencies.flatMap((c) => c.items).findIndex((x) => x.id === id) + i) % 5) + 1,
          ),
      })),
    );
    const items = instrument.competencies.flatMap((c) => c.items.map((i) => i.id));
    const secret = Object.fromEntries(items.map((id, j) => [id, ((j * 3) % 5) + 1]));
    const viewers = [hr.id, await adminBeside(hr.id), subject.coach_id!];
    for (let i = 0; i < 5; i++) await submit(i);
    await close();
    await aggregate(subject.id);
    const before = await apiAs(subject.id, hr.id);
    expect(before.profile).not.toBeNull();
    const v1 = before.profile!.version;

    await importLate(subject, instrument, (id) => secret[id]!);
    await aggregate(subject.id);
    expect((await resultRepository.latestProfile(t.db, subject.id))!.version).toBe(v1 + 1);
    for (const who of viewers) {
      const after = await apiAs(subject.id, who);
      expect(after.profile!.version).toBe(v1);
      expect(after.publication).toMatchObject({ state: 'shown', heldBack: true });
      expect(recovered(before.profile!.data, after.profile!.data, secret)).toBe(0);
      const page = await pageAs(subject.id, who);
      expect(page).toContain(`Version ${v1}, computed`);
      expect(page).toContain('Later responses are held back');
    }
    // Releasing gives the leader the version staff see, never the held-back one.
    expect((await resultRepository.release(t.db, subject.id, hr.id)).version).toBe(v1);

    // Enough more peers for the re-release rule (peers +4 reaches both k = 3 and all-others' k = 4): the new
    // version is shown, and differencing it against v1 mixes four raters.
    for (let i = 0; i < 3; i++) await importLate(subject, instrument, () => 3);
    await aggregate(subject.id);
    const later = await apiAs(subject.id, hr.id);
    expect(later.profile!.version).toBe(v1 + 2);
    expect(later.publication).toMatchObject({ state: 'shown', heldBack: false });
    expect(recovered(before.profile!.data, later.profile!.data, secret)).toBeLessThan(items.length / 4);
  });

  it('shows "being brought up to date", not an intermediate version, while aggregation is in flight', async () => {
    const { subject, hr, submit, close } = await leaderWith(
      rels.map((relationship, i) => ({ relationship, rating: () => String((i % 5) + 1) })),
    );
    for (let i = 0; i < 5; i++) await submit(i);
    await aggregate(subject.id);
    await submit(5); // stored, not yet aggregated
    await close();
    for (const who of [hr.id, subject.coach_id!]) {
      const json = await apiAs(subject.id, who);
      expect(json.profile).toBeNull();
      expect(json.publication).toEqual({ state: 'updating' });
      const page = await pageAs(subject.id, who);
      expect(page).toContain('being brought up to date');
      expect(page).not.toMatch(/Version \d+, computed/);
    }
    // Nor can it be released: the leader would get a version staff never saw.
    await expect(resultRepository.release(t.db, subject.id, hr.id)).rejects.toBeInstanceOf(ConflictError);
    await aggregate(subject.id);
    const json = await apiAs(subject.id, hr.id);
    expect(json.profile!.version).toBe(2);
    const row = await t.db
      .selectFrom('subjects')
      .select(['published_version', 'released_version'])
      .where('id', '=', subject.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ published_version: 2, released_version: null });
  });

  it('the API gives no participation count for a suppressed group', async () => {
    const { subject, hr, submit, close } = await leaderWith(
      (['self', 'manager', 'peer', 'peer', 'peer', 'other'] as Rel[]).map((relationship) => ({
        relationship,
        rating: () => '3',
      })),
    );
    for (let i = 0; i < 6; i++) await submit(i);
    await close();
    await aggregate(subject.id);
    const json = await apiAs(subject.id, hr.id);
    const participation = json.profile!.data.participation as unknown as Record<string, unknown>;
    expect(participation.other).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    expect(participation.direct_report).toEqual({ suppressed: true, reason: 'fewer_than_k', k: 3 });
    expect(participation.peer).toEqual({ responses: 3, k: 3, shown: true });
    expect(JSON.stringify(json)).not.toMatch(/"responses":\s*[0-9]+,\s*"k":\s*[0-9]+,\s*"shown":\s*false/);
  });
});

describe('mix warnings', () => {
  it('never give the share, or a 0 versus 1, of a group the report suppresses', () => {
    const profileOf = (responses: ScoringResponse[]) =>
      buildProfile({ instrument: FIXTURE_INSTRUMENT, responses, rules: DEFAULT_ANONYMITY, seed: 'mix' });
    // Peers 3 of 8 then 3 of 6 (shown both times); others 1 then 0 (under k at baseline); direct reports
    // 3 then 2 (under k in the follow-up). "Peers 38% -> 50%" would reveal nothing hidden, but a share of
    // others or direct reports, or "others rated at baseline but not in the follow-up", gives away a count.
    const baseline = profileOf([
      rate('s', 'self', 4),
      ...many('manager', [3]),
      ...many('peer', [3, 4, 4]),
      ...many('direct_report', [3, 3, 3]),
      ...many('other', [4]),
    ]);
    const followUp = profileOf([
      rate('s', 'self', 4),
      ...many('manager', [3]),
      ...many('peer', [4, 4, 5]),
      ...many('direct_report', [2, 2]),
    ]);
    const { mixWarnings } = buildChange({ baseline, followUp, sd1ByCompetency: {}, rxxByCompetency: {} });
    for (const w of mixWarnings) {
      if (w.type === 'mix_changed') continue;
      expect(baseline.participation[w.group].shown || baseline.participation[w.group].k <= 1).toBe(true);
      expect(followUp.participation[w.group].shown || followUp.participation[w.group].k <= 1).toBe(true);
    }
    expect(mixWarnings).toContainEqual({ type: 'mix_changed' });
    const texts = publicMixWarnings(mixWarnings).map(mixWarningText);
    for (const text of texts) {
      expect(text).not.toMatch(/Others|Direct reports/);
      if (!text.startsWith('Peers') && !text.startsWith('Manager')) expect(text).not.toMatch(/\d/);
    }
    // A change stored before the fix (shares of every group) is folded into the general warning.
    const stored = publicMixWarnings([
      { type: 'share_changed', group: 'other', baselineShare: 0.125, followUpShare: 0 },
      { type: 'group_removed', group: 'other' },
    ]);
    expect(stored).toEqual([{ type: 'mix_changed' }]);
    expect(mixWarningText(stored[0]!)).not.toMatch(/\d/);
  });
});
