import { RedisServerMissingError } from '@panorama/jobs';
import { runningStack, startLocalInfrastructure } from '../local/stack.ts';
import { checkUsage, commandNeedsDb, runCli } from './commands.ts';

// `pnpm panorama <command>`. In production, DATABASE_URL and APP_SECRET come from the environment. Locally,
// the CLI joins a running `pnpm start`, or starts the embedded Postgres in .data/ for the command's duration.
const argv = process.argv.slice(2);
const io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) };
let env: Record<string, string | undefined> = process.env;
let stop = async () => {};

// Options first: a usage error must not start (or wait for) a database.
const usage = await checkUsage(argv, io);
if (usage !== null) process.exit(usage);

if (commandNeedsDb(argv[0]) && !process.env.DATABASE_URL) {
  const running = await runningStack();
  if (running) {
    env = { ...process.env, ...running };
  } else {
    try {
      const local = await startLocalInfrastructure({ needRedis: false, publish: false, log: io.err });
      env = local.env;
      stop = local.stop;
    } catch (error) {
      io.err(
        error instanceof RedisServerMissingError ? error.message : `panorama: ${(error as Error).message}`,
      );
      process.exit(69);
    }
  }
}

const code = await runCli(argv, env, io);
await stop();
process.exit(code);
