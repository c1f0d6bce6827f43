/**
 * The run of every file import (Bulk Import Users, Bulk Add): a pre-scanned table's rows read in
 * order and applied in short batches by the feature's `applyBatch` (or its `plan` and `writer`).
 * Each batch — its writes, its lines of the results file, the job's progress and the last row applied — commits in one
 * transaction, so a resumed job applies no row twice, and a batch the database fails is tried
 * again whole.
 */
import { csvLine, TextBuffer } from '../bulk/writers.js';
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import { mapHeader, type ColumnSpec, type HeaderMap } from '../bulk/columns.js';
import type { FileRow } from '../bulk/reader.js';
import { openTable, type Table, type TableLimits } from '../bulk/table.js';
import type { Account } from '../accounts/model.js';
import type { Stores, UnitOfWork } from '../stores.js';
import { isConflict, isTransient, withRetry } from '../db/database.js';
import { emptyCounts, type JobCounts, type JobError } from './model.js';
import type { JobWork } from './store.js';

/**
 * Rows per batch (one transaction each). Large enough that a million-row import commits a hundred
 * times, not a thousand (each commit writes every index page the batch touched), small enough that
 * a batch takes well under a second: cancel, progress and resume stay close.
 */
export const IMPORT_BATCH_ROWS = 10_000;

/**
 * Rows planned and written at a time within a batch's transaction, when the batch is planned there
 * (SQLite; a retry). A slice's look-ups, decisions and statement rows then die young, instead of a
 * whole batch's outliving the young generation's collections and filling the old one at every
 * batch (a 1M re-import's job worker ran a full collection for each of its batches). A later
 * slice's plan reads what the earlier ones wrote, as a batch reads those before it.
 */
export const PLAN_SLICE_ROWS = 1_000;

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

/** What every kind of import brings to the run: its columns and results columns. */
interface KindBase<K extends string> {
  columns: readonly ColumnSpec<K>[];
  /** Results columns after the input columns and before Row (e.g. Bulk Add's enrollment URL). */
  extraResultColumns?: readonly string[];
  /** Refuses a file by its name before it is read (e.g. Bulk Add takes no workbooks); null when it may be read. */
  refuseFile?: (fileName: string) => JobError | null;
}

/** A kind that applies a batch in one step. */
export interface AppliesBatches<K extends string> extends KindBase<K> {
  /** Applies rows in the caller's transaction; one outcome per row, in order. */
  applyBatch(s: Stores, rows: FileRow[], header: HeaderMap<K>, account: Account, jobId: string): Promise<RowOutcome[]>;
}

/**
 * A kind that plans a batch (reads and decides), then writes the plan. The run can then decide
 * the next batch while this one is written, where the database works in a server process of its
 * own (`planAhead`); elsewhere both steps run in the batch's transaction.
 */
export interface PlansBatches<K extends string, P> extends KindBase<K> {
  /**
   * Reads and decides a batch, writing nothing. `previous` is the plan of the batch before while
   * that batch is still being written (its writes are not yet visible); null when every earlier
   * batch is committed.
   */
  plan(s: Stores, rows: FileRow[], header: HeaderMap<K>, account: Account, jobId: string, previous: P | null): Promise<P>;
  /**
   * What a plan decided for its rows, one outcome per row: writing the plan does exactly that, or
   * throws. (So a plan made ahead has its results lines made while the batch before is written.)
   */
  outcomes(plan: P): RowOutcome[];
  /**
   * Writes a batch in the caller's transaction: `write` each plan (the batch's, or each slice's in
   * turn: see PLAN_SLICE_ROWS), then `end`, which writes what the plans' writes held back to the
   * batch's end (such as index rows best written once, in key order). Throws RowChanged when the
   * database is no longer as a plan read it; the batch is then rolled back and planned again in its
   * own transaction (and the next batch's plan, made from this one meanwhile, is made again).
   */
  writer(s: Stores): { write(plan: P): Promise<void>; end(): Promise<void> };
}

/** What became of a batch's rows: the counts, the failures, and the results file's lines. */
class Tally {
  readonly counts: JobCounts = emptyCounts();
  failed = 0;
  private readonly lines = new TextBuffer();

  /** `width`: the header's columns; `extra`: how many extra results columns the kind has. */
  constructor(
    private readonly width: number,
    private readonly extra: number,
  ) {}

