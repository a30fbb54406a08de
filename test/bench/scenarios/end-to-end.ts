/**
 * End to end: under a steady 10 submissions/s (open loop, evenly spaced) to the survey service, how long
 * from a submission's reply to a stored profile that includes it, through the job outbox, Redis, the
 * worker process (`main.ts`, production settings, so aggregation coalesces for 2 s per leader) and Postgres.
 * Profiles are polled every 25 ms, which bounds the resolution.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { csrfFor, prepareLinks, submissionBody } from '../support/rater-links.ts';
import type { BenchContext, ScenarioResult } from '../support/report.ts';
import { peakRssOf, quantile, round, startServer } from '../support/stats.ts';

const RATE = 10;
const LEADERS = 20;

export async function endToEnd(context: BenchContext): Promise<ScenarioResult> {
  const seconds = context.args.stepSeconds * 4;
  const total = RATE * seconds;
  const { db, url } = await context.infra.database('bench_e2e');
  const prepared = await prepareLinks(db, { leaders: LEADERS, raters: Math.ceil(total / LEADERS) + 1 });
  // The invitation emails are not part of this path; the worker would spend the run delivering them.
  await db.updateTable('email_outbox').set({ status: 'sent', payload: null }).execute();
  const prefix = 'bench-e2e';
  const survey = await startServer('survey', {
    DATABASE_URL: url,
    REDIS_URL: context.infra.redis.url,
    QUEUE_PREFIX: prefix,
  });
  const worker = spawn(
    process.execPath,
    ['--import', 'tsx', path.resolve(import.meta.dirname, '../../../services/worker/src/main.ts')],
    {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'error',
        DATABASE_URL: url,
        REDIS_URL: context.infra.redis.url,
        QUEUE_PREFIX: prefix,
        APP_SECRET: 'bench-secret-'.padEnd(48, 'x'),
        OUTBOX_DIR: path.join(context.infra.root, 'outbox'),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  try {
    const { csrf, cookie } = await csrfFor(survey.url, prepared.links[0]!.token);
    const body = submissionBody(prepared.finalFields, csrf);
    // Links in round-robin over the leaders, so every leader keeps getting responses.
    const bySubject = new Map<string, string[]>();
    for (const link of prepared.links)
      bySubject.set(link.subjectId, [...(bySubject.get(link.subjectId) ?? []), link.token]);
    const order: { subjectId: string; token: string }[] = [];
    for (let i = 0; order.length < total; i++) {
      for (const [subjectId, tokens] of bySubject)
        if (tokens[i] && order.length < total) order.push({ subjectId, token: tokens[i]! });
    }

    const submitted = new Map<string, number>();
    const pending: { subjectId: string; expected: number; repliedAt: number }[] = [];
    const latencies: number[] = [];
    let errors = 0;
    let polling = true;
    const poller = (async () => {
      while (polling || pending.length > 0) {
        await new Promise((r) => setTimeout(r, 25));
        if (pending.length === 0) continue;
        const rows = await sql<{ subject_id: string; n: number }>`
          select distinct on (subject_id) subject_id,
                 (select sum(value::int) from jsonb_each_text(group_counts))::int as n
          from profile_snapshots order by subject_id, version desc`.execute(db);
        const now = performance.now();
        const counts = new Map(rows.rows.map((r) => [r.subject_id, r.n]));
        for (let i = pending.length - 1; i >= 0; i--) {
          const p = pending[i]!;
          if ((counts.get(p.subjectId) ?? 0) >= p.expected) {
            latencies.push(now - p.repliedAt);
            pending.splice(i, 1);
          }
        }
        if (!polling && now - (pending[0]?.repliedAt ?? now) > 60_000)
          throw new Error('profiles did not catch up');
      }
    })();

    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (const [i, item] of order.entries()) {
      const due = started + (i * 1000) / RATE;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      inFlight.push(
        (async () => {
          const response = await fetch(`${survey.url}/s/${item.token}/${prepared.finalStep}`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, accept: 'text/html' },
            body,
          });
          await response.arrayBuffer();
          if (response.status !== 303) {
            errors += 1;
            return;
          }
          const expected = (submitted.get(item.subjectId) ?? 0) + 1;
          submitted.set(item.subjectId, expected);
          pending.push({ subjectId: item.subjectId, expected, repliedAt: performance.now() });
        })(),
      );
    }
    await Promise.all(inFlight);
    polling = false;
    await poller;
    const p50 = round(quantile(latencies, 0.5));
    const p99 = round(quantile(latencies, 0.99));
    context.log(
      `${latencies.length} submissions at ${RATE}/s: reply to profile p50 ${p50} ms, p99 ${p99} ms, ${errors} errors`,
    );
    return {
      figures: [
        {
          scenario: 'end-to-end',
          figure: `reply to updated profile, p50 (${RATE}/s)`,
          value: p50,
          unit: 'ms',
        },
        {
          scenario: 'end-to-end',
          figure: `reply to updated profile, p99 (${RATE}/s)`,
          value: p99,
          unit: 'ms',
        },
      ],
      details: {
        rate: RATE,
        submissions: latencies.length,
        errors,
        coalesceWindowMs: 2_000,
        peakRss: { survey: (await survey.stats()).peakRssBytes, worker: peakRssOf(worker.pid!) },
      },
    };
  } finally {
    await survey.stop();
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  }
}
