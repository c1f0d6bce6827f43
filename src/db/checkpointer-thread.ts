/**
 * The WAL checkpointer's thread (see checkpointer.ts): copies committed pages from SQLite's
 * write-ahead log back into the database file with a connection of its own, so the connection
 * that writes an import never stops for the copy or its two fsyncs.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { CHECKPOINT_ACTIVE_MS, CHECKPOINT_IDLE_MS, WAL_TRUNCATE_STILL_MS, type CheckpointerData } from './checkpointer.js';

const { file, truncateBytes } = workerData as CheckpointerData;
const db = new SQLite(file);
db.pragma('synchronous = NORMAL'); // as the writers: the WAL and the database are synced at each checkpoint
db.pragma('cache_size = -512'); // a checkpoint reads frames from the log, not through the page cache

let last = { log: -1, checkpointed: -1 };
let movedAt = Date.now();
let timer: NodeJS.Timeout | undefined;
let stopped = false;
let lastError = '';

/** One PASSIVE checkpoint: it copies what no reader still needs, never waits for a lock, and blocks no writer. */
function tick(): void {
  let moved = false;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    moved = r!.log !== last.log || r!.checkpointed !== last.checkpointed;
    if (moved) parentPort?.postMessage({ type: 'checkpointed', log: r!.log, checkpointed: r!.checkpointed });
    last = { log: r!.log, checkpointed: r!.checkpointed };
    if (moved) movedAt = Date.now();
    else if (r!.log === r!.checkpointed && Date.now() - movedAt >= WAL_TRUNCATE_STILL_MS && walBytes() > truncateBytes) truncate();
  } catch (e) {
    // An I/O error: the next tick tries again, and the writers' own valve still bounds the log.
    // Said once, not at every tick.
    const message = (e as Error).message;
    if (message !== lastError) parentPort?.postMessage({ type: 'error', message });
    lastError = message;
  }
  if (!stopped) timer = setTimeout(tick, moved ? CHECKPOINT_ACTIVE_MS : CHECKPOINT_IDLE_MS);
}

/** The log file's size: it keeps the largest size it reached, as SQLite reuses it from its start. */
function walBytes(): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

/**
 * Once the log is all copied and has stood still a while, gives its disk space back: a TRUNCATE
 * checkpoint (nothing left to copy) empties the file. It needs a moment with no reader in the log
 * and no writer; without a busy handler it does not wait for one, and tries again at a later tick.
 */
function truncate(): void {
  const [t] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  if (!t!.busy) {
    last = { log: 0, checkpointed: 0 };
    parentPort?.postMessage({ type: 'truncated' });
  }
}

parentPort?.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort?.postMessage({ type: 'stopped' });
});
tick();
