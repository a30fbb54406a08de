import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { cliEnv, ConfigError, loadConfig, type CliConfig } from '@panorama/config';
import {
  createDb,
  migrateDown,
  migrateToLatest,
  organisationRepository,
  personRepository,
  type Db,
} from '@panorama/db';
import { sql } from 'kysely';
import {
  deriveKeys,
  DomainError,
  instrumentChecksum,
  loadInstrument,
  ValidationError,
} from '@panorama/domain';
import { createCompletionSet, createRedis, type CompletionSet } from '@panorama/jobs';
import {
  closeCycle,
  createProgrammeWithCycles,
  exportProgramme,
  importResponses,
  importRoster,
  openCycle,
  parseRosterCsv,
  sendReminders,
} from '@panorama/report';
import { removeDemo, seedDemo } from '../demo/seed.ts';
import { cohortQualityExport } from './cohort-quality.ts';
import { IMPORT_FILE_LIMITS, readImportFile } from './read-import-file.ts';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Command {
  usage: string;
  summary: string;
  needsDb: boolean;
  run(args: string[], context: Context): Promise<number>;
}

interface Context {
  io: Io;
  env: Record<string, string | undefined>;
  db: () => Db;
  config: () => ReturnType<typeof loadConfig<typeof cliEnv>>;
}

const USAGE_ERROR = 64;
const DATA_ERROR = 65;
const CONFIG_ERROR = 2;
const UNAVAILABLE = 69;

class UsageError extends Error {}

/** Thrown by the dry run's `db()` and `config()`: the command got past its option parsing. */
class OptionsParsed extends Error {}

/** A service other than the database cannot be reached; nothing was changed. */
class UnreachableError extends Error {}

/**
 * The Redis completion set, built from REDIS_URL as the report service builds it for the admin page, once
 * the connection is up (a producer connection refuses commands before that). Without REDIS_URL there is no
 * Redis where completions could wait, so none.
 */
async function completionSet(
  config: CliConfig,
): Promise<{ set: CompletionSet | undefined; close: () => void }> {
  if (!config.REDIS_URL) return { set: undefined, close: () => {} };
  const redis = createRedis(config.REDIS_URL, 'producer');
  try {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('error', reject);
    });
  } catch (error) {
    redis.disconnect();
    throw new UnreachableError(
      `cannot reach Redis (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Check REDIS_URL`,
    );
  }
  return { set: createCompletionSet(redis, config.QUEUE_PREFIX), close: () => redis.disconnect() };
}

