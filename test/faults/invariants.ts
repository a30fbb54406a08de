import { sql } from 'kysely';
import { expect } from 'vitest';
import { createRedis, createProducer, MIN_COMPLETION_BATCH, planJob, type Producer } from '@panorama/jobs';
import { programmeRepository, responseRepository, resultRepository, type Db } from '@panorama/db';
import { buildProfile, InstrumentSchema, tokenMac, type Instrument } from '@panorama/domain';
// The worker's own rules, so the recompute below uses exactly what the worker uses.
import { anonymityRulesFor } from '../../services/worker/src/handlers/instruments.ts';
import { keys, sleep } from './harness.ts';
import { stepFields, type LoadReport } from './raters.ts';

export interface InvariantInput {
  db: Db;
  redisUrl: string;
  prefix: string;
  report: LoadReport;
  /** ANONYMITY_K the worker ran with (its default, 3, unless a test sets another). */
  anonymityK?: number;
  /** How long the worker may take to drain the queues and the job outbox. */
  drainMs?: number;
  /**
   * Smallest group of invitations one completion write may hold: the Redis set and the Postgres fallback
   * (used while Redis is down) are both written and flushed in batches of at least MIN_COMPLETION_BATCH.
   */
  minCompletionBatch?: number;
}

const BUSY_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'paused', 'waiting-children'] as const;

/**
 * Waits until the worker has nothing left to do: no job in any queue of the catalog's aggregate and email
 * queues, an empty job outbox, and the completion batch flushed, over several polls in a row.
 */
export async function waitForDrain(db: Db, producer: Producer, ms = 60_000) {
  // The completion batch runs on a 30 s schedule; ask for one now (it still waits for a full batch).
  await producer.enqueue('flush-completions', {});
  const deadline = Date.now() + ms;
  let quiet = 0;
  let last = '';
  while (quiet < 4) {
    if (Date.now() > deadline) throw new Error(`the worker did not drain in ${ms} ms (${last})`);
    const counts = await Promise.all(
      (['aggregate', 'email'] as const).map((q) => producer.queue(q).getJobCounts(...BUSY_STATES)),
    );
    const outbox = await db
      .selectFrom('job_outbox')
      .select(db.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const flush = await producer.queue('maintenance').getJob(planJob('flush-completions', {}).jobId);
    const busy =
      counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0) + outbox.n + (flush ? 1 : 0);
    last = `queues ${JSON.stringify(counts)}, job outbox ${outbox.n}, flush ${flush ? 'pending' : 'done'}`;
    quiet = busy === 0 ? quiet + 1 : 0;
    await sleep(300);
  }
}

