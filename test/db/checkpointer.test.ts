/**
 * The WAL checkpointer's thread: connections whose checkpoints are aside leave the copying to it
 * (their own automatic checkpoint only a valve far out), and the thread copies every committed
 * frame back into the database file, then stops cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openSqlite, sqliteFile, type Database } from '../../src/db/database.js';
import { createPippin } from '../../src/main.js';
import { CHECKPOINT_VALVE_FRAMES, startCheckpointer, WAL_TRUNCATE_STILL_MS, type Checkpointer } from '../../src/db/checkpointer.js';
import { tempDir, testConfig } from '../support/db.js';

/** Pages in the write-ahead log: its size over a frame's (a 24-byte header and a 4,096-byte page). */
const walFrames = (file: string) => Math.max(0, (fs.statSync(`${file}-wal`).size - 32) / (24 + 4096));

/**
 * Rows of `t` in the database file itself, without its log (read from a copy of the file alone); null
 * before the table is there. While a checkpoint may be writing pages into the file, a copy can be
 * torn and read as malformed (the file is only whole between checkpoints): `polling` reads that as
 * null too, for a caller that asks again.
 */
function rowsInFile(file: string, polling = false): number | null {
  const copy = path.join(path.dirname(file), `copy-${Math.random().toString(36).slice(2)}.sqlite`);
  fs.copyFileSync(file, copy);
  const db = new SQLite(copy);
  try {
    const t = db.prepare("select 1 from sqlite_master where name = 't'").get();
    return t ? (db.prepare('select count(*) n from t').get() as { n: number }).n : null;
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (polling && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) return null;
    throw e;
  } finally {
    db.close();
    for (const f of [copy, `${copy}-wal`, `${copy}-shm`]) fs.rmSync(f, { force: true });
  }
}

const autocheckpoint = async (d: Database) => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(d.kysely)).rows[0]!.wal_autocheckpoint;

async function until<T>(what: () => T | null | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the WAL checkpointer', () => {
  let db: Database | null = null;
  let checkpointer: Checkpointer | null = null;
  afterEach(async () => {
    await checkpointer?.stop();
    await db?.close();
    checkpointer = null;
    db = null;
  });

  it('leaves a connection with checkpoints aside only the valve, and an inline one its usual threshold', async () => {
    const dir = tempDir();
    for (const [checkpoints, frames] of [['aside', CHECKPOINT_VALVE_FRAMES], ['inline', 8000]] as const) {
      const d = openSqlite(path.join(dir, `${checkpoints}.sqlite`), { checkpoints });
      expect(await autocheckpoint(d)).toBe(frames);
      await d.close();
    }
  });

  it('copies every committed frame back while the writer goes on, and stops', async () => {
    const file = path.join(tempDir(), 'pippin.sqlite');
    db = openSqlite(file, { checkpoints: 'aside' });
    await db.kysely.schema.createTable('t').addColumn('v', 'text').execute();
    // ~2 MB of rows: several hundred frames, none copied by the writer (its valve is far out).
    for (let b = 0; b < 4; b++) {
      await db.kysely.transaction().execute(async (tx) => {
        for (let i = 0; i < 500; i++) await tx.insertInto('t' as never).values({ v: 'x'.repeat(1000) } as never).execute();
      });
    }
    expect(walFrames(file)).toBeGreaterThan(400);
    expect(rowsInFile(file)).toBeNull(); // nothing copied back yet

    checkpointer = startCheckpointer(file);
    await checkpointer.ready;
    // The writer goes on meanwhile: each checkpoint copies what was committed when it began.
    await db.kysely.insertInto('t' as never).values({ v: 'after' } as never).execute();
    await until(() => rowsInFile(file, true) === 2001);
    const last = await until(() => checkpointer!.last());
    expect(last.checkpointed).toBeGreaterThan(0);

    await checkpointer.stop();
    await checkpointer.stop(); // twice is harmless
    checkpointer = null;
  });

  it('empties a large log once it is all copied and still, and the database goes on as before', async () => {
    const file = path.join(tempDir(), 'pippin.sqlite');
    db = openSqlite(file, { checkpoints: 'aside' });
    await db.kysely.schema.createTable('t').addColumn('v', 'text').execute();
    const fill = async (n: number) =>
      db!.kysely.transaction().execute(async (tx) => {
        for (let i = 0; i < n; i++) await tx.insertInto('t' as never).values({ v: 'x'.repeat(1000) } as never).execute();
      });
    await fill(2000); // ~2 MB of log
    const size = () => fs.statSync(`${file}-wal`).size;
    expect(size()).toBeGreaterThan(1_000_000);

    // A limit above the log's size: copied, never emptied (two seconds still is twice the wait).
    checkpointer = startCheckpointer(file, { truncateBytes: 4 * 2 ** 20 });
    await until(() => rowsInFile(file, true) === 2000);
    await new Promise((r) => setTimeout(r, 2 * WAL_TRUNCATE_STILL_MS));
    expect(size()).toBeGreaterThan(1_000_000);
    await checkpointer.stop();

    // Below it: emptied once the log has stood still, and the database goes on from an empty log.
    checkpointer = startCheckpointer(file, { truncateBytes: 256 * 1024 });
    await until(() => size() === 0);
    await until(() => checkpointer!.last()?.log === 0); // the thread's message follows the truncation
    expect(rowsInFile(file)).toBe(2000);
    await fill(10);
    expect(Number((await sql<{ n: number }>`select count(*) as n from t`.execute(db.kysely)).rows[0]!.n)).toBe(2010);
    await until(() => rowsInFile(file, true) === 2010);
  });

  it('runs beside a SQLite server with its job worker thread, and the log is folded back when the server stops', async () => {
    const config = await testConfig('sqlite');
    const pippin = await createPippin(config, { jobs: 'worker', logger: false });
    try {
      expect(await autocheckpoint(pippin.db)).toBe(CHECKPOINT_VALVE_FRAMES);
      await pippin.db.kysely.schema.createTable('t').addColumn('v', 'text').execute();
      expect(fs.existsSync(`${sqliteFile(config.dataDir)}-wal`)).toBe(true);
    } finally {
      await pippin.close();
    }
    expect(fs.existsSync(`${sqliteFile(config.dataDir)}-wal`)).toBe(false);
    expect(rowsInFile(sqliteFile(config.dataDir))).toBe(0);
  });
});
