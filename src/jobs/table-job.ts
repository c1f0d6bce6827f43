/**
 * The run of every file import (Bulk Import Users, Bulk Add): a pre-scanned table's rows read in
 * order and applied in short batches by the feature's `applyBatch`. Each batch — its writes, its
 * lines of the results file, the job's progress and the last row applied — commits in one
 * transaction, so a resumed job applies no row twice, and a batch the database fails is tried
 * again whole.
 */
import { csvText } from '../bulk/writers.js';
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import { mapHeader, type ColumnSpec, type HeaderMap } from '../bulk/columns.js';
import type { FileRow } from '../bulk/reader.js';
import { openTable, type Table, type TableLimits } from '../bulk/table.js';
import type { Account } from '../accounts/model.js';
import type { Stores, UnitOfWork } from '../stores.js';
import { isTransient, withRetry } from '../db/database.js';
import { emptyCounts, type JobCounts, type JobError } from './model.js';
import type { JobWork } from './store.js';

/**
 * Rows per batch (one transaction each). Large enough that a million-row import commits a hundred
 * times, not a thousand (each commit writes every index page the batch touched), small enough that
 * a batch takes well under a second: cancel, progress and resume stay close.
 */
export const IMPORT_BATCH_ROWS = 10_000;

/** A batch also ends once its cells hold this many characters, so a file of long rows keeps the job's memory small. */
export const IMPORT_BATCH_CHARS = 4_000_000;

/** Five more tries over about 30 seconds (1, 2, 4, 8 and 16 s). */
export const BATCH_RETRY = { tries: 5, firstWaitMs: 1000 };

export type ImportLimits = TableLimits;

export type ImportEnd = { status: 'succeeded' | 'cancelled' } | { status: 'failed'; error: JobError };

export interface RowIssue {
  code: string;
  message: string;
}

/** What became of one row. `result` names a count (`Created` counts as `created`); `extra` fills the kind's extra results columns. */
export type RowOutcome = { result: 'Created' | 'Updated' | 'Unchanged' | 'Refreshed'; extra?: string[]; note?: string } | { result: 'Failed'; issues: RowIssue[] };

export const failedRow = (code: string, message: string): RowOutcome => ({ result: 'Failed', issues: [{ code, message }] });

/** What a kind of import brings to the run: its columns, and how a batch of rows is applied. */
export interface TableJobKind<K extends string> {
  columns: readonly ColumnSpec<K>[];
  /** Results columns after the input columns and before Row (e.g. Bulk Add's enrollment URL). */
  extraResultColumns?: readonly string[];
  /** Refuses a file by its name before it is read (e.g. Bulk Add takes no workbooks); null when it may be read. */
  refuseFile?: (fileName: string) => JobError | null;
  /** Applies rows in the caller's transaction; one outcome per row, in order. */
  applyBatch(s: Stores, rows: FileRow[], header: HeaderMap<K>, account: Account, jobId: string): Promise<RowOutcome[]>;
}

export interface ImportContext {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
  limits: ImportLimits;
  /** A local path to the job's file. */
  filePath: string;
  work: JobWork;
  /** Rows per batch (default IMPORT_BATCH_ROWS; tests use small batches to see several). */
  batchRows?: number;
  /** Called after each committed batch (tests use it to stop a runner mid-job). */
  afterBatch?: (batch: number) => Promise<void> | void;
  /** A batch the database failed is rolled back and tried again this many times, waiting `firstWaitMs`, doubling. */
  retry?: { tries: number; firstWaitMs: number };
}

