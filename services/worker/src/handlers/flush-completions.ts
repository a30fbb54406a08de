import { responseRepository, type Db } from '@panorama/db';
import { MIN_COMPLETION_BATCH, type CompletionSet, type JobHandlers } from '@panorama/jobs';

export function createFlushCompletions(deps: {
  db: Db;
  completions?: Pick<CompletionSet, 'members' | 'remove'> | undefined;
  /** ANONYMITY_K: how many waiting completions of a closed cycle may be marked together. */
  anonymityK: number;
}): JobHandlers['flush-completions'] {
  return async (_payload, context) => {
    // Redis set and Postgres fallback together, and only a batch of the minimum size: the fallback holds
    // completions recorded while Redis was down, and a small batch of them would single out their raters.
    let flushed = await responseRepository.flushCompletions(deps.db, {
      set: deps.completions,
      minBatch: MIN_COMPLETION_BATCH,
    });
    // A closed cycle gets no more responses, so its last few completions might never make a full batch.
    flushed += await responseRepository.flushClosedCycles(deps.db, {
      set: deps.completions,
      k: deps.anonymityK,
    });
    if (flushed > 0) await context.log(`${flushed} invitation(s) completed`);
  };
}
