import { performance } from 'node:perf_hooks';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRepository } from '@panorama/db';
import { newToken, tokenMac } from '@panorama/domain';
import { createSurveyService } from '@panorama/survey';
import { openNominations } from '../../services/report/src/admin/nominations.ts';
import { openSurveyCycle } from '../e2e/support/survey-cycle.ts';
import { createTestDatabase, type TestDatabase } from '../support/fixtures.ts';
import { openOutbox } from '@panorama/domain';
import { completeFields, keys, SURVEY_URL } from '../support/scenario.ts';
import { freshIp, recordTotals, reportApp, surveyApp } from './support.ts';

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

describe('timing of unusable links', () => {
  /**
   * Not a pass/fail timing test: the times are recorded (docs/security-testing.md). The only assertion is a
   * generous bound on the ratio of medians over many interleaved samples, which noise on a shared CI machine
   * cannot break (interleaving puts any slowdown on both sides equally, and medians ignore GC pauses).
   */
  it('measures used versus never-existing survey links, interleaved, and bounds the ratio loosely', async () => {
    await withApp(
      () => surveyApp(t.db, { rateLimits: { readsPerIp: 1e9, readsPerToken: 1e9 } }),
      async (app) => {
        const samples = { used: [] as number[], unknown: [] as number[] };
        const time = async (url: string) => {
          const start = performance.now();
          const response = await app.inject({ method: 'GET', url, remoteAddress: freshIp() });
          const elapsed = performance.now() - start;
          expect(response.statusCode).toBe(404);
          return elapsed;
        };
        for (let i = 0; i < 20; i++) await time(`/s/${newToken()}`); // warm-up
        for (let i = 0; i < 300; i++) {
          if (i % 2 === 0) {
            samples.used.push(await time(`/s/${usedToken}`));
            samples.unknown.push(await time(`/s/${newToken()}`));
          } else {
            samples.unknown.push(await time(`/s/${newToken()}`));
            samples.used.push(await time(`/s/${usedToken}`));
          }
        }
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const ratio = median(samples.used) / median(samples.unknown);
        Object.assign(measurements, {
          samplesEach: samples.used.length,
          usedMedianMs: Number(median(samples.used).toFixed(3)),
          unknownMedianMs: Number(median(samples.unknown).toFixed(3)),
          usedMeanMs: Number(mean(samples.used).toFixed(3)),
          unknownMeanMs: Number(mean(samples.unknown).toFixed(3)),
          medianRatio: Number(ratio.toFixed(3)),
        });
        expect(ratio).toBeLessThan(4);
        expect(ratio).toBeGreaterThan(0.25);
      },
    );
  });
});