  /**
   * Counts what became of these rows and adds their lines: each row's cells as read (as many as
   * the header has), then what became of it.
   */
  add(rows: FileRow[], outcomes: RowOutcome[]): this {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const outcome = outcomes[i]!;
      this.counts[outcome.result.toLowerCase() as keyof JobCounts]++;
      const tail: string[] = [];
      for (let e = 0; e < this.extra; e++) tail.push(outcome.result === 'Failed' ? '' : (outcome.extra?.[e] ?? ''));
      if (outcome.result === 'Failed') {
        this.failed++;
        tail.push(String(row.row), 'Failed', outcome.issues.map((x) => x.code).join(';'), outcome.issues.map((x) => x.message).join('; '));
      } else {
        tail.push(String(row.row), outcome.result, '', outcome.note ?? '');
      }
      this.lines.append(csvLine(row.cells, this.width, tail));
    }
    return this;
  }

  text(): string {
    return this.lines.text();
  }
}

/** What a kind of import brings to the run: its columns, and how a batch of rows is applied. */
export type TableJobKind<K extends string, P = never> = AppliesBatches<K> | PlansBatches<K, P>;

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
  /** Rows per slice of a batch planned in its transaction (default PLAN_SLICE_ROWS; tests use small slices to see several). */
  sliceRows?: number;
  /** Called after each committed batch (tests use it to stop a runner mid-job). */
  afterBatch?: (batch: number) => Promise<void> | void;
  /** A batch the database failed is rolled back and tried again this many times, waiting `firstWaitMs`, doubling. */
  retry?: { tries: number; firstWaitMs: number };
  /**
   * The database works in a server process, so a kind that plans has its next batch decided (in a
   * transaction of its own that only reads) while the batch before is written. Batches still commit one
   * at a time, in order.
   */
  planAhead?: boolean;
}

