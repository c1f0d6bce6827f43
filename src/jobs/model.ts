/** Durable jobs (imports), in domain words. */

export const JOB_KINDS = ['users_import', 'enrollment_bulk_add'] as const;
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobCounts {
  created: number;
  updated: number;
  unchanged: number;
  refreshed: number;
  failed: number;
}

export interface JobError {
  code: string;
  message: string;
  line: number | null;
}

export interface Job {
  id: string;
  kind: JobKind;
  /** `succeeded` means the file was processed, even if rows failed; `failed` means it was refused or processing broke. */
  status: JobStatus;
  fileName: string;
  progress: { processed: number; total: number | null };
  counts: JobCounts;
  warnings: string[];
  error: JobError | null;
  requestedBy: { id: string | null; label: string };
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export const emptyCounts = (): JobCounts => ({ created: 0, updated: 0, unchanged: 0, refreshed: 0, failed: 0 });

export const isFinished = (s: JobStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
