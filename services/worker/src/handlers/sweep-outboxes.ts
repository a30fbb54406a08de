import { outboxRepository, type Db } from '@panorama/db';
import { planJob, type JobHandlers, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { pushJobOutbox } from './outbox.ts';

/** Queued emails older than this get their delivery job enqueued again (it may have been lost with Redis). */
export const STALE_EMAIL_MS = 60_000;

/** A producer; `queue` is needed only once an email has been delayed (tests may leave it out). */
export type SweepProducer = Pick<Producer, 'add' | 'enqueue'> & Partial<Pick<Producer, 'queue'>>;

/**
 * The delivery job of an email's spell: the first spell keeps the id every producer uses, later ones
 * (after temporary failures outlasted a job's retries) get an id of their own, since the earlier job's id
 * may still be taken. Within a spell the id is deterministic, so re-enqueueing it adds nothing while the
 * job waits or runs. A job of that id that failed outright (its handler threw on every attempt, say with
 * the database down) is removed first: it would otherwise hold the id, and the email, for a week.
 */
export async function enqueueDelivery(producer: SweepProducer, email: { id: string; rounds: number }) {
  const planned = planJob('deliver-email', { outboxId: email.id });
  const jobId = email.rounds === 0 ? planned.jobId : `${planned.jobId}.${email.rounds}`;
  if (!producer.queue) {
    if (email.rounds > 0) throw new Error('this producer cannot enqueue a job under an id of its own');
    await producer.enqueue('deliver-email', { outboxId: email.id });
    return;
  }
  const queue = producer.queue(planned.queue);
  const existing = await queue.getJob(jobId);
  if (existing && (await existing.isFailed())) await existing.remove();
  await queue.add('deliver-email', planned.data, { ...planned.options, jobId });
}

/**
 * Pushes the job outbox to Redis and enqueues delivery of emails that are due: those that have waited too
 * long for their job (lost with Redis) and delayed ones whose retry time has come.
 */
export function createSweepOutboxes(deps: {
  db: Db;
  producer: SweepProducer;
  logger: Pick<Logger, 'error'>;
  staleEmailMs?: number;
}): JobHandlers['sweep-outboxes'] {
  return async (_payload, context) => {
    const pushed = await pushJobOutbox(deps.db, deps.producer, deps.logger);
    const due = await outboxRepository.dueQueuedEmails(deps.db, deps.staleEmailMs ?? STALE_EMAIL_MS);
    for (const email of due) await enqueueDelivery(deps.producer, email);
    if (pushed + due.length > 0)
      await context.log(`pushed ${pushed} job(s), enqueued ${due.length} email(s)`);
  };
}
