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

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}` },
  );
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Keys every process reads. */
export const baseEnv = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  APP_SECRET: z
    .string({ message: 'required: a random secret of at least 32 characters (openssl rand -base64 48)' })
    .min(32, { message: 'must be at least 32 characters (openssl rand -base64 48)' }),
  ANONYMITY_K: z.coerce
    .number()
    .int()
    .min(3, { message: 'must be at least 3: smaller anonymous groups can be re-identified' })
    .default(3),
  SURVEY_PUBLIC_URL: url(['http:', 'https:']).default('http://localhost:3001'),
  REPORT_PUBLIC_URL: url(['http:', 'https:']).default('http://localhost:3002'),
};

const redisEnv = {
  REDIS_URL: url(['redis:', 'rediss:']),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/, { message: 'letters, digits, _ and - only' })
    .default('panorama'),
};

const mailEnv = {
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z.string().min(3).default('Panorama <panorama@localhost>'),
  OUTBOX_DIR: z.string().min(1).default('.data/outbox'),
};

const webEnv = {
  HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  TRUST_PROXY: bool.default(false),
};

export const surveyEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...webEnv,
  SURVEY_PORT: port(3001),
});

export const reportEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...webEnv,
  ...mailEnv,
  REPORT_PORT: port(3002),
  SESSION_TTL_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(12),
  /** Memory for rendered leader reports (MiB); 0 turns the cache off. */
  REPORT_CACHE_MB: z.coerce.number().int().min(0).max(4096).default(64),
});

export const workerEnv = z.object({
  ...baseEnv,
  ...redisEnv,
  ...mailEnv,
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Port of the worker's /healthz, /readyz and /metrics (on HOST); unset, the default, serves none. */
  WORKER_HTTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  HOST: webEnv.HOST,
  /** Bearer token a scraper must send for the worker's /metrics (unset: /metrics is not served). */
  METRICS_TOKEN: webEnv.METRICS_TOKEN,
});

/** The command line needs the database; Redis and mail only for the commands that enqueue or send. */
export const cliEnv = z.object({
  ...baseEnv,
  ...mailEnv,
  REDIS_URL: redisEnv.REDIS_URL.optional(),
  QUEUE_PREFIX: redisEnv.QUEUE_PREFIX,
});

export type SurveyConfig = Readonly<z.infer<typeof surveyEnv>>;
export type ReportConfig = Readonly<z.infer<typeof reportEnv>>;
export type WorkerConfig = Readonly<z.infer<typeof workerEnv>>;
export type CliConfig = Readonly<z.infer<typeof cliEnv>>;

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
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => ({
      key: issue.path.join('.') || '(root)',
      message: issue.code === 'invalid_type' && issue.input === undefined ? 'required' : issue.message,
    }));
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