/** Every string held under the queue prefix in Redis: job data, options, return values, events. */
async function redisContents(redisUrl: string, prefix: string): Promise<string> {
  const redis = createRedis(redisUrl, 'worker');
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = nextCursor;
      for (const key of found) {
        parts.push(key);
        const type = await redis.type(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(...Object.values(await redis.hgetall(key)));
        else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(...(await redis.smembers(key)));
        else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
        else if (type === 'stream')
          for (const [, fields] of await redis.xrange(key, '-', '+')) parts.push(...fields);
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

/**
 * The promises every fault test ends on. (1) Every acknowledged submission is stored exactly once, whole.
 * (2) Every subject's latest profile equals a fresh recompute from its responses. (3) No response can be
 * linked to an invitation: no shared transaction id, no id in a job payload, completions marked in batches.
 */
export interface InvariantSummary {
  responses: number;
  subjects: number;
  completed: number;
  waitingCompletions: number;
  completionBatches: number;
}

export async function checkInvariants(input: InvariantInput): Promise<InvariantSummary> {
  const { db, report } = input;
  const queues = (() => {
    const redis = createRedis(input.redisUrl, 'worker');
    return { redis, producer: createProducer({ connection: redis, prefix: input.prefix }) };
  })();
  try {
    await waitForDrain(db, queues.producer, input.drainMs);

    // (1) Stored exactly once. No token was acknowledged twice; each acknowledged (or spent-after-retry)
    // token has its one spent record; each spent record has its one response, and nothing more is stored.
    expect(report.unexpected, 'answers the raters did not expect').toEqual([]);
    expect(report.unfinished.size, 'raters who could not finish before the deadline').toBe(0);
    for (const [token, count] of report.acknowledged) {
      expect(count, `acknowledgements of token ${token.slice(0, 6)}`).toBe(1);
    }
    const submitted = [...report.acknowledged.keys(), ...report.spentAfterRetry];
    const spentRows = await db.selectFrom('spent_tokens').select(['token_mac']).execute();
    const spent = new Map<string, number>();
    for (const row of spentRows)
      spent.set(row.token_mac.toString('hex'), (spent.get(row.token_mac.toString('hex')) ?? 0) + 1);
    for (const token of submitted) {
      expect(
        spent.get(tokenMac(keys.spent, token).toString('hex')),
        'spent records of a submitted token',
      ).toBe(1);
    }
    expect(spentRows.length, 'spent records vs submitted tokens').toBe(submitted.length);
    const responses = await db.selectFrom('responses').select(['id', 'subject_id']).execute();
    expect(responses.length, 'stored responses vs submitted tokens').toBe(submitted.length);

    // Whole rows: every response has every item of its instrument (a rating or "can't say").
    const ratingCounts = await sql<{ id: string; n: number; items: number }>`
      select r.id, (select count(*)::int from response_ratings rr where rr.response_id = r.id) as n,
             (select count(*)::int from jsonb_array_elements(i.definition->'competencies') c,
                     jsonb_array_elements(c->'items')) as items
      from responses r join cycles cy on cy.id = r.cycle_id
      join instruments i on i.id = cy.instrument_id and i.version = cy.instrument_version`.execute(db);
    for (const row of ratingCounts.rows) expect(row.n, `ratings of response ${row.id}`).toBe(row.items);

    // Every used invitation is completed or waits for the batch: the completion is not lost either.
    const invitationOf = async (token: string) =>
      (
        await db
          .selectFrom('invitation_links')
          .select('invitation_id')
          .where('token_hash', '=', tokenMac(keys.invitation, token))
          .executeTakeFirstOrThrow()
      ).invitation_id;
    const waitingInRedis = new Set(await queues.redis.smembers(`${input.prefix}:pending-completions`));
    const waitingInPostgres = new Set(
      (await db.selectFrom('pending_completions').select('invitation_id').execute()).map(
        (r) => r.invitation_id,
      ),
    );
    const completed = new Set(
      (await db.selectFrom('invitations').select('id').where('status', '=', 'completed').execute()).map(
        (r) => r.id,
      ),
    );
    for (const token of submitted) {
      const id = await invitationOf(token);
      expect(
        completed.has(id) || waitingInRedis.has(id) || waitingInPostgres.has(id),
        `invitation of a submitted link is completed or waiting`,
      ).toBe(true);
    }
    // A completion whose Redis reply was lost during an outage may also sit in the Postgres fallback, and
    // either may already be completed: count invitations, not entries.
    const accounted = new Set([...completed, ...waitingInRedis, ...waitingInPostgres]);
    expect(accounted.size, 'used invitations vs submissions').toBe(submitted.length);

    // (2) Every subject's latest profile equals a fresh recompute from its stored responses.
    const subjects = [...new Set(responses.map((r) => r.subject_id))];
    const instruments = new Map<string, Instrument>();
    for (const subjectId of subjects) {
      const context = await resultRepository.subjectContext(db, subjectId);
      expect(context, `subject ${subjectId}`).toBeDefined();
      const key = `${context!.instrument_id}@${context!.instrument_version}`;
      if (!instruments.has(key)) {
        const definition = await programmeRepository.instrumentDefinition(
          db,
          context!.instrument_id,
          context!.instrument_version,
        );
        instruments.set(key, InstrumentSchema.parse(definition) as Instrument);
      }
      const instrument = instruments.get(key)!;
      const expected = buildProfile({
        instrument,
        responses: await responseRepository.forSubject(db, subjectId),
        rules: anonymityRulesFor(instrument, input.anonymityK ?? 3),
        seed: subjectId,
      });
      const stored = await resultRepository.latestProfile(db, subjectId);
      expect(stored, `a profile for subject ${subjectId}`).toBeDefined();
      expect(stored!.data, `latest profile of subject ${subjectId}`).toEqual(
        JSON.parse(JSON.stringify(expected)),
      );
    }

    // (3a) No response shares a transaction id with an invitation or a waiting completion.
    const shared = await sql<{ n: number }>`
      select count(*)::int as n from responses r
      where r.xmin::text in (select xmin::text from invitations union all select xmin::text from pending_completions)`.execute(
      db,
    );
    expect(shared.rows[0]!.n, 'responses sharing an xmin with an invitation or pending completion').toBe(0);

    // (3b) No job payload, in Redis or in the job outbox, carries a response id or a rater id.
    const secrets = [
      ...responses.map((r) => r.id),
      ...(await db.selectFrom('invitations').select('rater_id').distinct().execute()).map((r) => r.rater_id),
    ];
    const haystacks = [
      await redisContents(input.redisUrl, input.prefix),
      (await db.selectFrom('job_outbox').select('data').execute())
        .map((r) => JSON.stringify(r.data))
        .join('\n'),
    ];
    for (const id of secrets) {
      for (const haystack of haystacks)
        expect(haystack.includes(id), `an id found in a job payload`).toBe(false);
    }

    // (3c) Invitations are completed in batches: each batch's rows share one xmin, and no batch is smaller
    // than the batch rule allows, so no batch singles out the rater whose response came just before it.
    const batches = await sql<{ xid: string; n: number }>`
      select xmin::text as xid, count(*)::int as n from invitations where status = 'completed' group by 1`.execute(
      db,
    );
    const minBatch = input.minCompletionBatch ?? MIN_COMPLETION_BATCH;
    for (const batch of batches.rows)
      expect(batch.n, `invitations completed by xid ${batch.xid}`).toBeGreaterThanOrEqual(minBatch);
    // The same for the Postgres fallback: completions recorded while Redis was down are written together.
    const fallbackBatches = await sql<{ xid: string; n: number }>`
      select xmin::text as xid, count(*)::int as n from pending_completions group by 1`.execute(db);
    for (const batch of fallbackBatches.rows)
      expect(batch.n, `pending completions written by xid ${batch.xid}`).toBeGreaterThanOrEqual(minBatch);

    // (3d) The write that holds a response's own completion (a fallback batch, or the batch that marked the
    // invitation) never has the transaction id right after the response's. Each rater's answers are seeded by
    // their token, so the test, and only the test, knows which response is whose.
    const ratings = await db
      .selectFrom('response_ratings')
      .select(['response_id', 'item_id', 'value'])
      .execute();
    const answersOf = new Map<string, string[]>();
    for (const r of ratings)
      answersOf.set(r.response_id, [...(answersOf.get(r.response_id) ?? []), `${r.item_id}=${r.value}`]);
    const responseOf = new Map([...answersOf].map(([id, list]) => [list.sort().join('&'), id]));
    const responseXmin = new Map(
      (
        await sql<{ id: string; xmin: string }>`select id, xmin::text as xmin from responses`.execute(db)
      ).rows.map((r) => [r.id, Number(r.xmin)]),
    );
    const writeXmin = new Map(
      (
        await sql<{ id: string; xmin: string }>`
          select invitation_id as id, xmin::text as xmin from pending_completions
          union all select id, xmin::text from invitations where status = 'completed'`.execute(db)
      ).rows.map((r) => [r.id, Number(r.xmin)]),
    );
    const instrument = [...instruments.values()][0]!;
    for (const token of submitted) {
      const fields = Object.assign({}, ...stepFields(instrument, token)) as Record<string, string>;
      const fingerprint = Object.entries(fields)
        .filter(([name]) => name.startsWith('r.'))
        .map(([name, value]) => `${name.slice(2)}=${value === 'na' ? null : value}`)
        .sort()
        .join('&');
      const response = responseOf.get(fingerprint);
      expect(response, `the response of token ${token.slice(0, 6)}`).toBeDefined();
      const written = writeXmin.get(await invitationOf(token));
      if (written === undefined) continue; // still waiting in the Redis set: no transaction id at all
      expect(
        Math.abs(written - responseXmin.get(response!)!),
        `xid distance between a response and the write holding its completion`,
      ).toBeGreaterThan(1);
    }
    return {
      responses: responses.length,
      subjects: subjects.length,
      completed: completed.size,
      waitingCompletions: accounted.size - completed.size,
      completionBatches: batches.rows.length,
    };
  } finally {
    await queues.producer.close().catch(() => {});
    queues.redis.disconnect();
  }
}
