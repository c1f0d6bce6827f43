import { Kysely, PostgresDialect } from 'kysely';
import type { Config } from '../config.js';
import { POSTGRES_CAPS } from './caps.js';
import { openPostgres, openSqlite, pgPool, sqliteFile, type Database } from './database.js';
import { migrate } from './migrations.js';
import type { Checkpoints } from './checkpointer.js';

/** Runs migrations as the owner (DATABASE_MIGRATION_URL, else DATABASE_URL, else the SQLite file). */
export async function runMigrations(config: Pick<Config, 'databaseUrl' | 'databaseMigrationUrl' | 'dataDir'>): Promise<string[]> {
  if (!config.databaseUrl) {
    const db = openSqlite(sqliteFile(config.dataDir));
    try {
      return await migrate(db.kysely, db.caps);
    } finally {
      await db.close();
    }
  }
  return migratePostgres(config.databaseMigrationUrl ?? config.databaseUrl, config.databaseUrl);
}

export async function migratePostgres(ownerUrl: string, appUrl: string): Promise<string[]> {
  const owner = new Kysely<any>({ dialect: new PostgresDialect({ pool: pgPool(ownerUrl, 2) }) });
  try {
    const appUser = decodeURIComponent(new URL(appUrl).username || '') || undefined;
    return await migrate(owner, POSTGRES_CAPS, { appLoginUser: appUser });
  } finally {
    await owner.destroy();
  }
}

/** Page cache per SQLite connection: the server thread's and the job worker's. */
export const SQLITE_CACHE_MB = { server: 16, worker: 16 } as const;

/**
 * Migrates, then opens the database Pippin works with, for the server thread or the job worker;
 * on SQLite, `checkpoints: 'aside'` when the server's checkpointer thread runs (checkpointer.ts).
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'databaseMigrationUrl' | 'dataDir'>,
  role: 'server' | 'worker' = 'server',
  opts: { checkpoints?: Checkpoints } = {},
): Promise<Database> {
  await runMigrations(config);
  return config.databaseUrl ? openPostgres(config.databaseUrl) : openSqlite(sqliteFile(config.dataDir), { cacheMb: SQLITE_CACHE_MB[role], checkpoints: opts.checkpoints });
}