function options<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  spec: T,
  positionals = 0,
) {
  try {
    const parsed = parseArgs({ args, options: spec, allowPositionals: true, strict: true });
    if (parsed.positionals.length > positionals)
      throw new UsageError(`unexpected argument ${parsed.positionals[positionals]}`);
    return parsed;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function required(values: Record<string, unknown>, ...names: string[]): void {
  const missing = names.filter((n) => values[n] === undefined || values[n] === '');
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
}

function date(value: string, name: string): Date {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new UsageError(`--${name} must be a date like 2026-12-31, not '${value}'`);
  }
  // The deadline is the end of that day, UTC.
  return new Date(`${value}T23:59:59Z`);
}

const commands: Record<string, Command> = {
  migrate: {
    usage: 'migrate [--down <n|all>]',
    summary: 'apply pending database migrations (or revert some)',
    needsDb: true,
    async run(args, { db, io }) {
      const { values } = options(args, { down: { type: 'string' } });
      if (values.down !== undefined) {
        const steps = values.down === 'all' ? Infinity : Number(values.down);
        if (!Number.isInteger(steps) && steps !== Infinity)
          throw new UsageError('--down takes a number or all');
        const names = await migrateDown(db(), steps);
        io.out(names.length ? `reverted: ${names.join(', ')}` : 'nothing to revert');
      } else {
        const names = await migrateToLatest(db());
        io.out(names.length ? `applied: ${names.join(', ')}` : 'database is up to date');
      }
      return 0;
    },
  },
  'validate-survey': {
    usage: 'validate-survey <path/to/instrument.yaml>',
    summary: 'check an instrument definition and print a summary',
    needsDb: false,
    async run(args, { io }) {
      const { positionals } = options(args, {}, 1);
      if (!positionals[0]) throw new UsageError('give the path of an instrument file');
      const instrument = await loadInstrument(positionals[0]);
      const items = instrument.competencies.reduce((n, c) => n + c.items.length, 0);
      io.out(
        `${instrument.id} v${instrument.version}: ${instrument.competencies.length} competencies, ${items} items, ` +
          `${instrument.questions.length} open questions — valid (checksum ${instrumentChecksum(instrument).slice(0, 12)})`,
      );
      return 0;
    },
  },
  'seed-demo': {
    usage: 'seed-demo [--again]',
    summary: 'create the demo organisation, programme and responses (--again: remove it and start over)',
    needsDb: true,
    async run(args, { db, io, config }) {
      const { values } = options(args, { again: { type: 'boolean', default: false } });
      if (values.again && (await removeDemo(db()))) io.out('removed the demo organisation');
      const accounts = await seedDemo({
        db: db(),
        keys: deriveKeys(config().APP_SECRET),
        surveyBaseUrl: config().SURVEY_PUBLIC_URL,
        log: io.out,
        release: { anonymityK: config().ANONYMITY_K },
      });
      if (!accounts) {
        io.out('the demo organisation exists already; nothing to do (seed-demo --again starts it over)');
        return 0;
      }
      io.out(`demo ready. Sign in at ${config().REPORT_PUBLIC_URL}/sign-in as:`);
      io.out(`  HR:     ${accounts.hr}`);
      io.out(`  coach:  ${accounts.coach}`);
      io.out(`  leader: ${accounts.leader} (baseline report released)`);
      return 0;
    },
  },
  'create-organisation': {
    usage: 'create-organisation --name <name> --slug <slug> --admin-email <email> --admin-name <name>',
    summary: 'create an organisation and its first HR admin',
    needsDb: true,
    async run(args, { db, io }) {
      const { values } = options(args, {
        name: { type: 'string' },
        slug: { type: 'string' },
        'admin-email': { type: 'string' },
        'admin-name': { type: 'string' },
      });
      required(values, 'name', 'slug', 'admin-email', 'admin-name');
      if (!/^[a-z0-9-]{2,40}$/.test(values.slug!))
        throw new UsageError('--slug: 2-40 lowercase letters, digits or -');
      const organisation = await db()
        .transaction()
        .execute(async (trx) => {
          const org = await organisationRepository.create(trx, { name: values.name!, slug: values.slug! });
          const admin = await personRepository.upsert(trx, {
            organisationId: org.id,
            email: values['admin-email']!,
            name: values['admin-name']!,
          });
          await personRepository.grantRole(trx, admin.id, 'admin');
          await personRepository.grantRole(trx, admin.id, 'hr');
          return org;
        });
      io.out(`organisation ${organisation.slug}: ${organisation.id}`);
      return 0;
    },
  },
  'create-programme': {
    usage:
      'create-programme --org <slug> --name <name> --baseline-closes <YYYY-MM-DD> [--follow-up-closes <YYYY-MM-DD>] [--instrument <path>]',
    summary: 'create a coaching programme with its baseline (and follow-up) cycle',
    needsDb: true,
    async run(args, { db, io }) {
      const { values } = options(args, {
        org: { type: 'string' },
        name: { type: 'string' },
        'baseline-closes': { type: 'string' },
        'follow-up-closes': { type: 'string' },
        instrument: { type: 'string', default: 'surveys/leadership-360/instrument.yaml' },
      });
      required(values, 'org', 'name', 'baseline-closes');
      const baselineCloses = date(values['baseline-closes']!, 'baseline-closes');
      const followUpCloses = values['follow-up-closes']
        ? date(values['follow-up-closes'], 'follow-up-closes')
        : null;
      const organisation = await organisationRepository.findBySlug(db(), values.org!);
      if (!organisation) throw new ValidationError(`no organisation with slug '${values.org}'`);
      const result = await createProgrammeWithCycles(db(), {
        organisationId: organisation.id,
        name: values.name!,
        instrumentFile: values.instrument!,
        baselineClosesAt: baselineCloses,
        followUpClosesAt: followUpCloses,
      });
      io.out(`programme ${result.programme.id}`);
      io.out(`  baseline cycle  ${result.baseline.id} (closes ${values['baseline-closes']})`);
      if (result.followUp)
        io.out(`  follow-up cycle ${result.followUp.id} (closes ${values['follow-up-closes']})`);
      return 0;
    },
  },
  'import-roster': {
    usage: 'import-roster --cycle <id> <roster.csv>',
    summary: 'add leaders, coaches and raters from a CSV (all rows or none)',
    needsDb: true,
    async run(args, { db, io }) {
      const { values, positionals } = options(args, { cycle: { type: 'string' } }, 1);
      required(values, 'cycle');
      if (!positionals[0]) throw new UsageError('give the path of the roster CSV');
      const rows = parseRosterCsv(await readImportFile(positionals[0], IMPORT_FILE_LIMITS.roster));
      const result = await importRoster(db(), { cycleId: values.cycle!, rows });
      io.out(
        `imported ${rows.length} rows: ${result.leaders} leaders, ${result.invitations} invitations (self-assessments included)`,
      );
      return 0;
    },
  },
  'open-cycle': {
    usage: 'open-cycle --cycle <id>',
    summary: 'open a cycle: every rater gets their link by email',
    needsDb: true,
    async run(args, { db, io, config }) {
      const { values } = options(args, { cycle: { type: 'string' } });
      required(values, 'cycle');
      const result = await openCycle(
        { db: db(), keys: deriveKeys(config().APP_SECRET), surveyBaseUrl: config().SURVEY_PUBLIC_URL },
        values.cycle!,
      );
      io.out(`cycle open: ${result.invitations} invitations in ${result.emails} emails queued`);
      return 0;
    },
  },
  remind: {
    usage: 'remind --cycle <id>',
    summary: 'email everyone who has not responded yet',
    needsDb: true,
    async run(args, { db, io, config }) {
      const { values } = options(args, { cycle: { type: 'string' } });
      required(values, 'cycle');
      // Raters whose responses still wait in the completion set are left out, as on the admin page.
      const completions = await completionSet(config());
      const result = await sendReminders(
        {
          db: db(),
          keys: deriveKeys(config().APP_SECRET),
          surveyBaseUrl: config().SURVEY_PUBLIC_URL,
          completions: completions.set,
        },
        values.cycle!,
      ).finally(completions.close);
      io.out(
        `reminders: ${result.reminded.invitations} invitations in ${result.reminded.emails} emails; new raters invited: ${result.invited.invitations}`,
      );
      return 0;
    },
  },
  'close-cycle': {
    usage: 'close-cycle --cycle <id>',
    summary: 'close a cycle: links stop working and final profiles are computed',
    needsDb: true,
    async run(args, { db, io }) {
      const { values } = options(args, { cycle: { type: 'string' } });
      required(values, 'cycle');
      const result = await closeCycle({ db: db() }, values.cycle!);
      io.out(`cycle closed; aggregation queued for ${result.subjects} leaders`);
      return 0;
    },
  },
  'import-responses': {
    usage: 'import-responses --cycle <id> <responses.csv> [--comments <comments.csv>]',
    summary: 'load responses collected elsewhere (long-format CSV), all or nothing, then aggregate',
    needsDb: true,
    async run(args, { db, io }) {
      const { values, positionals } = options(
        args,
        { cycle: { type: 'string' }, comments: { type: 'string' } },
        1,
      );
      required(values, 'cycle');
      if (!positionals[0]) throw new UsageError('give the path of the responses CSV');
      const result = await importResponses(db(), {
        cycleId: values.cycle!,
        responsesCsv: await readImportFile(positionals[0], IMPORT_FILE_LIMITS.responses),
        ...(values.comments
          ? { commentsCsv: await readImportFile(values.comments, IMPORT_FILE_LIMITS.comments) }
          : {}),
      });
      io.out(
        `imported ${result.responses} responses (${result.ratings} ratings, ${result.comments} comments) for ` +
          `${result.subjects} leaders; aggregation is queued`,
      );
      return 0;
    },
  },
  export: {
    usage: 'export --programme <id> [--out <folder>]',
    summary: 'write profiles, changes and cohort statistics as JSON and CSV (never rater-level data)',
    needsDb: true,
    async run(args, { db, io }) {
      const { values } = options(args, {
        programme: { type: 'string' },
        out: { type: 'string', default: 'export' },
      });
      required(values, 'programme');
      const result = await exportProgramme(db(), values.programme!);
      // Cronbach's alpha per cycle and the self-other agreement categories of the cohort roll-up.
      const quality = await cohortQualityExport(db(), values.programme!);
      const dir = path.resolve(values.out!);
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(
        path.join(dir, 'programme.json'),
        JSON.stringify({ ...result.json, ...quality.json }, null, 2) + '\n',
      );
      const files = { ...result.csv, ...quality.csv };
      for (const [name, csv] of Object.entries(files) as [string, string][]) {
        await fs.writeFile(path.join(dir, `${name}.csv`), csv);
      }
      io.out(
        `wrote programme.json, ${Object.keys(files)
          .map((n) => `${n}.csv`)
          .join(', ')} to ${path.relative(process.cwd(), dir) || '.'}`,
      );
      return 0;
    },
  },
  list: {
    usage: 'list',
    summary: 'list organisations, programmes and cycles with their ids',
    needsDb: true,
    async run(_args, { db, io }) {
      const rows = await db()
        .selectFrom('organisations')
        .leftJoin('programmes', 'programmes.organisation_id', 'organisations.id')
        .leftJoin('cycles', 'cycles.programme_id', 'programmes.id')
        .select([
          'organisations.slug',
          'programmes.id as programme_id',
          'programmes.name as programme_name',
          'cycles.id as cycle_id',
          'cycles.name as cycle_name',
          'cycles.status',
        ])
        .orderBy('organisations.slug')
        .orderBy('programmes.created_at')
        .orderBy('cycles.created_at')
        .execute();
      if (rows.length === 0) io.out('no organisations yet');
      for (const r of rows) {
        io.out(
          [
            r.slug,
            r.programme_name ? `${r.programme_name} (${r.programme_id})` : '',
            r.cycle_name ? `${r.cycle_name} [${r.status}] ${r.cycle_id}` : '',
          ]
            .filter(Boolean)
            .join('  ·  '),
        );
      }
      return 0;
    },
  },
};

export function helpText(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.split(' ')[0]!.length));
  return [
    'Usage: pnpm panorama <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `pnpm panorama help <command>` for a command’s options. Configuration comes from the environment',
    '(see README.md); without DATABASE_URL the local embedded Postgres in .data/ is used.',
    '',
    'Exit codes:',
    '  0   done',
    '  1   unexpected error (the message says what)',
    '  2   invalid configuration (each bad environment variable is named)',
    '  64  usage error: unknown command, missing or bad option',
    '  65  bad data: a file, a row or a request that cannot be accepted; nothing was changed',
    '  69  the database (or redis-server for the local start) cannot be reached or started',
  ].join('\n');
}

