import { outboxRepository, type Db } from '@panorama/db';
import type { JobHandlers, Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { pushJobOutbox } from './outbox.ts';

/** Queued emails older than this get their delivery job enqueued again (it may have been lost with Redis). */
export const STALE_EMAIL_MS = 60_000;

/**
 * Pushes the job outbox to Redis and re-enqueues delivery of emails that have waited too long. Delivery job
 * ids are deterministic, so an email whose job still exists is not enqueued twice.
 */
export function createSweepOutboxes(deps: {
  db: Db;
  producer: Pick<Producer, 'add' | 'enqueue'>;
  logger: Pick<Logger, 'error'>;
  staleEmailMs?: number;
}): JobHandlers['sweep-outboxes'] {
  return async (_payload, context) => {
    const pushed = await pushJobOutbox(deps.db, deps.producer, deps.logger);
    const stale = await outboxRepository.staleQueuedEmails(deps.db, deps.staleEmailMs ?? STALE_EMAIL_MS);
    for (const email of stale) await deps.producer.enqueue('deliver-email', { outboxId: email.id });
    if (pushed + stale.length > 0)
      await context.log(`pushed ${pushed} job(s), re-enqueued ${stale.length} email(s)`);
  };
}
