import type { Page, PageRequest } from '../core/paging.js';
import type { Job, JobCounts, JobError, JobKind, JobStatus } from './model.js';

export interface NewJob {
  id: string;
  kind: JobKind;
  fileId: string;
  fileName: string;
  fileSha256: string;
  idempotencyKey: string | null;
  requestedBy: string | null;
  requestedByLabel: string;
  options: Record<string, unknown>;
  createdAt: string;
}

/** What a runner needs beyond the public shape. */
export interface JobWork {
  job: Job;
  accountId: string;
  fileId: string | null;
  /** Rows up to and including this one (spreadsheet numbering: the header is row 1) are applied. */
  lastRowCommitted: number;
  batches: number;
  options: Record<string, unknown>;
}

export interface BatchCommit {
  lastRow: number;
  processed: number;
  counts: JobCounts;
  /** The batch's lines of the results file (CSV text, no header). */
  resultsCsv: string;
  failedInBatch: number;
  firstRow: number;
}

/** Jobs of the bound account. */
export interface JobStore {
  /**
   * Queues a job. Returns 'ok'; 'import_running' when the account already has a queued or running
   * job (a unique index decides between concurrent callers); 'key_used' when the idempotency key is taken.
   */
  insert(job: NewJob): Promise<'ok' | 'import_running' | 'key_used'>;
  get(id: string): Promise<Job | null>;
  getWork(id: string): Promise<JobWork | null>;
  /** The job created with this idempotency key, and its file's SHA-256, or null. */
  findByIdempotencyKey(key: string): Promise<{ job: Job; fileSha256: string } | null>;
  /** The queued or running job, or null. */
  findActive(): Promise<Job | null>;
  list(filter: { kind?: JobKind; status?: JobStatus }, page: PageRequest): Promise<Page<Job>>;
  /** Asks a queued or running job to stop after its current batch. False when it has finished. */
  requestCancel(id: string): Promise<boolean>;
  /** Records what the pre-scan found: the row count, warnings, and the results file's header. */
  setTotal(id: string, total: number, warnings: string[], resultsHeader: string[]): Promise<void>;
  /** The results file's header (the input columns, then Row, Result, Code, Message). */
  resultsHeader(id: string): Promise<string[]>;
  /** Records a batch: progress, counts, results lines, and the last row applied (all in the caller's transaction). */
  commitBatch(id: string, batch: BatchCommit, at: string): Promise<void>;
  finish(id: string, status: 'succeeded' | 'failed' | 'cancelled', error: JobError | null, at: string): Promise<void>;
  heartbeat(id: string, node: string, at: string): Promise<void>;
  /** Up to `limit` batches of the results file after batch `after`, in order (only those with failures when asked). */
  resultChunks(id: string, after: number, limit: number, onlyFailed: boolean): Promise<{ batch: number; csv: string }[]>;
}

/** Cross-account claim of work (system path "job claim"). */
export interface JobClaims {
  /**
   * Claims the oldest queued job, or a running one whose runner stopped sending heartbeats before
   * `staleBefore` (its process died): marks it running for `node`. Null when there is none. With
   * SKIP LOCKED on PostgreSQL, nodes never claim the same job.
   */
  claimNext(node: string, staleBefore: string, at: string): Promise<{ id: string; accountId: string } | null>;
}
