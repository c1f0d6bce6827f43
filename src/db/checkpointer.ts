/**
 * WAL checkpoints on a thread of their own, for the SQLite server (`pippin serve`).
 *
 * SQLite appends each commit's pages to its write-ahead log and, by default, the connection that
 * commits past a threshold copies the log back into the database file, fsyncing both: an import's
 * job worker stopped for that ~100 ms every few batches. With this thread running, the server's
 * and the job worker's connections leave checkpoints to it (`checkpoints: 'aside'` in openSqlite)
 * and only run one themselves as a valve, once the log passes CHECKPOINT_VALVE_FRAMES. A
 * 1,000,000-row import: 38.9–43.1 s against 48.0–55.6 s in alternated runs (bench/NOTES.md).
 */
import { startThread, stopThread } from '../core/thread.js';

/** Who checkpoints a connection's WAL: the connection itself past 8,000 frames, or the checkpointer's thread (the connection only past the valve). */
export type Checkpoints = 'inline' | 'aside';

/** Between checkpoints while the log moves, and while it is still. */
export const CHECKPOINT_ACTIVE_MS = 20;
export const CHECKPOINT_IDLE_MS = 200;

/**
 * Frames (pages) after which a writer whose checkpoints are aside runs one itself (~400 MB of log).
 * The thread stays about a batch behind a running import, so the log is never found fully copied
 * when the next batch starts, and cannot start again from its beginning; at the valve the writer
 * finds most of it copied, copies the rest (and fsyncs), and the log then starts again. A shorter
 * log makes reads that miss the page cache cheaper (fewer blocks of its index to look through) but
 * stops the writer more often: 1M re-imports with every name changed took 44.8 and 46.0 s at
 * 100,000 frames, 50.1 and 51.1 s at 40,000, 50.8 and 57.0 s at 12,000 (bench/NOTES.md).
 */
export const CHECKPOINT_VALVE_FRAMES = 100_000;

/**
 * The log file keeps the largest size it reached (~430 MB after a million-row import) and is
 * reused from its start. Once it is all copied and has not moved for WAL_TRUNCATE_STILL_MS, a log
 * file larger than this is emptied, so an idle server gives the space back. An import never stands
 * still that long, so it never pays for a log grown again from nothing.
 */
export const WAL_TRUNCATE_BYTES = 64 * 2 ** 20;
export const WAL_TRUNCATE_STILL_MS = 1_000;

/** What the thread is started with. */
export interface CheckpointerData {
  file: string;
  truncateBytes: number;
}

export interface Checkpointer {
  /** Resolves once the thread has run its first checkpoint. */
  ready: Promise<void>;
  /** Frames in the log and how many of them are copied, as of the thread's last checkpoint. */
  last(): { log: number; checkpointed: number } | null;
  stop(): Promise<void>;
}

/** Starts the checkpointer's thread on the SQLite file `file` (`truncateBytes`: see WAL_TRUNCATE_BYTES). */
export function startCheckpointer(file: string, opts: { truncateBytes?: number } = {}): Checkpointer {
  const workerData: CheckpointerData = { file, truncateBytes: opts.truncateBytes ?? WAL_TRUNCATE_BYTES };
  const thread = startThread(import.meta.url, './checkpointer-thread', {
    workerData,
    // Its work is in SQLite; a small heap keeps the thread's share of the server's RSS small.
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
  });
  let last: { log: number; checkpointed: number } | null = null;
  let started: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    thread.once('error', reject);
  });
  ready.catch(() => {}); // a thread that fails to start leaves the writers' valve; the error is logged
  thread.on('message', (m: { type: string; log?: number; checkpointed?: number; message?: string }) => {
    if (m.type === 'checkpointed') {
      last = { log: m.log!, checkpointed: m.checkpointed! };
      started();
    }
    if (m.type === 'truncated') last = { log: 0, checkpointed: 0 };
    if (m.type === 'error') console.error(`WAL checkpointer: ${m.message} (it tries again; the writers still checkpoint past ${CHECKPOINT_VALVE_FRAMES} frames)`);
  });
  thread.on('error', (e) => console.error('WAL checkpointer:', e));
  thread.unref();
  return {
    ready,
    last: () => last,
    stop: () => stopThread(thread, 5_000),
  };
}
