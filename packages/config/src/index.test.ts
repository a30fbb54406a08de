import { describe, expect, it } from 'vitest';
import { cliEnv, ConfigError, loadConfig, reportEnv, surveyEnv, workerEnv } from './index.ts';

function problems(run: () => unknown): Record<string, string> {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return Object.fromEntries((error as ConfigError).problems.map((p) => [p.key, p.message]));
  }
  throw new Error('expected a ConfigError');
}

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
    expect(message).toMatch(/REDIS_URL: required: the Redis connection URL, redis:\/\/host:6379/);
    expect(message).toMatch(/WORKER_CONCURRENCY: expected a whole number from 1 to 64/);
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

  it('says a value that is not a number is not a number, never that it is required', () => {
    const found = problems(() =>
      loadConfig(surveyEnv, { ...good, SURVEY_PORT: 'x', ANONYMITY_K: 'three' }, 'survey'),
    );
    expect(found).toEqual({
      SURVEY_PORT: 'expected a whole number from 0 to 65535',
      ANONYMITY_K: 'expected a whole number, at least 3',
    });
    expect(problems(() => loadConfig(workerEnv, { ...good, WORKER_CONCURRENCY: 'many' }))).toEqual({
      WORKER_CONCURRENCY: 'expected a whole number from 1 to 64',
    });
    expect(problems(() => loadConfig(reportEnv, { ...good, SESSION_TTL_HOURS: '1.5' }))).toEqual({
      SESSION_TTL_HOURS: 'expected a whole number from 1 to 720',
    });
  });

  it('says what a missing key expects, APP_SECRET included', () => {
    expect(problems(() => loadConfig(cliEnv, {}))).toEqual({
      DATABASE_URL: 'required: the PostgreSQL connection URL, postgres://user:pass@host:5432/db',
      APP_SECRET: 'required: a random secret of at least 32 characters (openssl rand -base64 48)',
    });
  });

  it('names a key once, with each of its problems, and never echoes a value', () => {
    const message = (() => {
      try {
        loadConfig(surveyEnv, { ...good, APP_SECRET: 'hunter2-secret', NODE_ENV: 'staging' });
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toContain('APP_SECRET: must be at least 32 characters');
    expect(message).toContain('NODE_ENV: expected one of development, production, test');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('staging');
  });

  it('gives every key a description to print when it is missing', () => {
    for (const schema of [surveyEnv, reportEnv, workerEnv, cliEnv]) {
      for (const [key, field] of Object.entries(schema.shape)) {
        expect(field.description, key).toBeTruthy();
      }
    }
  });
});
