import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queues, each with its own workers so slow email delivery never holds up aggregation. */
export const QUEUES = ['aggregate', 'email', 'maintenance'] as const;
export type QueueName = (typeof QUEUES)[number];

interface JobDefinition {
  queue: QueueName;
  payload: z.ZodObject;
  /**
   * Jobs for the same key arriving within this window coalesce into one, which runs when the window ends,
   * after every submission of the window has committed. 0 = one job per key, ever in flight.
   */
  coalesceMs: number;
  key: (payload: never) => string;
  options: JobsOptions;
}

const retrying: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  // Bounded Redis memory: completed jobs go at once, failed ones are kept a week for inspection.
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

const uuid = z.uuid();

/**
 * The contract between producers and workers: name -> queue, payload schema (ids only), job id, options.
 * Worker handler maps are typed against it, so a job without a handler does not compile.
 */
export const jobCatalog = {
  'aggregate-subject': {
    queue: 'aggregate',
    payload: z.strictObject({ subjectId: uuid }),
    coalesceMs: 2_000,
    key: (p: { subjectId: string }) => p.subjectId,
    options: retrying,
  },
  'aggregate-cycle': {
    queue: 'aggregate',
    payload: z.strictObject({ cycleId: uuid }),
    coalesceMs: 0,
    key: (p: { cycleId: string }) => p.cycleId,
    options: retrying,
  },
  'compute-change': {
    queue: 'aggregate',
    payload: z.strictObject({ subjectId: uuid }),
    coalesceMs: 2_000,
    key: (p: { subjectId: string }) => p.subjectId,
    options: retrying,
  },
  'rollup-cohort': {
    queue: 'aggregate',
    payload: z.strictObject({ programmeId: uuid }),
    coalesceMs: 5_000,
    key: (p: { programmeId: string }) => p.programmeId,
    options: retrying,
  },
  'deliver-email': {
    queue: 'email',
    payload: z.strictObject({ outboxId: uuid }),
    coalesceMs: 0,
    key: (p: { outboxId: string }) => p.outboxId,
    options: { ...retrying, attempts: 10, backoff: { type: 'exponential', delay: 2_000 } },
  },
  'flush-completions': {
    queue: 'maintenance',
    payload: z.strictObject({}),
    coalesceMs: 0,
    key: () => 'all',
    options: { attempts: 3, removeOnComplete: true, removeOnFail: { count: 100 } },
  },
  'sweep-outboxes': {
    queue: 'maintenance',
    payload: z.strictObject({}),
    coalesceMs: 0,
    key: () => 'all',
    options: { attempts: 3, removeOnComplete: true, removeOnFail: { count: 100 } },
  },
} as const satisfies Record<string, JobDefinition>;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>;

export interface JobContext {
  jobId: string;
  attempt: number;
  log: (message: string) => Promise<unknown> | void;
}

/** One handler per catalog entry; `satisfies JobHandlers` makes a missing one a compile error. */
export type JobHandlers = { [N in JobName]: (payload: JobPayload<N>, context: JobContext) => Promise<void> };

export interface PlannedJob {
  queue: QueueName;
  name: JobName;
  jobId: string;
  data: Record<string, unknown>;
  options: JobsOptions;
}

/**
 * Validates a payload and derives its deterministic job id and options. Coalescing jobs get an id per time
 * window and run at the window's end, so a burst makes one job, and a job added while another for the same
 * key is running lands in the next window instead of being swallowed as a duplicate.
 */
export function planJob<N extends JobName>(name: N, payload: JobPayload<N>, now = Date.now()): PlannedJob {
  const definition: JobDefinition = jobCatalog[name];
  const data = definition.payload.parse(payload) as Record<string, unknown>;
  const key = (definition.key as (p: unknown) => string)(data);
  let jobId = `${name}.${key}`;
  let delay = 0;
  if (definition.coalesceMs > 0) {
    const window = Math.floor(now / definition.coalesceMs);
    jobId += `.${window}`;
    delay = (window + 1) * definition.coalesceMs - now;
  }
  return { queue: definition.queue, name, jobId, data, options: { ...definition.options, jobId, delay } };
}

/** Parses a job's data against the catalog, for workers (payloads from Redis are untrusted input too). */
export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return jobCatalog[name].payload.parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}
