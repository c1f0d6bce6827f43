/**
 * The raw floor every import benchmark prints itself beside: Pippin's own schema (migrated), one
 * account, then csv-parse straight into better-sqlite3 prepared statements in transactions of as many
 * rows as Pippin's import batches — no validation, no job machinery.
 */
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { parse } from 'csv-parse';
import { v7 as uuidv7 } from 'uuid';
import { openSqlite } from '../src/db/database.js';
import { migrate } from '../src/db/migrations.js';
import { IMPORT_BATCH_ROWS } from '../src/jobs/table-job.js';
import { SQLITE_CACHE_MB } from '../src/db/open.js';

/** A fresh database with Pippin's tables and indexes and one account, tuned as Pippin tunes SQLite. */
export async function floorDatabase(dir: string): Promise<{ db: SQLite.Database; accountId: string }> {
  const dbFile = path.join(dir, 'floor.sqlite');
  const d = openSqlite(dbFile);
  await migrate(d.kysely, d.caps);
  await d.close();
  const db = new SQLite(dbFile);
  for (const p of ['journal_mode = WAL', 'synchronous = NORMAL', `cache_size = -${SQLITE_CACHE_MB.worker * 1024}`, 'wal_autocheckpoint = 8000']) db.pragma(p);
  const accountId = uuidv7();
  db.prepare(`insert into accounts (id, account_id, key, name, deployment_mode, default_request_mode, default_domain, default_auth_mode, seamless_enrollment,
    request_expiry_hours, passcode_length, use_email_as_maid, require_genuine_apple_devices, created_at, updated_at)
    values (?, ?, 'floor', 'Floor', 'mdm', 'enrollment', 'example.com', 'passcode', 0, 168, 8, 0, 0, '', '')`).run(accountId, accountId);
  return { db, accountId };
}

/** Seconds to read the CSV's data rows and hand them to `write` a batch at a time (Pippin's batch size), each call one transaction. */
export async function timeCsvBatches(db: SQLite.Database, file: string, write: (rows: string[][]) => void): Promise<number> {
  const flush = db.transaction(write);
  const t0 = performance.now();
  let batch: string[][] = [];
  for await (const r of fs.createReadStream(file).pipe(parse({ from_line: 2 }))) {
    batch.push(r as string[]);
    if (batch.length === IMPORT_BATCH_ROWS) {
      flush(batch);
      batch = [];
    }
  }
  flush(batch);
  return (performance.now() - t0) / 1000;
}
