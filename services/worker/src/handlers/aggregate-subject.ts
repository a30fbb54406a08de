import { setTimeout as sleep } from 'node:timers/promises';
import { resultRepository, responseRepository, type Db } from '@panorama/db';
import { buildProfile, RELATIONSHIPS, type GroupCounts } from '@panorama/domain';
import { planJob, type JobHandlers, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { digestOf, SCORING_REVISION } from './digest.ts';
import { anonymityRulesFor, type InstrumentCache } from './instruments.ts';
import { pushJobOutboxSoon } from './outbox.ts';

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

    const outcome = await resultRepository.withProfileLock(db, subjectId, async (trx) => {
      const source = await resultRepository.profileSourceDigest(trx, subjectId);
      const sourceDigest = digestOf({
        responses: source.digest,
        instrument: `${subject.instrument_id}@${subject.instrument_version}`,
        rules,
        revision: SCORING_REVISION,
      });
      const latest = await resultRepository.latestProfileDigest(trx, subjectId);
      if (latest?.source_digest === sourceDigest) return { version: latest.version, created: false };

      const responses = await responseRepository.forSubject(trx, subjectId);
      const profile = buildProfile({ instrument, responses, rules, seed: subjectId });
      const groupCounts: GroupCounts = {};
      for (const relationship of RELATIONSHIPS) {
        groupCounts[relationship] = profile.participation[relationship].responses;
      }
      const followUps = new Set(
        (await resultRepository.changePairs(trx, subjectId)).map((p) => p.follow_up_subject_id),
      );
      const jobs = [
        ...[...followUps].map((id) => planJob('compute-change', { subjectId: id })),
        planJob('rollup-cohort', { programmeId: subject.programme_id }),
      ];
      if (deps.testDelayMs) await sleep(deps.testDelayMs);
      return resultRepository.saveProfile(trx, { subjectId, sourceDigest, groupCounts, data: profile, jobs });
    });
    if (outcome.created) await pushJobOutboxSoon(db, deps.producer, deps.logger);
  };
}
