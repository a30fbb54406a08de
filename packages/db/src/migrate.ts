import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  Migrator,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
} from 'kysely';

const migrationsDir = path.join(import.meta.dirname, 'migrations');

/** Loads the dated migration files in name order; they import nothing from app code. */
class DirectoryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await fs.readdir(migrationsDir))
      .filter((f) => /^\d{4}-\d{2}-\d{2}T\d{4}-.+\.ts$/.test(f))
      .sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      migrations[file.replace(/\.ts$/, '')] = (await import(
        pathToFileURL(path.join(migrationsDir, file)).href
      )) as Migration;
    }
    return migrations;
  }
}

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

function check(result: MigrationResultSet, direction: string): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new MigrationError(`migration ${direction} failed${failed ? ` at ${failed}` : ''}: ${cause}`, {
      cause: result.error,
    });
  }
  return (result.results ?? []).map((r) => r.migrationName);
}

function migrator(db: Kysely<any>) {
  return new Migrator({ db, provider: new DirectoryMigrationProvider() });
}

/** Applies every pending migration, each in its own transaction; returns the names applied. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return check(await migrator(db).migrateToLatest(), 'up');
}

/** Reverts `steps` migrations (all of them with `Infinity`); returns the names reverted. */
export async function migrateDown(db: Kysely<any>, steps = 1): Promise<string[]> {
  const m = migrator(db);
  const reverted: string[] = [];
  for (let i = 0; i < steps; i++) {
    const names = check(await m.migrateDown(), 'down');
    if (names.length === 0) break;
    reverted.push(...names);
  }
  return reverted;
}
