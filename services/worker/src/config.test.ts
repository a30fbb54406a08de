import { ConfigError, loadConfig } from '@panorama/config';
import { describe, expect, it } from 'vitest';
import { workerProcessEnv } from './config.ts';

const good = {
  DATABASE_URL: 'postgres://u:p@localhost:5432/db',
  REDIS_URL: 'redis://localhost:6379',
  APP_SECRET: 'x'.repeat(40),
};

function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(workerProcessEnv, env, 'worker');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return Object.fromEntries((error as ConfigError).problems.map((p) => [p.key, p.message]));
  }
  throw new Error('expected a ConfigError');
}

describe('workerProcessEnv', () => {
  it('allows the test job delay only with NODE_ENV=test', () => {
    expect(
      loadConfig(workerProcessEnv, { ...good, NODE_ENV: 'test', PANORAMA_TEST_JOB_DELAY_MS: '100' })
        .PANORAMA_TEST_JOB_DELAY_MS,
    ).toBe(100);
    expect(problems({ ...good, PANORAMA_TEST_JOB_DELAY_MS: '100' })).toEqual({
      PANORAMA_TEST_JOB_DELAY_MS: 'only allowed with NODE_ENV=test',
    });
  });

  it('allows the test email retry budget only with NODE_ENV=test', () => {
    const config = loadConfig(workerProcessEnv, {
      ...good,
      NODE_ENV: 'test',
      PANORAMA_TEST_EMAIL_ATTEMPTS: '2',
      PANORAMA_TEST_EMAIL_RETRY_MS: '500',
    });
    expect([config.PANORAMA_TEST_EMAIL_ATTEMPTS, config.PANORAMA_TEST_EMAIL_RETRY_MS]).toEqual([2, 500]);
    expect(
      problems({ ...good, PANORAMA_TEST_EMAIL_ATTEMPTS: '2', PANORAMA_TEST_EMAIL_RETRY_MS: '500' }),
    ).toEqual({
      PANORAMA_TEST_EMAIL_ATTEMPTS: 'only allowed with NODE_ENV=test',
      PANORAMA_TEST_EMAIL_RETRY_MS: 'only allowed with NODE_ENV=test',
    });
  });

  it('reports the test job delay together with every other bad key', () => {
    expect(
      problems({
        DATABASE_URL: good.DATABASE_URL,
        APP_SECRET: good.APP_SECRET,
        WORKER_CONCURRENCY: 'many',
        WORKER_LOCK_MS: '10',
        PANORAMA_TEST_JOB_DELAY_MS: '100',
      }),
    ).toEqual({
      REDIS_URL: 'required: the Redis connection URL, redis://host:6379',
      WORKER_CONCURRENCY: 'expected a whole number from 1 to 64',
      WORKER_LOCK_MS: 'expected a whole number from 2000 to 600000',
      PANORAMA_TEST_JOB_DELAY_MS: 'only allowed with NODE_ENV=test',
    });
  });
});
