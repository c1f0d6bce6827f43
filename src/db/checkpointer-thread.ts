/**
 * The WAL checkpointer's thread (see checkpointer.ts): copies committed pages from SQLite's
 * write-ahead log back into the database file with a connection of its own, so the connection
 * that writes an import never stops for the copy or its two fsyncs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { CHECKPOINT_ACTIVE_MS, CHECKPOINT_IDLE_MS } from './checkpointer.js';

const db = new SQLite((workerData as { file: string }).file);
db.pragma('synchronous = NORMAL'); // as the writers: the WAL and the database are synced at each checkpoint
db.pragma('cache_size = -512'); // a checkpoint reads frames from the log, not through the page cache

let last = { log: -1, checkpointed: -1 };
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
  } catch (e) {
    // An I/O error: the next tick tries again, and the writers' own valve still bounds the log.
    // Said once, not at every tick.
    const message = (e as Error).message;
    if (message !== lastError) parentPort?.postMessage({ type: 'error', message });
    lastError = message;
  }
  if (!stopped) timer = setTimeout(tick, moved ? CHECKPOINT_ACTIVE_MS : CHECKPOINT_IDLE_MS);
}

parentPort?.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort?.postMessage({ type: 'stopped' });
});
tick();
