import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, reportEnv, surveyEnv, workerEnv } from './index.ts';

const good = {
  DATABASE_URL: 'postgres://u:p@localhost:5432/db',
  REDIS_URL: 'redis://localhost:6379',
  APP_SECRET: 'x'.repeat(40),
};

describe('loadConfig', () => {
  it('returns a frozen config with defaults applied', () => {
    const config = loadConfig(surveyEnv, good);
    expect(config.SURVEY_PORT).toBe(3001);
    expect(config.ANONYMITY_K).toBe(3);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad key in one message', () => {
    let error: unknown;
    try {
      loadConfig(
        workerEnv,
        { DATABASE_URL: 'mysql://x', APP_SECRET: 'short', ANONYMITY_K: '2', WORKER_CONCURRENCY: 'many' },
        'worker',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const key of ['DATABASE_URL', 'APP_SECRET', 'ANONYMITY_K', 'WORKER_CONCURRENCY', 'REDIS_URL']) {
      expect(message).toContain(`${key}:`);
    }
    expect(message).toMatch(/REDIS_URL: required/);
    expect(message).toMatch(/ANONYMITY_K: must be at least 3/);
    expect(message.startsWith('worker: invalid configuration')).toBe(true);
  });

  it('sizes the report render cache: 64 MiB by default, 0 turns it off, negative is refused', () => {
    expect(loadConfig(reportEnv, good).REPORT_CACHE_MB).toBe(64);
    expect(loadConfig(reportEnv, { ...good, REPORT_CACHE_MB: '0' }).REPORT_CACHE_MB).toBe(0);
    expect(() => loadConfig(reportEnv, { ...good, REPORT_CACHE_MB: '-1' })).toThrow(/REPORT_CACHE_MB/);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig(surveyEnv, { ...good, SURVEY_PORT: '' });
    expect(config.SURVEY_PORT).toBe(3001);
  });

  it('parses booleans strictly', () => {
    expect(loadConfig(surveyEnv, { ...good, TRUST_PROXY: 'yes' }).TRUST_PROXY).toBe(true);
    expect(() => loadConfig(surveyEnv, { ...good, TRUST_PROXY: 'maybe' })).toThrow(
      /TRUST_PROXY: expected true or false/,
    );
  });
});
