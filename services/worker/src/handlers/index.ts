import type { Db } from '@panorama/db';
import type { SecretKeys } from '@panorama/domain';
import type { CompletionSet, JobHandlers } from '@panorama/jobs';
import type { Mailer } from '@panorama/mail';
import type { Logger } from 'pino';
import { createAggregateCycle } from './aggregate-cycle.ts';
import { createAggregateSubject } from './aggregate-subject.ts';
import { createComputeChange } from './compute-change.ts';
import { createCycleStats } from './cycle-stats.ts';
import { createDeliverEmail, type DeliverEmailDeps } from './deliver-email.ts';
import { createFlushCompletions } from './flush-completions.ts';
import { createInstrumentCache } from './instruments.ts';
import { createRollupCohort } from './rollup-cohort.ts';
import { createSweepOutboxes, type SweepProducer } from './sweep-outboxes.ts';

export interface HandlerDeps {
  db: Db;
  producer: SweepProducer;
  mailer: Pick<Mailer, 'send'>;
  keys: Pick<SecretKeys, 'outbox'>;
  /** ANONYMITY_K from config, for instruments that set no k of their own. */
  anonymityK: number;
  logger: Logger;
  /** Where used invitations wait for the completion batch. */
  completions?: Pick<CompletionSet, 'members' | 'remove'>;
  /** Shorter email retry budgets (tests): attempts per job, the wait between spells, the sweeper's age. */
  email?: Pick<DeliverEmailDeps, 'maxAttempts' | 'retryDelayMs'> & { staleEmailMs?: number };
  /** Test only: see PANORAMA_TEST_JOB_DELAY_MS. */
  testJobDelayMs?: number;
}

/** Every job of the catalog with its handler; the caches of instruments and cycle statistics are shared. */
export function createHandlers(deps: HandlerDeps) {
  const { db, producer, logger, anonymityK } = deps;
  const instruments = createInstrumentCache(db);
  const stats = createCycleStats({ db });
  const aggregateCycle = createAggregateCycle({ db, instruments, anonymityK, producer, logger });
  return {
    'aggregate-cycle': async (payload, context) => {
      const outcome = await aggregateCycle(payload, context);
      await context.log(`${outcome.created} of ${outcome.subjects} profiles updated`);
    },
    'aggregate-subject': createAggregateSubject({
      db,
      instruments,
      anonymityK,
      producer,
      logger,
      ...(deps.testJobDelayMs ? { testDelayMs: deps.testJobDelayMs } : {}),
    }),
    'compute-change': createComputeChange({ db, instruments, stats }),
    'rollup-cohort': createRollupCohort({ db, instruments, stats, anonymityK, producer, logger }),
    'deliver-email': createDeliverEmail({
      db,
      keys: deps.keys,
      mailer: deps.mailer,
      logger,
      ...(deps.email?.maxAttempts !== undefined ? { maxAttempts: deps.email.maxAttempts } : {}),
      ...(deps.email?.retryDelayMs ? { retryDelayMs: deps.email.retryDelayMs } : {}),
    }),
    'flush-completions': createFlushCompletions({ db, completions: deps.completions, anonymityK }),
    'sweep-outboxes': createSweepOutboxes({
      db,
      producer,
      logger,
      ...(deps.email?.staleEmailMs !== undefined ? { staleEmailMs: deps.email.staleEmailMs } : {}),
    }),
  } satisfies JobHandlers;
}
