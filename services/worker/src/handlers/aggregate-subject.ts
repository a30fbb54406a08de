import { setTimeout as sleep } from 'node:timers/promises';
import { resultRepository, type Db } from '@panorama/db';
import { planJob, type JobHandlers, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { anonymityRulesFor, type InstrumentCache } from './instruments.ts';
import { pushJobOutboxSoon } from './outbox.ts';
import { computeProfile, profileSourceDigest } from './profile-versions.ts';

export interface AggregateSubjectDeps {
  db: Db;
  instruments: InstrumentCache;
  /** ANONYMITY_K: used when the instrument sets no k of its own. */
  anonymityK: number;
  producer: Pick<Producer, 'add'>;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Test only (PANORAMA_TEST_JOB_DELAY_MS): pause between computing and storing, inside the transaction. */
  testDelayMs?: number;
}

/**
 * Recomputes a leader's profile from the stored responses and stores it as a new version when anything it
 * depends on changed (responses, instrument, rules, scoring revision); then queues the change for the
 * leader's follow-up and the programme's cohort roll-up. Sources are read under the subject's lock, so
 * concurrent runs store one version, and a run that dies before commit leaves nothing behind.
 */
export function createAggregateSubject(deps: AggregateSubjectDeps): JobHandlers['aggregate-subject'] {
  const { db } = deps;
  return async ({ subjectId }, context) => {
    const subject = await resultRepository.subjectContext(db, subjectId);
    if (!subject) {
      await context.log('subject no longer exists; nothing to aggregate');
      return;
    }
    const instrument = await deps.instruments.get(subject.instrument_id, subject.instrument_version);
    const rules = anonymityRulesFor(instrument, deps.anonymityK);

    const created = await resultRepository.withProfileLock(db, subjectId, async (trx) => {
      // Responses and their digest in one query, and the latest version: two round trips under the lock.
      const [[sources], latest] = await Promise.all([
        resultRepository.sourcesOf(trx, [subjectId]),
        resultRepository.latestProfileDigest(trx, subjectId),
      ]);
      const sourceDigest = profileSourceDigest(
        sources!.digest,
        { id: subject.instrument_id, version: subject.instrument_version },
        rules,
      );
      if (latest?.source_digest === sourceDigest) return false;

      const { data, groupCounts } = computeProfile(sources!, instrument, rules);
      const followUps = new Set(
        (await resultRepository.changePairs(trx, subjectId)).map((p) => p.follow_up_subject_id),
      );
      const jobs = [
        ...[...followUps].map((id) => planJob('compute-change', { subjectId: id })),
        planJob('rollup-cohort', { programmeId: subject.programme_id }),
      ];
      if (deps.testDelayMs) await sleep(deps.testDelayMs);
      // The lock is held and the latest version was read under it: append the next one directly.
      await resultRepository.insertVersions(
        trx,
        [{ subjectId, version: (latest?.version ?? 0) + 1, sourceDigest, groupCounts, data }],
        jobs,
      );
      return true;
    });
    if (created) await pushJobOutboxSoon(db, deps.producer, deps.logger);
  };
}
