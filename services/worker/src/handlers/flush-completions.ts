import { responseRepository, type Db } from '@panorama/db';
import type { CompletionSet, JobHandlers } from '@panorama/jobs';

/**
 * Used invitations are marked completed only in batches of at least this many, so a batch cannot single out
 * the one rater whose response arrived in between.
 */
export const MIN_COMPLETION_BATCH = 5;

export function createFlushCompletions(deps: {
  db: Db;
  completions?: Pick<CompletionSet, 'members' | 'remove'> | undefined;
}): JobHandlers['flush-completions'] {
  return async (_payload, context) => {
    // The Postgres fallback holds completions recorded while Redis was down: flush those at once.
    let flushed = await responseRepository.flushCompletions(deps.db);
    if (deps.completions) {
      flushed += await responseRepository.flushCompletionSet(deps.db, deps.completions, MIN_COMPLETION_BATCH);
    }
    if (flushed > 0) await context.log(`${flushed} invitation(s) completed`);
  };
}
