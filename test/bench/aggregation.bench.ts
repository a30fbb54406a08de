/**
 * Aggregation benchmark: a cycle of N leaders (12 raters each, 44 items: about 528 ratings per leader),
 * generated in SQL, then
 *   1. the baseline: one raw `GROUP BY subject, competency, relationship` over every rating of the cycle;
 *   2. the real thing: an aggregate-subject job per leader through BullMQ and the worker's handlers, which
 *      build and store each leader's full profile (anonymity rules, items, comments, agreement, gaps).
 * Starts its own ephemeral Postgres and Redis. Not part of `pnpm test`.
 *
 *   pnpm exec tsx test/bench/aggregation.bench.ts [--leaders 10000] [--concurrency 4]
 */
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDb, migrateToLatest, organisationRepository, programmeRepository } from '@panorama/db';
import { startEmbeddedPostgres } from '@panorama/db/embedded';
import { instrumentChecksum, loadInstrument } from '@panorama/domain';
import { loadConfig } from '@panorama/config';
import { planJob, startRedisServer } from '@panorama/jobs';
import { createWorkerLogger, startWorker, workerProcessEnv } from '@panorama/worker';

const { values } = parseArgs({
  options: {
    leaders: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '4' },
  },
});
const LEADERS = Number(values.leaders);
const CONCURRENCY = Number(values.concurrency);
// Per leader: self, manager, 4 peers, 4 direct reports, 2 others.
const RATERS: [string, number][] = [
  ['self', 1],
  ['manager', 1],
  ['peer', 4],
  ['direct_report', 4],
  ['other', 2],
];

const log = (line: string) => console.error(`[bench] ${line}`);
const seconds = (ms: number) => (ms / 1000).toFixed(2);

const root = mkdtempSync(path.join(os.tmpdir(), 'panorama-bench-'));
chmodSync(root, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), ephemeral: true });
const redis = await startRedisServer({ dataDir: path.join(root, 'redis'), appendOnly: false });
await pg.createDatabase('bench');
const url = pg.urlFor('bench');
const db = createDb({ connectionString: url, max: 4 });