export function commandNeedsDb(name: string | undefined): boolean {
  return name !== undefined && commands[name]?.needsDb === true;
}

function usageMessage(name: string, command: Command, error: UsageError): string {
  return `panorama ${name}: ${error.message}\nUsage: pnpm panorama ${command.usage}`;
}

/**
 * Parses a command's options without a database: every command parses its options before it first calls
 * `db()` or `config()`, so a run whose `db()` and `config()` stop it there reports a usage error, or
 * nothing. main.ts calls this before it starts the embedded Postgres, so a typo never starts a database.
 * Returns the exit code of a usage error, or null when the command may run.
 */
export async function checkUsage(argv: string[], io: Io): Promise<number | null> {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command || !command.needsDb) return null;
  const stop = () => {
    throw new OptionsParsed();
  };
  try {
    await command.run(args, { io: { out: () => {}, err: () => {} }, env: {}, db: stop, config: stop });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(usageMessage(name!, command, error));
      return USAGE_ERROR;
    }
    // Anything else (a missing file, say) is the real run's to report.
  }
  return null;
}

/** `host:port` of a connection URL: never the user or password. */
function databaseAddress(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** Runs one command; returns the process exit code. Errors go to `io.err`, results to `io.out`. */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  io: Io,
): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0] && commands[args[0]];
    io.out(topic ? `Usage: pnpm panorama ${topic.usage}\n\n${topic.summary}` : helpText());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.err(`panorama: unknown command '${name}'\n\n${helpText()}`);
    return USAGE_ERROR;
  }
  let db: Db | undefined;
  let config: ReturnType<typeof loadConfig<typeof cliEnv>> | undefined;
  const context: Context = {
    io,
    env,
    config: () => (config ??= loadConfig(cliEnv, env, 'panorama')),
    db: () =>
      (db ??= createDb({ connectionString: context.config().DATABASE_URL, max: 4, applicationName: 'cli' })),
  };
  if (command.needsDb) {
    const usage = await checkUsage(argv, io);
    if (usage !== null) return usage;
    try {
      // One round trip before any work: a host that never answers, a port that is not Postgres or a
      // refused password all end here, with one line, instead of as a stack trace from the middle of a
      // migration.
      await sql`select 1`.execute(context.db());
    } catch (error) {
      await db?.destroy();
      if (error instanceof ConfigError) {
        io.err(error.message);
        return CONFIG_ERROR;
      }
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message.split('\n')[0];
      io.err(
        `panorama ${name}: cannot reach the database at ${databaseAddress(context.config().DATABASE_URL)} ` +
          `(${reason}). Check DATABASE_URL; nothing was changed.`,
      );
      return UNAVAILABLE;
    }
  }
  try {
    return await command.run(args, context);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(usageMessage(name, command, error));
      return USAGE_ERROR;
    }
    if (error instanceof ConfigError) {
      io.err(error.message);
      return CONFIG_ERROR;
    }
    if (error instanceof UnreachableError) {
      io.err(`panorama ${name}: ${error.message}; nothing was changed.`);
      return UNAVAILABLE;
    }
    if (error instanceof ValidationError) {
      io.err(`panorama ${name}: ${error.message}`);
      // Some errors (a bad instrument) already list their problems in the message.
      for (const p of error.problems) {
        if (!error.message.includes(p.message)) io.err(`  ${p.path ? `${p.path}: ` : ''}${p.message}`);
      }
      return DATA_ERROR;
    }
    if (error instanceof DomainError) {
      io.err(`panorama ${name}: ${error.message}`);
      return DATA_ERROR;
    }
    const code =
      (error as NodeJS.ErrnoException).code ??
      ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') {
      io.err(
        `panorama ${name}: file not found: ${path.relative(process.cwd(), (error as NodeJS.ErrnoException).path ?? '')}`,
      );
      return DATA_ERROR;
    }
    if (
      code === 'ECONNREFUSED' ||
      code === 'ENOTFOUND' ||
      code === 'ETIMEDOUT' ||
      code === '28P01' ||
      code === '3D000'
    ) {
      io.err(
        `panorama ${name}: cannot reach the database (${code}): ${(error as Error).message}. Check DATABASE_URL; nothing was changed.`,
      );
      return UNAVAILABLE;
    }
    io.err(`panorama ${name}: ${(error as Error).stack ?? String(error)}`);
    return 1;
  } finally {
    await db?.destroy();
  }
}
