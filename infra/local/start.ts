import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { RedisServerMissingError } from '@panorama/jobs';
import { createDb } from '@panorama/db';
import { runCli } from '../cli/commands.ts';
import { DEMO_ACCOUNTS } from '../demo/people.ts';
import { DEMO_SLUG_INCOMPLETE } from '../demo/seed.ts';
import { shownPath, startLocalInfrastructure } from './stack.ts';

// `pnpm start`: Postgres and Redis (embedded unless DATABASE_URL / REDIS_URL are set), migrations, the demo
// on first start (or afresh with --demo), then the survey service, the report service and the worker as child
// processes, exactly as they run one by one in production. Ctrl-C stops all of it.
const root = path.resolve(import.meta.dirname, '../..');
const SERVICES = [
  { name: 'survey', entry: 'services/survey/src/server.ts' },
  { name: 'report', entry: 'services/report/src/server.ts' },
  { name: 'worker', entry: 'services/worker/src/main.ts' },
] as const;

const wantDemo = process.argv.includes('--demo');
const io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) };

let infra;
try {
  infra = await startLocalInfrastructure({ needRedis: true, publish: true, log: io.out });
} catch (error) {
  io.err(
    error instanceof RedisServerMissingError
      ? error.message
      : `panorama: could not start: ${(error as Error).message}`,
  );
  process.exit(69);
}
const env: Record<string, string> = {
  SURVEY_PUBLIC_URL: `http://localhost:${process.env.SURVEY_PORT ?? 3001}`,
  REPORT_PUBLIC_URL: `http://localhost:${process.env.REPORT_PORT ?? 3002}`,
  ...infra.env,
};

const children = new Map<string, ChildProcess>();
let stopping = false;

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  io.out('\nstopping Panorama…');
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  await infra!.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('exit', () => {
  for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
});

if ((await runCli(['migrate'], env, io)) !== 0) await shutdown(1);
const db = createDb({ connectionString: env.DATABASE_URL!, max: 1 });
const empty = (await db.selectFrom('organisations').select('id').limit(1).execute()).length === 0;
// A demo that an interrupted seed left unfinished is made again rather than left half there.
const unfinished =
  (await db.selectFrom('organisations').select('id').where('slug', '=', DEMO_SLUG_INCOMPLETE).execute())
    .length > 0;
await db.destroy();
if (wantDemo || empty || unfinished) {
  // --demo starts the demo over: the demo organisation is removed and seeded again (other data stays).
  if ((await runCli(['seed-demo', ...(wantDemo ? ['--again'] : [])], env, io)) !== 0) await shutdown(1);
}

for (const service of SERVICES) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, service.entry)], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Their own process group: Ctrl-C reaches only this launcher, which stops each service once, in order,
    // instead of every process getting the terminal's signal and a second one from here.
    detached: true,
  });
  children.set(service.name, child);
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => io.out(`[${service.name}] ${line}`));
  }
  child.on('exit', (code, signal) => {
    if (stopping) return;
    io.err(`[${service.name}] stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping the rest`);
    void shutdown(1);
  });
}

io.out(
  [
    '',
    'Panorama is running:',
    `  reports and admin  ${env.REPORT_PUBLIC_URL}`,
    `  rater survey       ${env.SURVEY_PUBLIC_URL}`,
    ...infra.started.map((s) => `  ${s}`),
    '',
    'Demo sign-in: open the reports URL, choose "Sign in" and enter one of',
    `  ${DEMO_ACCOUNTS.hr} (HR), ${DEMO_ACCOUNTS.coach} (coach),`,
    `  ${DEMO_ACCOUNTS.leader} (leader).`,
    `Without SMTP_URL, emails (sign-in links too) are written to ${shownPath(env.OUTBOX_DIR!)}/ and their links printed here.`,
    'Press Ctrl-C to stop.',
    '',
  ].join('\n'),
);
