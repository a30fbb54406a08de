import http from 'node:http';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queuePrefix, redisUrl, type TestDatabase } from '../support/fixtures.ts';
import { sleep, spawnSurvey, spawnWorker, terminate, until, type Child } from './harness.ts';
import { checkInvariants } from './invariants.ts';
import {
  acknowledgedCount,
  describeReport,
  driveLoad,
  emptyReport,
  openCycleWithRaters,
  RaterSession,
  request,
  type HttpResult,
} from './raters.ts';

/** A form post whose headers and first half are sent now, and the rest when `finish` is called. */
function heldPost(url: string, headers: Record<string, string>, form: Record<string, string>) {
  const body = new URLSearchParams(form).toString();
  const req = http.request(url, {
    method: 'POST',
    agent: false,
    headers: {
      ...headers,
      accept: 'text/html',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
    },
  });
  const answer = new Promise<HttpResult>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  const half = Math.floor(body.length / 2);
  req.write(body.slice(0, half));
  return { answer, finish: () => req.end(body.slice(half)) };
}

describe('fault: a survey instance is asked to stop (SIGTERM) under load', () => {
  let t: TestDatabase;
  const prefix = queuePrefix();
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => terminate(child, 'SIGKILL')));
    await t?.drop();
  });

  it(
    'finishes the requests it accepted (no connection resets), exits 0, and a new instance takes over',
    { timeout: 120_000 },
    async () => {
      const port = await getPort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const start = async () => {
        const child = spawnSurvey({ databaseUrl: t.url, redisUrl: redisUrl(), prefix, port });
        children.push(child);
        await until(
          () => `the survey instance to listen: ${child.output()}`,
          async () =>
            child.alive() &&
            (await request(baseUrl, 'GET', '/healthz').catch(() => undefined))?.status === 200,
          30_000,
        );
        return child;
      };
      const [first, cycle] = await Promise.all([
        start(),
        openCycleWithRaters(t.db, { leaders: 3, peers: 8, reports: 4 }),
      ]);
      const worker = spawnWorker({ databaseUrl: t.url, redisUrl: redisUrl(), prefix });
      children.push(worker);

      const report = emptyReport();
      const deadline = Date.now() + 90_000;
      // One rater's final post is in flight across the SIGTERM: accepted (headers read), body still coming.
      const [heldToken, ...tokens] = cycle.tokens;
      const held = new RaterSession(baseUrl, cycle.instrument, heldToken!, report, deadline);
      expect((await held.open()) && (await held.answerSteps()), describeReport(report)).toBe(true);
      const post = heldPost(
        `${baseUrl}/s/${heldToken}/${held.steps.length}`,
        held.headers(),
        held.finalForm(),
      );
      await sleep(300);

      const load = driveLoad({
        baseUrl,
        instrument: cycle.instrument,
        tokens,
        concurrency: 4,
        stop: () => false,
        deadline,
        report,
      });
      await until(
        () => `submissions before SIGTERM: ${describeReport(report)}`,
        async () => acknowledgedCount(report) >= 6,
      );
      first.process.kill('SIGTERM');
      await sleep(300);
      post.finish();
      const answer = await post.answer;
      expect(held.record(answer, true, 'held final post'), `held post answered ${answer.status}`).toBe(true);
      held.settle(answer);
      expect(report.acknowledged.get(heldToken!), 'the in-flight submission was acknowledged').toBe(1);
      expect(await first.exited, first.output()).toBe(0);

      // A new instance takes over (a rolling restart); raters who met the closed port retry there.
      const second = await start();
      await load;

      // Only connections never accepted may fail: a refused connect, or a keep-alive socket the closing
      // server dropped while idle just as a request was written to it (HTTP/1.1's own race; the client
      // knows the socket was reused and resends, as browsers do).
      const broken = [...report.networkErrors.keys()].filter(
        (kind) => kind !== 'ECONNREFUSED' && !kind.endsWith('(reused socket)'),
      );
      expect(broken, `connection failures of accepted requests: ${describeReport(report)}`).toEqual([]);
      // No submission was stored without its answer reaching the rater.
      expect(report.spentAfterRetry.size, describeReport(report)).toBe(0);
      expect(report.statuses.get(500) ?? 0, describeReport(report)).toBe(0);

      const summary = await checkInvariants({ db: t.db, redisUrl: redisUrl(), prefix, report });
      expect(summary.responses).toBe(cycle.tokens.length);
      expect(await terminate(second), second.output()).toBe(0);
      expect(await terminate(worker), worker.output()).toBe(0);
    },
  );
});
