import { outboxRepository, resultRepository, type Db } from '@panorama/db';
import { planJob, type JobContext, type Producer } from '@panorama/jobs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { anonymityRulesFor, type InstrumentCache } from './instruments.ts';
import { pushJobOutboxSoon } from './outbox.ts';
import { computeProfile, profileSourceDigest } from './profile-versions.ts';

/** Profiles built between two turns of the event loop (each takes about a millisecond). */
const YIELD_EVERY = 20;

export interface AggregateCycleDeps {
  db: Db;
  instruments: InstrumentCache;
  /** ANONYMITY_K: used when the instrument sets no k of its own. */
  anonymityK: number;
  producer: Pick<Producer, 'add'>;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Subjects per chunk: one read, one insert and one transaction each (default 100). */
  chunkSize?: number;
  /**
   * Chunks in flight at once (default 3), so that Postgres reads and stores (most of the work: parsing the
   * profiles into jsonb and compressing them) while this process scores, on every core.
   */
  parallel?: number;
}

export interface AggregateCycleOutcome {
  subjects: number;
  /** Subjects that got a new profile version. */
  created: number;
}

/**
 * Every subject's profile of a cycle, as `aggregate-subject` would store it one by one, in chunks: each
 * chunk's sources are read in one query under the chunk's profile locks, the profiles are built with the
 * same `buildProfile`, and the new versions are appended with one multi-row insert in the same transaction.
 * Subjects whose sources are unchanged are skipped, like a repeated single-subject job. The changes and
 * the cohort roll-up that the new versions make necessary are queued once, at the end, instead of once per
 * subject.
 */
export function createAggregateCycle(deps: AggregateCycleDeps) {
  const { db } = deps;
  const chunkSize = deps.chunkSize ?? 100;
  const parallel = deps.parallel ?? 3;
  return async (
    { cycleId }: { cycleId: string },
    context: Pick<JobContext, 'log'>,
  ): Promise<AggregateCycleOutcome> => {
    const cycle = await resultRepository.cycleContext(db, cycleId);
    if (!cycle) {
      await context.log('cycle no longer exists; nothing to aggregate');
      return { subjects: 0, created: 0 };
    }
    const instrument = await deps.instruments.get(cycle.instrument_id, cycle.instrument_version);
    const rules = anonymityRulesFor(instrument, deps.anonymityK);
    const pinned = { id: cycle.instrument_id, version: cycle.instrument_version };
    const subjectIds = await resultRepository.subjectIdsOfCycle(db, cycleId);

    const chunks: string[][] = [];
    for (let i = 0; i < subjectIds.length; i += chunkSize) chunks.push(subjectIds.slice(i, i + chunkSize));
    const created: string[] = [];
    const runChunk = (ids: string[]) =>
      resultRepository.withProfileLocks(db, ids, async (trx) => {
        const [sources, latest] = await Promise.all([
          resultRepository.sourcesOf(trx, ids),
          resultRepository.latestDigests(trx, ids),
        ]);
        const versions = [];
        for (const [i, source] of sources.entries()) {
          // Scoring is synchronous: let the other chunk's statements go out (and other jobs run) meanwhile.
          if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
          const sourceDigest = profileSourceDigest(source.digest, pinned, rules);
          const previous = latest.get(source.subjectId);
          if (previous?.source_digest === sourceDigest) continue;
          versions.push({
            subjectId: source.subjectId,
            version: (previous?.version ?? 0) + 1,
            sourceDigest,
            ...computeProfile(source, instrument, rules),
          });
        }
        await resultRepository.insertVersions(trx, versions);
        for (const v of versions) created.push(v.subjectId);
      });

    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(parallel, chunks.length) }, async () => {
        while (next < chunks.length) await runChunk(chunks[next++]!);
      }),
    );

    if (created.length > 0) {
      // Once per run, not once per subject: each follow-up whose pair changed, and the programme's cohort.
      const followUps = await resultRepository.followUpsOf(db, created);
      await outboxRepository.queueJobs(db, [
        ...followUps.map((id) => planJob('compute-change', { subjectId: id })),
        planJob('rollup-cohort', { programmeId: cycle.programme_id }),
      ]);
      await pushJobOutboxSoon(db, deps.producer, deps.logger);
    }
    return { subjects: subjectIds.length, created: created.length };
  };
}
