import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseRepository, resultRepository, sessionRepository } from '@panorama/db';
import {
  buildCohort,
  ConflictError,
  createSeededRandom,
  newToken,
  tokenMac,
  parseAnswers,
  seededShuffle,
  type CohortLeader,
  type GroupResult,
  type GroupResults,
  type Profile,
} from '@panorama/domain';
import { createCompletionSet } from '@panorama/jobs';
import { createSurveyService } from '@panorama/survey';
import { createHandlers, createWorkerLogger } from '@panorama/worker';
import { createTestDatabase, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { seedReports, sessionFor } from '../support/report-pages-seed.ts';
import { completeFields, createProgramme, keys, linksFromOutbox } from '../support/scenario.ts';
import { importRoster, openCycle, parseRosterCsv } from '@panorama/report';
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
  return { subject, instrument, hr, baseline, tokens, submit, submitted, service };
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

/** The profile as the API publishes it to HR (the latest version). */
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
      const { subject, instrument, hr, submit } = await leaderWith(
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
    const { subject, submit, hr } = await leaderWith(
      rels.map((relationship, i) => ({
        relationship,
        rating: () => '4',
        comment: (q: string) => `Comment ${i} (${relationship}) on ${q}`,
      })),
    );
    for (let i = 0; i < rels.length; i++) await submit(i);
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
