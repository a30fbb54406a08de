import { outboxRepository, type Db } from '@panorama/db';
import { isJobName, type Producer } from '@panorama/jobs';
import type { Logger } from 'pino';
import { errorCode } from '../logger.ts';

/**
 * Pushes the job outbox to Redis. Rows whose name is not in the catalog are dropped with an error log
 * rather than left to block every later sweep.
 */
export async function pushJobOutbox(
  db: Db,
  producer: Pick<Producer, 'add'>,
  logger: Pick<Logger, 'error'>,
): Promise<number> {
  return outboxRepository.drainJobs(db, async (job) => {
    if (!isJobName(job.name)) {
      logger.error({ job: job.name, queue: job.queue }, 'dropped a job outbox row with an unknown job name');
      return;
    }
    await producer.add({
      ...job,
      name: job.name,
      queue: job.queue as Parameters<Producer['add']>[0]['queue'],
    });
  });
}

/**
 * After a handler committed new jobs to the outbox: push them now so they do not wait for the sweeper, but
 * never fail the handler over it (the rows stay and the sweeper pushes them later).
 */
export async function pushJobOutboxSoon(
  db: Db,
  producer: Pick<Producer, 'add'>,
  logger: Pick<Logger, 'error' | 'warn'>,
): Promise<void> {
  try {
    await pushJobOutbox(db, producer, logger);
  } catch (error) {
    logger.warn({ err: errorCode(error) }, 'could not push the job outbox; the sweeper will');
  }
}
