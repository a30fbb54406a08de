import { responseRepository, type Db } from '@panorama/db';
import { MIN_COMPLETION_BATCH, type CompletionSet, type JobHandlers } from '@panorama/jobs';

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
