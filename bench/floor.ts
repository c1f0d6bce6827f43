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
import { normaliseKey } from '../src/core/names.js';
import { nameWords } from '../src/directory/model.js';

/**
 * A database file opened with the settings of Pippin's job worker (WAL, its cache) and the checkpoint
 * interval of a lone connection (8,000 frames): the server's checkpointer thread is job machinery,
 * which the floor leaves out.
 */
function openTuned(file: string): SQLite.Database {
  const db = new SQLite(file);
  for (const p of ['journal_mode = WAL', 'synchronous = NORMAL', `cache_size = -${SQLITE_CACHE_MB.worker * 1024}`, 'wal_autocheckpoint = 8000']) db.pragma(p);
  return db;
}

/** A fresh database with Pippin's tables and indexes and one account, tuned as Pippin tunes SQLite. */
export async function floorDatabase(dir: string): Promise<{ db: SQLite.Database; accountId: string; accountNo: number }> {
  const dbFile = path.join(dir, 'floor.sqlite');
  const d = openSqlite(dbFile);
  await migrate(d.kysely, d.caps);
  await d.close();
  const db = openTuned(dbFile);
  const accountId = uuidv7();
  db.prepare(`insert into accounts (id, account_id, key, name, deployment_mode, default_request_mode, default_domain, default_auth_mode, seamless_enrollment,
    request_expiry_hours, passcode_length, use_email_as_maid, require_genuine_apple_devices, created_at, updated_at)
    values (?, ?, 'floor', 'Floor', 'mdm', 'enrollment', 'example.com', 'passcode', 0, 168, 8, 0, 0, '', '')`).run(accountId, accountId);
  const accountNo = db.prepare('select no from accounts where id = ?').pluck().get(accountId) as number;
  return { db, accountId, accountNo };
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

/**
 * DESIGN.md's reference figures, measured on this machine with the same file: a million rows
 * csv-parsed into a bare table (the design's machine: 6–9 s), into a lean users table — UUIDv7
 * keys, unique username and MAID keys (~13 s) — and with search indexes on email and name words
 * (~26 s). Printed beside the budgets, they say how fast this machine is against the one the
 * budgets were set on, and how much heavier Pippin's own schema (the floor) is than the design's.
 */
export async function referenceTimes(dir: string, file: string): Promise<{ bareSeconds: number; leanSeconds: number; searchSeconds: number }> {
  const open = (name: string) => openTuned(path.join(dir, `${name}.sqlite`));
  const bare = open('bare');
  bare.exec('create table t (username text, email text, full_name text, maid text)');
  const row = bare.prepare('insert into t values (?, ?, ?, ?)');
  const bareSeconds = await timeCsvBatches(bare, file, (rows) => {
    for (const r of rows) row.run(r[0], r[1], r[2], r[3] || null);
  });
  bare.close();
  const users = async (search: boolean) => {
    const db = open(search ? 'search' : 'lean');
    db.exec('create table users (id text primary key, username text not null, username_key text not null, email text not null, email_key text not null, full_name text not null, maid text, maid_key text)');
    db.exec('create unique index users_username on users (username_key)');
    db.exec('create unique index users_maid on users (maid_key)');
    if (search) {
      db.exec('create index users_email on users (email_key)');
      db.exec('create table name_words (word text not null, user_id text not null, primary key (word, user_id)) without rowid');
    }
    const user = db.prepare('insert into users values (?, ?, ?, ?, ?, ?, ?, ?)');
    const word = search ? db.prepare('insert into name_words values (?, ?)') : null;
    const seconds = await timeCsvBatches(db, file, (rows) => {
      for (const r of rows) {
        const id = uuidv7();
        const maid = r[3] || null;
        user.run(id, r[0], normaliseKey(r[0]!), r[1], normaliseKey(r[1]!), r[2], maid, maid && normaliseKey(maid));
        if (word) for (const w of nameWords(r[2]!)) word.run(w, id);
      }
    });
    db.close();
    return seconds;
  };
  const leanSeconds = await users(false);
  const searchSeconds = await users(true);
  const round = (s: number) => Number(s.toFixed(1));
  return { bareSeconds: round(bareSeconds), leanSeconds: round(leanSeconds), searchSeconds: round(searchSeconds) };
}
