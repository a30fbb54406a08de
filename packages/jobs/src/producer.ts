import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  isJobName,
  planJob,
  QUEUES,
  type JobName,
  type JobPayload,
  type PlannedJob,
  type QueueName,
} from './catalog.ts';

export interface Producer {
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>): Promise<PlannedJob>;
  /** Adds a job planned earlier (for example a row of the job outbox table); unknown names are refused. */
  add(job: { name: string; data: Record<string, unknown>; queue?: string; jobId?: string }): Promise<void>;
  queue(name: QueueName): Queue;
  close(): Promise<void>;
}

export function createProducer({ connection, prefix }: { connection: Redis; prefix: string }): Producer {
  const queues = new Map<QueueName, Queue>(
    QUEUES.map((name) => [name, new Queue(name, { connection, prefix })] as const),
  );
  const queue = (name: QueueName) => queues.get(name)!;
  const add = async (job: {
    name: string;
    data: Record<string, unknown>;
    queue?: string;
    jobId?: string;
  }) => {
    if (!isJobName(job.name)) throw new Error(`unknown job name ${JSON.stringify(job.name)}`);
    // Re-planned, so a job taken from the outbox lands in a current coalescing window.
    const planned = planJob(job.name, job.data as never);
    await queue(planned.queue).add(job.name, planned.data, planned.options);
  };
  return {
    async enqueue(name, payload) {
      const planned = planJob(name, payload);
      await queue(planned.queue).add(name, planned.data, planned.options);
      return planned;
    },
    add,
    queue,
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