/** Runs (or resumes) an import to its end. File-level problems fail the job and change nothing. */
export async function runTableJob<K extends string>(ctx: ImportContext, kind: TableJobKind<K>): Promise<ImportEnd> {
  const { uow, clock, work } = ctx;
  const jobId = work.job.id;
  const accountId = work.accountId;
  const refused = kind.refuseFile?.(work.job.fileName);
  if (refused) return { status: 'failed', error: refused };
  let scan: Table;
  let header: HeaderMap<K>;
  try {
    scan = await openTable(ctx.filePath, work.job.fileName, ctx.limits);
    header = mapHeader(scan.header, kind.columns);
  } catch (e) {
    if (e instanceof AppError) return { status: 'failed', error: { code: e.code, message: e.message, line: (e.details?.line as number | null) ?? null } };
    throw e;
  }
  const extra = kind.extraResultColumns ?? [];
  const warnings = [...scan.warnings];
  if (header.unknown.length) warnings.push(`Columns ignored (not part of the format): ${header.unknown.join(', ')}`);
  if (work.job.progress.total === null) {
    await uow.inAccount(accountId, (s) => s.jobs.setTotal(jobId, scan.rows, warnings, [...scan.header, ...extra, 'Row', 'Result', 'Code', 'Message']));
  }

  const batchRows = ctx.batchRows ?? IMPORT_BATCH_ROWS;
  let batch: FileRow[] = [];
  let batchChars = 0;
  let batchNo = work.batches;
  const flush = async (): Promise<'go' | 'cancel' | { fail: JobError }> => {
    if (!batch.length) return 'go';
    const rows = batch;
    batch = [];
    batchChars = 0;
    const commit = () =>
      uow.inAccount(accountId, async (s) => {
        const job = await s.jobs.get(jobId);
        if (!job || job.cancelRequested) return true;
        // A try whose COMMIT reached the database although its connection then failed: done already.
        if ((await s.jobs.committedThrough(jobId)) >= rows[rows.length - 1]!.row) return false;
        const account = (await s.account.get())!;
        const counts: JobCounts = emptyCounts();
        const lines: string[][] = [];
        let failed = 0;
        const outcomes = await kind.applyBatch(s, rows, header, account, jobId);
        for (const [i, row] of rows.entries()) {
          const outcome = outcomes[i]!;
          counts[outcome.result.toLowerCase() as keyof JobCounts]++;
          const cells = header.headers.map((_, c) => row.cells[c] ?? '');
          if (outcome.result === 'Failed') {
            failed++;
            const codes = outcome.issues.map((x) => x.code).join(';');
            lines.push([...cells, ...extra.map(() => ''), String(row.row), 'Failed', codes, outcome.issues.map((x) => x.message).join('; ')]);
          } else {
            lines.push([...cells, ...extra.map((_, e) => outcome.extra?.[e] ?? ''), String(row.row), outcome.result, '', outcome.note ?? '']);
          }
        }
        await s.jobs.commitBatch(
          jobId,
          { firstRow: rows[0]!.row, lastRow: rows[rows.length - 1]!.row, processed: rows.length, counts, resultsCsv: csvText(lines), failedInBatch: failed },
          clock.now().toISOString(),
        );
        return false;
      });
    const retry = ctx.retry ?? BATCH_RETRY;
    let stop: boolean;
    try {
      // A failed transaction rolled back whole: nothing of this batch is applied, so it can run again.
      stop = await withRetry(commit, { when: isTransient, retries: retry.tries, firstWaitMs: retry.firstWaitMs });
    } catch (e) {
      if (!isTransient(e)) throw e;
      const first = rows[0]!.row;
      return {
        fail: {
          code: 'DATABASE_UNAVAILABLE',
          message: `The database failed while applying rows ${first}–${rows[rows.length - 1]!.row} (${retry.tries + 1} tries: ${(e as Error).message}). Rows before row ${first} are applied and in the results; import the file again to apply the rest.`,
          line: first,
        },
      };
    }
    if (stop) return 'cancel';
    batchNo++;
    await ctx.afterBatch?.(batchNo);
    return 'go';
  };

  const ended = (step: Awaited<ReturnType<typeof flush>>): ImportEnd | null =>
    step === 'go' ? null : step === 'cancel' ? { status: 'cancelled' } : { status: 'failed', error: step.fail };
  for await (const rows of scan.read()) {
    for (const row of rows) {
      if (row.row <= work.lastRowCommitted) continue; // applied before a restart
      batch.push(row);
      for (const cell of row.cells) if (cell) batchChars += cell.length; // a workbook row may have holes
      if (batch.length >= batchRows || batchChars >= IMPORT_BATCH_CHARS) {
        const end = ended(await flush());
        if (end) return end;
      }
    }
  }
  return ended(await flush()) ?? { status: 'succeeded' };
}
