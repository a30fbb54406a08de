import { performance } from 'node:perf_hooks';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRepository } from '@panorama/db';
import { newToken, tokenMac } from '@panorama/domain';
import { createSurveyService } from '@panorama/survey';
import { openNominations } from '../../services/report/src/admin/nominations.ts';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { openOutbox } from '@panorama/domain';
import { completeFields, keys, SURVEY_URL } from '../support/scenario.ts';
import {
  cookieHeader,
  csrfOf,
  freshIp,
  keepCookies,
  NO_RATE_LIMITS,
  recordTotals,
  reportApp,
  surveyApp,
} from './support.ts';

let t: TestDatabase;
let cycle: Awaited<ReturnType<typeof openSurveyCycle>>;
let usedToken = '';
let expiredToken = '';
const measurements: Record<string, number | string> = {};

beforeAll(async () => {
  t = await createTestDatabase();
  cycle = await openSurveyCycle(t.db, { peers: 4 });
  // One link used (a submitted response), one expired.
  usedToken = cycle.tokens.peers[0]!;
  const service = createSurveyService({ db: t.db, keys });
  const opened = await service.open(usedToken);
  const fields = completeFields(cycle.instrument);
  await service.submit(usedToken, opened, {
    ratings: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.slice(2), Number(v)])),
    comments: {},
  });
  expiredToken = cycle.tokens.peers[1]!;
  await t.db
    .updateTable('invitation_links')
    .set({ expires_at: new Date(Date.now() - 1000) })
    .where('token_hash', '=', tokenMac(keys.invitation, expiredToken))
    .execute();
}, 120_000);
afterAll(async () => {
  recordTotals('token-timing', measurements);
  await t?.drop();
});

/** Status, body and the headers a client could tell apart (date and timing headers aside). */
function fingerprint(response: LightMyRequestResponse) {
  const { date: _date, 'x-ratelimit-remaining': _r, 'x-ratelimit-reset': _s, ...headers } = response.headers;
  return JSON.stringify({ status: response.statusCode, headers, body: response.body });
}