try {
  await migrateToLatest(db);
  const instrument = await loadInstrument(
    path.resolve(import.meta.dirname, '../../surveys/leadership-360/instrument.yaml'),
  );
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  const organisation = await organisationRepository.create(db, { name: 'Bench', slug: 'bench' });
  const programme = await programmeRepository.create(db, { organisationId: organisation.id, name: 'Bench' });
  const cycle = await programmeRepository.createCycle(db, {
    programmeId: programme.id,
    kind: 'baseline',
    name: 'Baseline',
    instrumentId: instrument.id,
    instrumentVersion: instrument.version,
    closesAt: new Date(Date.now() + 86_400_000),
  });
  const items = instrument.competencies.flatMap((c) =>
    c.items.map((i) => ({ item: i.id, competency: c.id })),
  );
  const relationships = RATERS.flatMap(([relationship, count]) => Array<string>(count).fill(relationship));

  // Generated in Postgres: deterministic pseudo-random ratings from a hash, 5% "can't say".
  let started = performance.now();
  await sql`
    insert into people (organisation_id, email, name)
    select ${organisation.id}, 'leader' || g || '@bench.test', 'Leader ' || g from generate_series(1, ${LEADERS}) g`.execute(
    db,
  );
  await sql`
    insert into subjects (cycle_id, leader_id)
    select ${cycle.id}, id from people where organisation_id = ${organisation.id}`.execute(db);
  await sql`
    insert into responses (id, cycle_id, subject_id, relationship)
    select md5(s.id::text || ':' || r.n)::uuid, ${cycle.id}, s.id, r.relationship
    from subjects s, unnest(${relationships}::text[]) with ordinality as r(relationship, n)
    where s.cycle_id = ${cycle.id}`.execute(db);
  await sql`
    insert into response_ratings (response_id, item_id, competency_id, value)
    select r.id, i.item, i.competency,
           case when abs(hashtext(r.id::text || i.item)) % 20 = 0 then null
                else 1 + (abs(hashtext(i.item || r.id::text)) % 3) + (abs(hashtext(r.subject_id::text || i.competency)) % 3)
           end
    from responses r, unnest(${items.map((i) => i.item)}::text[], ${items.map((i) => i.competency)}::text[]) as i(item, competency)
    where r.cycle_id = ${cycle.id}`.execute(db);
  await sql`analyze`.execute(db);
  const counts = (
    await sql<{ responses: number; ratings: number }>`
      select (select count(*) from responses)::int as responses, (select count(*) from response_ratings)::int as ratings`.execute(
      db,
    )
  ).rows[0]!;
  log(
    `generated ${LEADERS} leaders, ${counts.responses} responses, ${counts.ratings} ratings in ${seconds(performance.now() - started)} s`,
  );

  // 1. Baseline: the raw GROUP BY.
  started = performance.now();
  const grouped = await sql<{ n: number }>`
    select count(*)::int as n from (
      select r.subject_id, rr.competency_id, r.relationship, count(rr.value) as n, avg(rr.value) as mean,
             stddev_samp(rr.value) as sd
      from response_ratings rr join responses r on r.id = rr.response_id
      where r.cycle_id = ${cycle.id}
      group by r.subject_id, rr.competency_id, r.relationship) g`.execute(db);
  const baselineMs = performance.now() - started;
  log(`baseline GROUP BY: ${grouped.rows[0]!.n} groups in ${seconds(baselineMs)} s`);

  // 2. Every subject through the real handlers.
  const config = loadConfig(
    workerProcessEnv,
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: String(CONCURRENCY + 2),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: 'bench',
      APP_SECRET: 'bench-secret-'.padEnd(48, 'x'),
      WORKER_CONCURRENCY: String(CONCURRENCY),
    },
    'bench',
  );
  const worker = await startWorker(config, { logger: createWorkerLogger('warn'), schedule: false });
  const subjects = await db.selectFrom('subjects').select('id').where('cycle_id', '=', cycle.id).execute();
  started = performance.now();
  const queue = worker.producer.queue('aggregate');
  for (let i = 0; i < subjects.length; i += 1_000) {
    await queue.addBulk(
      subjects.slice(i, i + 1_000).map((s) => {
        // No coalescing delay: the benchmark measures work, not the 2 s burst window.
        const planned = planJob('aggregate-subject', { subjectId: s.id });
        return { name: planned.name, data: planned.data, opts: { ...planned.options, delay: 0 } };
      }),
    );
  }
  let done = 0;
  while (done < subjects.length) {
    await new Promise((r) => setTimeout(r, 500));
    done = (
      await sql<{ n: number }>`select count(distinct subject_id)::int as n from profile_snapshots`.execute(db)
    ).rows[0]!.n;
  }
  const aggregationMs = performance.now() - started;
  await worker.close();
  const size = (
    await sql<{
      bytes: number;
    }>`select avg(pg_column_size(data))::int as bytes from profile_snapshots`.execute(db)
  ).rows[0]!.bytes;

  const result = {
    leaders: LEADERS,
    responses: counts.responses,
    ratings: counts.ratings,
    concurrency: CONCURRENCY,
    cores: os.availableParallelism(),
    baselineGroupByMs: Math.round(baselineMs),
    fullAggregationMs: Math.round(aggregationMs),
    baselineRatingsPerSecond: Math.round(counts.ratings / (baselineMs / 1000)),
    aggregationRatingsPerSecond: Math.round(counts.ratings / (aggregationMs / 1000)),
    leadersPerSecond: Number((LEADERS / (aggregationMs / 1000)).toFixed(1)),
    ratio: Number((aggregationMs / baselineMs).toFixed(1)),
    storedProfileBytesAvg: size,
  };
  console.log('');
  console.log('| step                       | time (s) | ratings/s  |');
  console.log('|----------------------------|---------:|-----------:|');
  console.log(
    `| raw GROUP BY (baseline)    | ${seconds(baselineMs).padStart(8)} | ${String(result.baselineRatingsPerSecond).padStart(10)} |`,
  );
  console.log(
    `| full aggregation (handlers)| ${seconds(aggregationMs).padStart(8)} | ${String(result.aggregationRatingsPerSecond).padStart(10)} |`,
  );
  console.log(`\nratio full / baseline: ${result.ratio}x; ${result.leadersPerSecond} leaders/s`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await db.destroy();
  await redis.stop();
  await pg.stop();
  rmSync(root, { recursive: true, force: true });
}
