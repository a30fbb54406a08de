import type { z } from 'zod';
import { wholeNumber, workerEnv } from '@panorama/config';

/**
 * The worker's environment: the shared `workerEnv` plus the keys only this process reads. The test hook is
 * refused outside NODE_ENV=test so it can never slow a real deployment.
 */
const TEST_ONLY_KEYS = [
  'PANORAMA_TEST_JOB_DELAY_MS',
  'PANORAMA_TEST_EMAIL_ATTEMPTS',
  'PANORAMA_TEST_EMAIL_RETRY_MS',
] as const;

export const workerProcessEnv = workerEnv
  .extend({
    /** How long a job's lock lasts; a job whose worker died is picked up again after about this long. */
    WORKER_LOCK_MS: wholeNumber(2_000, 600_000)
      .default(30_000)
      .describe('how long a job lock lasts, in milliseconds'),
    /**
     * Test only: aggregate-subject waits this long between computing a profile and storing it, holding its
     * transaction open, so a test can kill the process mid-job.
     */
    PANORAMA_TEST_JOB_DELAY_MS: wholeNumber(0, 60_000)
      .default(0)
      .describe('tests only: a pause inside the aggregation job'),
    /**
     * Test only: a shorter email retry budget, so a fault test's outage can outlast it. Attempts per
     * delivery job, and the wait before the sweeper starts the next spell.
     */
    PANORAMA_TEST_EMAIL_ATTEMPTS: wholeNumber(1, 10)
      .optional()
      .describe('tests only: attempts per email delivery job'),
    PANORAMA_TEST_EMAIL_RETRY_MS: wholeNumber(0, 3_600_000)
      .optional()
      .describe('tests only: the wait before a failed email is tried again'),
  })
  .superRefine(
    (env, ctx) => {
      if (env.NODE_ENV === 'test') return;
      for (const key of TEST_ONLY_KEYS) {
        // The job delay defaults to 0 (off); the email keys are off when unset.
        const set = key === 'PANORAMA_TEST_JOB_DELAY_MS' ? env[key] !== 0 : env[key] !== undefined;
        if (set) ctx.addIssue({ code: 'custom', message: 'only allowed with NODE_ENV=test', path: [key] });
      }
    },
    {
      // Run even when other keys are bad, so the one message names every problem; only the keys this
      // check reads must have parsed.
      when: (payload) =>
        !payload.issues.some((i) => [...TEST_ONLY_KEYS, 'NODE_ENV'].includes(String(i.path?.[0]))),
    },
  );

export type WorkerProcessConfig = Readonly<z.infer<typeof workerProcessEnv>>;
