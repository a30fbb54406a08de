/**
 * Report render: a leader's report (the demo organisation, profiles and changes computed by the worker's
 * handlers) served by the report service in its own process, under closed-loop load (autocannon, 10
 * connections); against two pages through the same stack: the sign-in page, signed out (no data: same
 * Fastify app, plugins, hooks and layout), and the coach's home page `/coach` for the same signed-in coach
 * (the same session check and layout with navigation, plus one small query for the coach's leaders; there is
 * no signed-in page without any data). Server time is measured inside the service (Fastify's elapsed time),
 * under 10 connections and again one request at a time. The leader report is measured a second time on a
 * second server with the rendered-report cache off (REPORT_CACHE_MB=0), every request rendering the page from
 * the stored profile, and reported against the same sign-in baseline.
 */
import autocannon from 'autocannon';
import { seedReports, sessionFor } from '../../support/report-pages-seed.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';
import { quantile, round, startServer } from '../support/stats.ts';

async function load(url: string, path: string, cookie: string, seconds: number, connections = 10) {
  const result = await autocannon({
    url: `${url}${path}`,
    connections,
    pipelining: 1,
    duration: seconds,
    headers: { ...(cookie ? { cookie } : {}), accept: 'text/html' },
  });
  return { rps: round(result.requests.average), non2xx: result.non2xx + result.errors + result.timeouts };
}

