import type { z } from 'zod';
import { wholeNumber, workerEnv } from '@panorama/config';

/**
 * The worker's environment: the shared `workerEnv` plus the keys only this process reads. The test hook is
 * refused outside NODE_ENV=test so it can never slow a real deployment.
 */
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
  })
  .superRefine(
    (env, ctx) => {
      if (env.PANORAMA_TEST_JOB_DELAY_MS !== 0 && env.NODE_ENV !== 'test')
        ctx.addIssue({
          code: 'custom',
          message: 'only allowed with NODE_ENV=test',
          path: ['PANORAMA_TEST_JOB_DELAY_MS'],
        });
    },
    {
      // Run even when other keys are bad, so the one message names every problem; only the two keys this
      // check reads must have parsed.
      when: (payload) =>
        !payload.issues.some((i) => ['PANORAMA_TEST_JOB_DELAY_MS', 'NODE_ENV'].includes(String(i.path?.[0]))),
    },
  );

export type WorkerProcessConfig = Readonly<z.infer<typeof workerProcessEnv>>;