/** Runs (or resumes) an import to its end. File-level problems fail the job and change nothing. */
export async function runTableJob<K extends string, P>(ctx: ImportContext, kind: TableJobKind<K, P>): Promise<ImportEnd> {
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
  const sliceRows = ctx.sliceRows ?? PLAN_SLICE_ROWS;
  const retry = ctx.retry ?? BATCH_RETRY;
  const tally = () => new Tally(header.headers.length, extra.length);
  /** A plan made ahead: outside the batch's transaction, in one of its own that only reads, with what it decided tallied. */
  type Planned = { plan: P; tally: Tally };
  const planOutside =
    'plan' in kind && ctx.planAhead
      ? async (rows: FileRow[], previous: P | null): Promise<Planned> => {
          const plan = await uow.inAccount(accountId, async (s) => kind.plan(s, rows, header, (await s.account.get())!, jobId, previous));
          return { plan, tally: tally().add(rows, kind.outcomes(plan)) };
        }
      : null;

  type Step = 'go' | 'cancel' | { fail: JobError };
  /**
   * Applies one batch: its writes, results lines, progress and last row in one transaction, tried
   * again whole when the database fails. `planned` is its plan when made already (`planAhead`).
   * Says whether the batch was written as `planned` said (false when it had to be planned again).
   */
  const apply = async (rows: FileRow[], planned: Planned | null): Promise<{ step: Step; asPlanned: boolean }> => {
    // The plan made outside is for the first try only: a try that runs again (the plan's reads were
    // out of date, or the database failed) decides from what is written by then.
    let outside = planned;
    let asPlanned = true;
    const commit = () =>
      uow.inAccount(accountId, async (s) => {
        const job = await s.jobs.getWork(jobId);
        if (!job || job.job.cancelRequested) return true;
        // A try whose COMMIT reached the database although its connection then failed: done already.
        if (job.lastRowCommitted >= rows[rows.length - 1]!.row) return false;
        const account = (await s.account.get())!;
        let done: Tally;
        if ('applyBatch' in kind) done = tally().add(rows, await kind.applyBatch(s, rows, header, account, jobId));
        else {
          const writer = kind.writer(s);
          const ahead = outside;
          outside = null;
          asPlanned = ahead !== null;
          if (ahead) {
            await writer.write(ahead.plan);
            done = ahead.tally;
          } else {
            // Planned here, in slices: each reads what the ones before wrote (PLAN_SLICE_ROWS).
            done = tally();
            for (let i = 0; i < rows.length; i += sliceRows) {
              const slice = rows.slice(i, i + sliceRows);
              const plan = await kind.plan(s, slice, header, account, jobId, null);
              await writer.write(plan);
              done.add(slice, kind.outcomes(plan));
            }
          }
          await writer.end();
        }
        await s.jobs.commitBatch(
          jobId,
          { firstRow: rows[0]!.row, lastRow: rows[rows.length - 1]!.row, processed: rows.length, counts: done.counts, resultsCsv: done.text(), failedInBatch: done.failed },
          clock.now().toISOString(),
        );
        return false;
      });
    let stop: boolean;
    try {
      // A failed transaction rolled back whole: nothing of this batch is applied, so it can run again.
      stop = await withRetry(commit, { when: isTransient, retries: retry.tries, firstWaitMs: retry.firstWaitMs });
    } catch (e) {
      if (!isTransient(e)) throw e;
      const [first, last] = [rows[0]!.row, rows[rows.length - 1]!.row];
      const tries = `${retry.tries + 1} tries: ${(e as Error).message}`;
      const rest = `Rows before row ${first} are applied and in the results; import the file again to apply the rest.`;
      const fail = isConflict(e)
        ? { code: 'WRITE_CONFLICT' as const, message: `Other writers kept changing the records of rows ${first}–${last} while they were applied (${tries}). ${rest}` }
        : { code: 'DATABASE_UNAVAILABLE' as const, message: `The database failed while applying rows ${first}–${last} (${tries}). ${rest}` };
      return { asPlanned: false, step: { fail: { ...fail, line: first } } };
    }
    if (stop) return { step: 'cancel', asPlanned: false };
    await ctx.afterBatch?.(++batchNo);
    return { step: 'go', asPlanned };
  };
  const ended = (step: Step): ImportEnd | null =>
    step === 'go' ? null : step === 'cancel' ? { status: 'cancelled' } : { status: 'failed', error: step.fail };

  let batchNo = work.batches;
  let batch: FileRow[] = [];
  let batchChars = 0;
  // The batch being applied while the rows of the next are read and planned (`planAhead`: the
  // database server writes meanwhile), with its plan.
  type Applying = { done: Promise<{ step: Step; asPlanned: boolean }>; plan: Planned | null };
  let applying = null as Applying | null;
  /** Waits for the batch being applied, then starts `rows` (null: only waits); the end of the job when it ends. */
  const next = async (rows: FileRow[] | null): Promise<ImportEnd | null> => {
    const before = applying;
    // The plan of these rows, made while the batch before is written, from that batch's plan.
    let plan: Promise<Planned> | null = planOutside && rows && (!before || before.plan) ? planOutside(rows, before?.plan?.plan ?? null) : null;
    plan?.catch(() => {}); // awaited below, or dropped; a failure must not go unhandled meanwhile
    if (before) {
      applying = null;
      const { step, asPlanned } = await before.done;
      const end = ended(step);
      if (end) return end;
      // The batch before was planned again (its plan's reads were out of date): decide these rows
      // again from what is written.
      if (!asPlanned) plan = null;
    }
    if (!rows) return null;
    if (planOutside && !plan) plan = planOutside(rows, null);
    // A plan the database failed is made in the batch's transaction instead, under its tries.
    const made = plan ? await plan.catch(() => null) : null;
    const done = apply(rows, made);
    done.catch(() => {});
    applying = { done, plan: made };
    // Without planning ahead there is nothing to overlap (SQLite runs its statements in this
    // thread): the batch ends before the next is read, and one batch is held at a time.
    return planOutside ? null : next(null);
  };
  try {
    for await (const rows of scan.read()) {
      for (const row of rows) {
        if (row.row <= work.lastRowCommitted) continue; // applied before a restart
        batch.push(row);
        for (const cell of row.cells) if (cell) batchChars += cell.length; // a workbook row may have holes
        if (batch.length >= batchRows || batchChars >= IMPORT_BATCH_CHARS) {
          const full = batch;
          batch = [];
          batchChars = 0;
          const end = await next(full);
          if (end) return end;
        }
      }
    }
    const end = await next(batch.length ? batch : null);
    if (end) return end;
    return ended((await applying?.done)?.step ?? 'go') ?? { status: 'succeeded' };
  } finally {
    // The file failed to read: the batch being applied ends before the job does.
    await applying?.done.catch(() => {});
  }
}
