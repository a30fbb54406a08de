import { z } from 'zod';

/** Thrown when the environment does not satisfy a process's config schema; the message names every bad key. */
export class ConfigError extends Error {
  constructor(
    readonly problems: { key: string; message: string }[],
    processName: string,
  ) {
    super(
      `${processName}: invalid configuration\n` +
        problems.map((p) => `  ${p.key}: ${p.message}`).join('\n') +
        '\nSee the configuration table in README.md.',
    );
    this.name = 'ConfigError';
  }
}

/** A whole number in [min, max] from an environment string; every way of missing it says the same thing. */
export const wholeNumber = (min: number, max: number) => {
  const message = `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message });
};
const port = (fallback: number) => wholeNumber(0, 65535).default(fallback);
const url = (protocols: string[]) => {
  const message = `expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`;
  return z.string({ message }).refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message },
  );
};
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `expected one of ${values.join(', ')}` });
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Keys every process reads. Each key's description is what a "required" message tells the operator. */
export const baseEnv = {
  NODE_ENV: oneOf(['development', 'production', 'test']).default('development').describe('the environment'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('the pino log level'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).describe(
    'the PostgreSQL connection URL, postgres://user:pass@host:5432/db',
  ),
  DATABASE_POOL_SIZE: wholeNumber(1, 200).default(10).describe('database connections per process'),
  APP_SECRET: z
    .string()
    .min(32, { message: 'must be at least 32 characters (openssl rand -base64 48)' })
    .describe('a random secret of at least 32 characters (openssl rand -base64 48)'),
  ANONYMITY_K: z.coerce
    .number({ message: 'expected a whole number, at least 3' })
    .int({ message: 'expected a whole number, at least 3' })
    .min(3, { message: 'must be at least 3: smaller anonymous groups can be re-identified' })
    .default(3)
    .describe('the minimum size of an anonymous group'),
  SURVEY_PUBLIC_URL: url(['http:', 'https:'])
    .default('http://localhost:3001')
    .describe('the public base URL of the survey service'),
  REPORT_PUBLIC_URL: url(['http:', 'https:'])
    .default('http://localhost:3002')
    .describe('the public base URL of the report service'),
};

const redisEnv = {
  REDIS_URL: url(['redis:', 'rediss:']).describe('the Redis connection URL, redis://host:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/, { message: 'letters, digits, _ and - only' })
    .default('panorama')
    .describe('the BullMQ key prefix'),
};

const mailEnv = {
  SMTP_URL: url(['smtp:', 'smtps:']).optional().describe('the SMTP URL, smtp://user:pass@host:587'),
  MAIL_FROM: z
    .string()
    .min(3, { message: 'expected a sender such as Panorama <panorama@example.org>' })
    .default('Panorama <panorama@localhost>')
    .describe('the sender of emails'),
  OUTBOX_DIR: z.string().min(1).default('.data/outbox').describe('where emails go without SMTP'),
};

const webEnv = {
  HOST: z.string().min(1).default('127.0.0.1').describe('the listening address'),
  METRICS_TOKEN: z
    .string()
    .min(16, { message: 'must be at least 16 characters' })
    .optional()
    .describe('the bearer token for /metrics'),
  TRUST_PROXY: bool.default(false).describe('whether to trust X-Forwarded-* headers'),
};

export const surveyEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...webEnv,
  SURVEY_PORT: port(3001).describe('the survey service port'),
});

export const reportEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...webEnv,
  ...mailEnv,
  REPORT_PORT: port(3002).describe('the report service port'),
  SESSION_TTL_HOURS: wholeNumber(1, 24 * 30)
    .default(12)
    .describe('the staff session lifetime in hours'),
  /** Memory for rendered leader reports (MiB); 0 turns the cache off. */
  REPORT_CACHE_MB: wholeNumber(0, 4096).default(64).describe('memory for rendered reports in MiB'),
});

export const workerEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...mailEnv,
  WORKER_CONCURRENCY: wholeNumber(1, 64).default(4).describe('jobs per queue in parallel'),
  /** Port of the worker's /healthz, /readyz and /metrics (on HOST); unset, the default, serves none. */
  WORKER_HTTP_PORT: wholeNumber(1, 65535).optional().describe('the port of the worker health and metrics'),
  HOST: webEnv.HOST,
  /** Bearer token a scraper must send for the worker's /metrics (unset: /metrics is not served). */
  METRICS_TOKEN: webEnv.METRICS_TOKEN,
});

/** The command line needs the database; Redis and mail only for the commands that enqueue or send. */
export const cliEnv = z.object({
  ...baseEnv,
  ...mailEnv,
  REDIS_URL: redisEnv.REDIS_URL.optional().describe('the Redis connection URL, for commands that queue jobs'),
  QUEUE_PREFIX: redisEnv.QUEUE_PREFIX,
});

/** The local launcher (`pnpm start`) and the CLI when it starts its own embedded Postgres. */
export const localEnv = z.object({
  PANORAMA_DATA_DIR: z
    .string()
    .min(1)
    .default('.data')
    .describe('the folder of the local PostgreSQL, Redis, secret and outbox'),
});

export type SurveyConfig = Readonly<z.infer<typeof surveyEnv>>;
export type ReportConfig = Readonly<z.infer<typeof reportEnv>>;
export type WorkerConfig = Readonly<z.infer<typeof workerEnv>>;
export type CliConfig = Readonly<z.infer<typeof cliEnv>>;
export type LocalConfig = Readonly<z.infer<typeof localEnv>>;

/**
 * Validates `env` against `schema` once, at boot, and returns a frozen, typed config.
 * Empty strings count as unset, so `FOO=` in a .env file falls back to the default.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
  processName = 'panorama',
): Readonly<z.infer<S>> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) {
    // One line per key, every problem of that key on it; a missing key says what it expects. Values are
    // never echoed: several keys hold passwords or secrets.
    const byKey = new Map<string, string[]>();
    for (const issue of result.error.issues) {
      const key = issue.path.join('.') || '(root)';
      const description = (schema.shape as Record<string, z.ZodType | undefined>)[key]?.description;
      const message =
        key in schema.shape && input[key] === undefined
          ? `required: ${description ?? 'no default'}`
          : issue.message;
      const messages = byKey.get(key) ?? [];
      if (!messages.includes(message)) messages.push(message);
      byKey.set(key, messages);
    }
    const problems = [...byKey].map(([key, messages]) => ({ key, message: messages.join('; ') }));
    throw new ConfigError(problems, processName);
  }
  return Object.freeze(result.data) as Readonly<z.infer<S>>;
}

/** For entry files: load the config, or print every problem and exit with status 2. */
export function loadConfigOrExit<S extends z.ZodObject>(
  schema: S,
  processName: string,
): Readonly<z.infer<S>> {
  try {
    return loadConfig(schema, process.env, processName);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