async function withApp<T>(build: () => Promise<FastifyInstance>, run: (app: FastifyInstance) => Promise<T>) {
  const app = await build();
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

/** A used and an expired sign-in link of the first person in the database. */
async function usedAndExpiredSignInLinks(): Promise<{ used: string; expired: string }> {
  const person = await t.db.selectFrom('people').select('id').executeTakeFirstOrThrow();
  const used = newToken();
  const expired = newToken();
  for (const [token, expiresAt] of [
    [used, new Date(Date.now() + 600_000)],
    [expired, new Date(Date.now() - 1000)],
  ] as const) {
    await sessionRepository.createSignInToken(t.db, {
      tokenHash: tokenMac(keys.signIn, token),
      personId: person.id,
      expiresAt,
    });
  }
  await sessionRepository.spendSignInToken(t.db, tokenMac(keys.signIn, used));
  return { used, expired };
}

describe('guessing survey links', () => {
  it('hits 429 after the per-IP limit, with random tokens', async () => {
    await withApp(
      () => surveyApp(t.db, { rateLimits: { readsPerIp: 25, writesPerIp: 10 } }),
      async (app) => {
        const ip = freshIp();
        const statuses: number[] = [];
        for (let i = 0; i < 30; i++) {
          statuses.push(
            (await app.inject({ method: 'GET', url: `/s/${newToken()}`, remoteAddress: ip })).statusCode,
          );
        }
        expect(statuses.slice(0, 25).every((s) => s === 404)).toBe(true);
        expect(statuses.slice(25).every((s) => s === 429)).toBe(true);
        const posts: number[] = [];
        for (let i = 0; i < 12; i++) {
          posts.push(
            (
              await app.inject({
                method: 'POST',
                url: `/s/${newToken()}/1`,
                remoteAddress: ip,
                payload: 'action=save',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
              })
            ).statusCode,
          );
        }
        expect(posts.slice(10).every((s) => s === 429)).toBe(true);
      },
    );
  });

  it('answers unknown, garbled, used and expired links with byte-identical responses', async () => {
    await withApp(
      () => surveyApp(t.db),
      async (app) => {
        const get = (url: string) => app.inject({ method: 'GET', url, remoteAddress: freshIp() });
        const unknown = fingerprint(await get(`/s/${newToken()}`));
        for (const url of [`/s/${usedToken}`, `/s/${expiredToken}`, '/s/garbled', `/s/${newToken()}`]) {
          expect(fingerprint(await get(url)), url).toBe(unknown);
        }
        const unknownStep = fingerprint(await get(`/s/${newToken()}/3`));
        expect(fingerprint(await get(`/s/${usedToken}/3`))).toBe(unknownStep);
        expect(fingerprint(await get(`/s/${expiredToken}/decline`))).toBe(
          fingerprint(await get(`/s/${newToken()}/decline`)),
        );
      },
    );
  });
});

describe('guessing staff sign-in links', () => {
  it('hits 429 after 30 guesses a minute from one address', async () => {
    await withApp(
      () => reportApp(t.db),
      async (app) => {
        const ip = freshIp();
        const statuses: number[] = [];
        for (let i = 0; i < 33; i++)
          statuses.push(
            (await app.inject({ method: 'GET', url: `/sign-in/${newToken()}`, remoteAddress: ip }))
              .statusCode,
          );
        expect(statuses.slice(0, 30).every((s) => s === 404)).toBe(true);
        expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
      },
    );
  });

  it('answers unknown, used and expired sign-in links with byte-identical responses', async () => {
    const { used, expired } = await usedAndExpiredSignInLinks();
    await withApp(
      () => reportApp(t.db),
      async (app) => {
        const get = (url: string) => app.inject({ method: 'GET', url, remoteAddress: freshIp() });
        const unknown = fingerprint(await get(`/sign-in/${newToken()}`));
        expect(unknown).toContain('"status":404');
        for (const url of [`/sign-in/${used}`, `/sign-in/${expired}`, '/sign-in/garbled']) {
          expect(fingerprint(await get(url)), url).toBe(unknown);
        }
      },
    );
  });
});

describe('guessing nomination links', () => {
  it('hits 429 after 60 guesses a minute, and unknown, expired and garbled links look the same', async () => {
    await openNominations(
      { db: t.db, keys, reportBaseUrl: 'http://report.test', surveyBaseUrl: SURVEY_URL },
      cycle.cycleId,
      { manager: 1, peer: 3, direct_report: 0, other: 0 },
    );
    const row = await t.db
      .selectFrom('email_outbox')
      .select('payload')
      .where('template', '=', 'nomination')
      .executeTakeFirstOrThrow();
    const link = (JSON.parse(openOutbox(keys, row.payload!)) as { data: { link: string } }).data.link;
    const token = link.split('/').pop()!;
    await withApp(
      () => reportApp(t.db),
      async (app) => {
        const get = (url: string, ip = freshIp()) => app.inject({ method: 'GET', url, remoteAddress: ip });
        expect((await get(`/nominate/${token}`)).statusCode).toBe(200);
        const unknown = fingerprint(await get(`/nominate/${newToken()}`));
        expect(unknown).toContain('"status":404');
        await t.db
          .updateTable('nomination_links')
          .set({ expires_at: new Date(Date.now() - 1000) })
          .where('token_hash', '=', tokenMac(keys.invitation, token))
          .execute();
        for (const url of [`/nominate/${token}`, '/nominate/garbled', `/nominate/${newToken()}`])
          expect(fingerprint(await get(url)), url).toBe(unknown);

        const ip = freshIp();
        const statuses: number[] = [];
        for (let i = 0; i < 63; i++) statuses.push((await get(`/nominate/${newToken()}`, ip)).statusCode);
        expect(statuses.slice(0, 60).every((s) => s === 404)).toBe(true);
        expect(statuses.slice(60).every((s) => s === 429)).toBe(true);
      },
    );
  });
});

/** A small seeded generator (mulberry32): the shuffles and resamples below are the same on every run. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Bounds on the ratio of times (unusable kind / never-existing link): the median ratio must lie within
 * 0.8–1.25, and its 95% interval within 2/3–3/2, which also fails a run too noisy to show anything.
 */
const RATIO_BOUNDS = [0.8, 1.25] as const;
const INTERVAL_BOUNDS = [2 / 3, 3 / 2] as const;
const ROUNDS = 400;
const BOOTSTRAP = 2_000;

/**
 * Times requests for each kind of link in rounds: every round sends one request of each kind, in a shuffled
 * order, so load on the machine falls on all kinds alike. Each unusable kind is compared with the unknown link
 * of the same round: the statistic is the median over rounds of log(time kind / time unknown), with a
 * percentile bootstrap 95% interval (2,000 resamples of the rounds). Nothing depends on absolute durations,
 * which a loaded machine changes. On a loaded 2-core machine one request's time varies by about its own size
 * (coefficient of variation near 1), so 400 rounds put the median ratio within about ±0.1 of its true value:
 * a true difference of a fifth fails, noise does not.
 */
async function timeKinds(
  name: string,
  app: FastifyInstance,
  requests: Record<'unknown' | string, () => InjectOptions>,
  expectStatus: number,
): Promise<void> {
  const kinds = Object.keys(requests);
  const random = seeded(20_261_122);
  const time = async (kind: string) => {
    const options = { remoteAddress: freshIp(), ...requests[kind]!() };
    const start = performance.now();
    const response = await app.inject(options);
    const elapsed = performance.now() - start;
    expect(response.statusCode, `${name} ${kind}`).toBe(expectStatus);
    return elapsed;
  };
  for (let i = 0; i < 20; i++) for (const kind of kinds) await time(kind); // warm-up
  const samples = Object.fromEntries(kinds.map((k) => [k, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...kinds];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const kind of order) samples[kind]!.push(await time(kind));
  }
  for (const kind of kinds.filter((k) => k !== 'unknown')) {
    const logRatios = samples[kind]!.map((t, i) => Math.log(t / samples['unknown']![i]!));
    const estimates: number[] = [];
    for (let b = 0; b < BOOTSTRAP; b++) {
      const resample = logRatios.map(() => logRatios[Math.floor(random() * logRatios.length)]!);
      estimates.push(median(resample));
    }
    estimates.sort((a, b) => a - b);
    const [low, high] = [
      estimates[Math.floor(BOOTSTRAP * 0.025)]!,
      estimates[Math.ceil(BOOTSTRAP * 0.975) - 1]!,
    ];
    const round3 = (x: number) => Number(x.toFixed(3));
    const summary = {
      rounds: ROUNDS,
      [`${kind}MedianMs`]: round3(median(samples[kind]!)),
      unknownMedianMs: round3(median(samples['unknown']!)),
      medianRatio: round3(Math.exp(median(logRatios))),
      ci95Low: round3(Math.exp(low)),
      ci95High: round3(Math.exp(high)),
    };
    measurements[`${name} ${kind} vs unknown`] =
      `median ratio ${summary.medianRatio} (95% CI ${summary.ci95Low}-${summary.ci95High}), ` +
      `medians ${median(samples[kind]!).toFixed(2)} / ${median(samples['unknown']!).toFixed(2)} ms, ${ROUNDS} rounds`;
    const what = `${name} ${kind} vs unknown: ${JSON.stringify(summary)}`;
    expect(summary.medianRatio, what).toBeGreaterThan(RATIO_BOUNDS[0]);
    expect(summary.medianRatio, what).toBeLessThan(RATIO_BOUNDS[1]);
    expect(summary.ci95Low, what).toBeGreaterThan(INTERVAL_BOUNDS[0]);
    expect(summary.ci95High, what).toBeLessThan(INTERVAL_BOUNDS[1]);
  }
}

describe('timing of unusable links', () => {
  const form = (payload: string, cookie: string): Pick<InjectOptions, 'payload' | 'headers'> => ({
    payload,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
  });

  it('survey links: used and expired take as long as never-existing ones, on GET and POST', async () => {
    await withApp(
      () => surveyApp(t.db, { rateLimits: NO_RATE_LIMITS }),
      async (app) => {
        const get = (token: () => string) => () => ({ method: 'GET' as const, url: `/s/${token()}` });
        await timeKinds(
          'GET /s/:token',
          app,
          { unknown: get(newToken), used: get(() => usedToken), expired: get(() => expiredToken) },
          404,
        );
        // A valid CSRF token from a live link's page, so that the POST reaches the link lookup.
        const page = await app.inject({ method: 'GET', url: `/s/${cycle.tokens.peers[3]}/1` });
        const jar = new Map<string, string>();
        keepCookies(jar, page);
        const body = form(
          `r.x=3&action=save&_csrf=${encodeURIComponent(csrfOf(page.body)!)}`,
          cookieHeader(jar),
        );
        const post = (token: () => string) => () => ({
          method: 'POST' as const,
          url: `/s/${token()}/1`,
          ...body,
        });
        await timeKinds(
          'POST /s/:token/1',
          app,
          { unknown: post(newToken), used: post(() => usedToken), expired: post(() => expiredToken) },
          404,
        );
      },
    );
  }, 240_000);

  it('sign-in and nomination links: used and expired take as long as never-existing ones', async () => {
    const { used, expired } = await usedAndExpiredSignInLinks();
    const nominationToken = newToken();
    await t.db
      .insertInto('nomination_links')
      .values({
        token_hash: tokenMac(keys.invitation, nominationToken),
        subject_id: (await t.db.selectFrom('subjects').select('id').executeTakeFirstOrThrow()).id,
        expires_at: new Date(Date.now() - 1000),
      })
      .execute();
    await withApp(
      () => reportApp(t.db),
      async (app) => {
        const get = (prefix: string, token: () => string) => () => ({
          method: 'GET' as const,
          url: `${prefix}${token()}`,
        });
        await timeKinds(
          'GET /sign-in/:token',
          app,
          {
            unknown: get('/sign-in/', newToken),
            used: get('/sign-in/', () => used),
            expired: get('/sign-in/', () => expired),
          },
          404,
        );
        const page = await app.inject({ method: 'GET', url: '/sign-in' });
        const jar = new Map<string, string>();
        keepCookies(jar, page);
        const body = form(`_csrf=${encodeURIComponent(csrfOf(page.body)!)}`, cookieHeader(jar));
        const post = (token: () => string) => () => ({
          method: 'POST' as const,
          url: `/sign-in/${token()}`,
          ...body,
        });
        await timeKinds(
          'POST /sign-in/:token',
          app,
          { unknown: post(newToken), used: post(() => used), expired: post(() => expired) },
          404,
        );
        await timeKinds(
          'GET /nominate/:token',
          app,
          { unknown: get('/nominate/', newToken), expired: get('/nominate/', () => nominationToken) },
          404,
        );
      },
    );
  }, 240_000);
});
