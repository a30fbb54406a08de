import { z } from 'zod';
import { workerEnv } from '@panorama/config';

/**
 * The worker's environment: the shared `workerEnv` plus the keys only this process reads. The test hook is
 * refused outside NODE_ENV=test so it can never slow a real deployment.
 */
export const workerProcessEnv = workerEnv
  .extend({
    /** How long a job's lock lasts; a job whose worker died is picked up again after about this long. */
    WORKER_LOCK_MS: z.coerce.number().int().min(2_000).max(600_000).default(30_000),
    /**
     * Test only: aggregate-subject waits this long between computing a profile and storing it, holding its
     * transaction open, so a test can kill the process mid-job.
     */
    PANORAMA_TEST_JOB_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
    /**
     * Test only: a shorter email retry budget, so a fault test's outage can outlast it. Attempts per
     * delivery job, and the wait before the sweeper starts the next spell.
     */
    PANORAMA_TEST_EMAIL_ATTEMPTS: z.coerce.number().int().min(1).max(10).optional(),
    PANORAMA_TEST_EMAIL_RETRY_MS: z.coerce.number().int().min(0).max(3_600_000).optional(),
  })
  .refine((env) => env.PANORAMA_TEST_JOB_DELAY_MS === 0 || env.NODE_ENV === 'test', {
    message: 'only allowed with NODE_ENV=test',
    path: ['PANORAMA_TEST_JOB_DELAY_MS'],
  })
  .refine(
    (env) =>
      (env.PANORAMA_TEST_EMAIL_ATTEMPTS === undefined && env.PANORAMA_TEST_EMAIL_RETRY_MS === undefined) ||
      env.NODE_ENV === 'test',
    { message: 'only allowed with NODE_ENV=test', path: ['PANORAMA_TEST_EMAIL_ATTEMPTS'] },
  );

export type WorkerProcessConfig = Readonly<z.infer<typeof workerProcessEnv>>;
