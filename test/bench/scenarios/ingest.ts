/**
 * Ingest: the highest submission rate the survey service sustains with p99 <= 100 ms and no errors, under
 * open-loop load (autocannon at a fixed overall rate, no pipelining), stepping the rate up until a step fails. Every request submits a fresh link's final step, so
 * each one stores a complete response. Baseline: a no-op Fastify POST with the same body and form parser.
 */
import autocannon from 'autocannon';
import { csrfFor, prepareLinks, submissionBody } from '../support/rater-links.ts';
import { round, startServer } from '../support/stats.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';

const P99_LIMIT_MS = 100;
const SURVEY_RATES = [10, 25, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 800, 1_000, 1_500, 2_000];
/** Links prepared for the survey steps (enough for every step above at 5 s); a step never runs short. */
const LINKS = 60_000;
const NOOP_RATES = [250, 500, 1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000, 16_000, 20_000];

interface Step {
  rate: number;
  achieved: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  passed: boolean;
}

async function step(
  url: string,
  rate: number,
  seconds: number,
  request: { headers: Record<string, string>; body: string; nextPath: () => string | null },
): Promise<Step> {
  const result = await autocannon({
    url,
    // autocannon paces each connection to its share of the rate per second, back to back from each
    // one-second tick; up to 25 requests per connection keeps the concurrency near what the rate needs.
    connections: Math.min(100, Math.max(2, Math.ceil(rate / 25))),
    pipelining: 1,
    overallRate: rate,
    // Its correction for coordinated omission uses an expected interval of ceil(1 / rate) = 1 ms, which
    // back-fills every response with one sample per millisecond of its latency and drowns the percentiles
    // in the slowest responses; the raw latencies are the honest figure here.
    ignoreCoordinatedOmission: true,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        setupRequest: (req) => {
          const path = request.nextPath();
          // Never null in practice: search() stops before the links run out (autocannon would abort).
          return (path ? { ...req, path } : null) as never;
        },
      },
    ],
  });
  const ok = result['3xx'];
  const failed =
    result.errors + result.timeouts + result['4xx'] + result['5xx'] + result['2xx'] + result.resets;
  const achieved = ok / seconds;
  return {
    rate,
    achieved: round(achieved),
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok,
    failed,
    passed: failed === 0 && result.latency.p99 <= P99_LIMIT_MS && achieved >= rate * 0.95,
  };
}

/** Steps up through `rates` until one fails; the figure is the last rate that passed. */
async function search(
  context: BenchContext,
  label: string,
  rates: readonly number[],
  run: (rate: number) => Promise<Step>,
  canRun: (rate: number) => boolean = () => true,
) {
  const steps: Step[] = [];
  for (const rate of rates) {
    if (!canRun(rate)) {
      context.log(`${label} ${rate}/s: not enough links left; the figure is a lower bound`);
      return { best: steps.at(-1)?.rate ?? 0, steps, lowerBound: true };
    }
    // A failed step is run once more before the search stops: on two shared cores one stray pause (GC, a
    // checkpoint, another process) can push a single step's p99 over the line. Both attempts are recorded.
    let s = await run(rate);
    for (let attempt = 1; ; attempt++) {
      steps.push(s);
      context.log(
        `${label} ${rate}/s: ${s.achieved}/s ok, p50 ${s.p50} ms, p99 ${s.p99} ms, ${s.failed} failed -> ${s.passed ? 'pass' : 'FAIL'}`,
      );
      if (s.passed || attempt === 2 || !canRun(rate)) break;
      s = await run(rate);
    }
    if (!s.passed) break;
  }
  const best = steps.filter((s) => s.passed).at(-1);
  return { best: best?.rate ?? 0, steps, lowerBound: false };
}

export async function ingest(context: BenchContext): Promise<ScenarioResult> {
  const seconds = context.args.stepSeconds;
  const { db, url } = await context.infra.database('bench_ingest');
  const raters = 10;
  const started = performance.now();
  const prepared = await prepareLinks(db, { leaders: LINKS / raters, raters });
  context.log(`prepared ${prepared.links.length} links in ${round((performance.now() - started) / 1000)} s`);

  const survey = await startServer('survey', {
    DATABASE_URL: url,
    REDIS_URL: context.infra.redis.url,
    QUEUE_PREFIX: 'bench-ingest',
  });
  const noop = await startServer('noop', {});
  try {
    const { csrf, cookie } = await csrfFor(survey.url, prepared.links[0]!.token);
    const body = submissionBody(prepared.finalFields, csrf);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', cookie, accept: 'text/html' };
    let next = 0;
    const nextPath = () => {
      const link = prepared.links[next++];
      return link ? `/s/${link.token}/${prepared.finalStep}` : null;
    };
    // Warm-up (not measured): JIT, template compilation, pools and connections.
    await step(survey.url, 10, 3, { headers, body, nextPath });
    const surveyResult = await search(
      context,
      'survey',
      SURVEY_RATES,
      (rate) => step(survey.url, rate, seconds, { headers, body, nextPath }),
      // autocannon stops the process when a request cannot be built, so a step never runs out of links.
      (rate) => prepared.links.length - next >= rate * seconds * 1.2,
    );
    const fixedPath = `/s/${prepared.links[0]!.token}/${prepared.finalStep}`;
    await step(noop.url, 200, 3, { headers, body, nextPath: () => fixedPath });
    const noopResult = await search(context, 'no-op', NOOP_RATES, (rate) =>
      step(noop.url, rate, seconds, { headers, body, nextPath: () => fixedPath }),
    );
    const stored = await db
      .selectFrom('responses')
      .select(db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const surveyStats = await survey.stats();
    const noopStats = await noop.stats();
    const ratio = noopResult.best > 0 ? round(surveyResult.best / noopResult.best, 3) : null;
    return {
      figures: [
        {
          scenario: 'ingest',
          figure: `max submit rate (p99 <= ${P99_LIMIT_MS} ms, 0 errors)`,
          value: surveyResult.best,
          unit: 'req/s',
          baseline: noopResult.best,
          baselineLabel: 'no-op POST',
          ratio,
          target: '>= 0.30',
          met: ratio === null ? null : ratio >= 0.3,
        },
      ],
      details: {
        stepSeconds: seconds,
        responsesStored: stored.n,
        surveyLowerBound: surveyResult.lowerBound,
        survey: surveyResult.steps,
        noop: noopResult.steps,
        peakRss: { survey: surveyStats.peakRssBytes, noop: noopStats.peakRssBytes },
      },
    };
  } finally {
    await survey.stop();
    await noop.stop();
  }
}