export async function reportRender(context: BenchContext): Promise<ScenarioResult> {
  const seconds = context.args.stepSeconds * 2;
  const { db, url } = await context.infra.database('bench_report');
  const seeded = await seedReports(db);
  const leader = await db
    .selectFrom('subjects')
    .innerJoin('people', 'people.id', 'subjects.leader_id')
    .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
    .select('subjects.id')
    .where('people.email', '=', seeded.accounts.leader)
    .where('cycles.kind', '=', 'follow_up')
    .executeTakeFirstOrThrow();
  // The coach sees the report whether or not it was released.
  const cookie = `panorama_session=${await sessionFor(db, seeded.accounts.coach)}`;
  const env = { DATABASE_URL: url, REDIS_URL: context.infra.redis.url, QUEUE_PREFIX: 'bench-report' };
  const server = await startServer('report', env);
  try {
    const reportPath = `/reports/${leader.id}`;
    const check = await fetch(`${server.url}${reportPath}`, { headers: { cookie, accept: 'text/html' } });
    if (check.status !== 200) throw new Error(`the leader report answered ${check.status}`);
    const bytes = (await check.text()).length;
    // Warm-up (not measured).
    await load(server.url, reportPath, cookie, 2);
    await load(server.url, '/sign-in', '', 2);
    await load(server.url, '/coach', cookie, 2);
    server.reset();
    const report = await load(server.url, reportPath, cookie, seconds);
    const page = await load(server.url, '/sign-in', '', seconds);
    const home = await load(server.url, '/coach', cookie, seconds);
    const stats = await server.stats();
    const timesOf = (route: string) => stats.times[`GET ${route} 200`] ?? [];
    const reportTimes = timesOf('/reports/:subjectId');
    const pageTimes = timesOf('/sign-in');
    const homeTimes = timesOf('/coach');
    const r99 = round(quantile(reportTimes, 0.99), 2);
    const s99 = round(quantile(pageTimes, 0.99), 2);
    const h99 = round(quantile(homeTimes, 0.99), 2);
    // The same two pages one request at a time: with 10 connections, a handler that awaits the database
    // has other requests' work inside its elapsed time, while the sign-in page (no await) has none.
    server.reset();
    const single = {
      report: await load(server.url, reportPath, cookie, seconds, 1),
      page: await load(server.url, '/sign-in', '', seconds, 1),
    };
    const singleStats = await server.stats();
    const singleReport = singleStats.times['GET /reports/:subjectId 200'] ?? [];
    const singlePage = singleStats.times['GET /sign-in 200'] ?? [];
    const one99 = round(quantile(singleReport, 0.99), 2);
    const onePage99 = round(quantile(singlePage, 0.99), 2);
    const ratio = round(r99 / s99, 2);
    const homeRatio = round(r99 / h99, 2);
    // The cache off: a server of its own, after the cached one's figures are taken, one at a time.
    await server.stop();
    const uncached = await measureUncached(env, reportPath, cookie, seconds);
    const u99 = round(quantile(uncached.times, 0.99), 2);
    return {
      figures: [
        {
          scenario: 'report-render',
          figure: 'leader report server time p50',
          value: round(quantile(reportTimes, 0.5), 2),
          unit: 'ms',
          baseline: round(quantile(pageTimes, 0.5), 2),
          baselineLabel: 'sign-in page',
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p99',
          value: r99,
          unit: 'ms',
          baseline: s99,
          baselineLabel: 'sign-in page',
          ratio,
          target: '<= 3',
          met: ratio <= 3,
        },
        {
          scenario: 'report-render',
          figure: 'leader report throughput (10 connections)',
          value: report.rps,
          unit: 'req/s',
          baseline: page.rps,
          baselineLabel: 'sign-in page',
          ratio: round(report.rps / page.rps, 3),
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p50, signed-in baseline',
          value: round(quantile(reportTimes, 0.5), 2),
          unit: 'ms',
          baseline: round(quantile(homeTimes, 0.5), 2),
          baselineLabel: "coach's home page",
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p99, signed-in baseline',
          value: r99,
          unit: 'ms',
          baseline: h99,
          baselineLabel: "coach's home page",
          // The target is against the static sign-in page (above); this ratio is for reading only.
          ratio: homeRatio,
        },
        {
          scenario: 'report-render',
          figure: 'leader report throughput (10 connections), signed-in baseline',
          value: report.rps,
          unit: 'req/s',
          baseline: home.rps,
          baselineLabel: "coach's home page",
          ratio: round(report.rps / home.rps, 3),
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p50, 1 connection',
          value: round(quantile(singleReport, 0.5), 2),
          unit: 'ms',
          baseline: round(quantile(singlePage, 0.5), 2),
          baselineLabel: 'sign-in page, 1 connection',
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p99, 1 connection',
          value: one99,
          unit: 'ms',
          baseline: onePage99,
          baselineLabel: 'sign-in page, 1 connection',
          ratio: round(one99 / onePage99, 2),
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p50, uncached (REPORT_CACHE_MB=0)',
          value: round(quantile(uncached.times, 0.5), 2),
          unit: 'ms',
          baseline: round(quantile(pageTimes, 0.5), 2),
          baselineLabel: 'sign-in page',
        },
        {
          scenario: 'report-render',
          figure: 'leader report server time p99, uncached (REPORT_CACHE_MB=0)',
          value: u99,
          unit: 'ms',
          baseline: s99,
          baselineLabel: 'sign-in page',
          // Against the same target as the cached figure, for reading: how much the cache buys.
          ratio: round(u99 / s99, 2),
          target: '<= 3',
          met: u99 / s99 <= 3,
        },
        {
          scenario: 'report-render',
          figure: 'leader report throughput (10 connections), uncached (REPORT_CACHE_MB=0)',
          value: uncached.load.rps,
          unit: 'req/s',
          baseline: page.rps,
          baselineLabel: 'sign-in page',
          ratio: round(uncached.load.rps / page.rps, 3),
        },
      ],
      details: {
        seconds,
        singleConnection: { report: single.report, page: single.page },
        errors: {
          report: report.non2xx,
          page: page.non2xx,
          home: home.non2xx,
          reportUncached: uncached.load.non2xx,
        },
        samples: {
          report: reportTimes.length,
          page: pageTimes.length,
          home: homeTimes.length,
          reportUncached: uncached.times.length,
        },
        bytes,
        peakRss: { report: stats.peakRssBytes, reportUncached: uncached.peakRssBytes },
      },
    };
  } finally {
    await server.stop();
  }
}

/** The leader report under 10 connections on a server with the rendered-report cache off. */
async function measureUncached(
  env: Record<string, string>,
  reportPath: string,
  cookie: string,
  seconds: number,
) {
  const server = await startServer('report', { ...env, REPORT_CACHE_MB: '0' });
  try {
    const check = await fetch(`${server.url}${reportPath}`, { headers: { cookie, accept: 'text/html' } });
    if (check.status !== 200) throw new Error(`the uncached leader report answered ${check.status}`);
    await load(server.url, reportPath, cookie, 2);
    server.reset();
    const result = await load(server.url, reportPath, cookie, seconds);
    const stats = await server.stats();
    return {
      load: result,
      times: stats.times['GET /reports/:subjectId 200'] ?? [],
      peakRssBytes: stats.peakRssBytes,
    };
  } finally {
    await server.stop();
  }
}
