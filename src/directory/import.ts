/**
 * Bulk Import Users: a pre-scanned file's rows validated with the directory's own rules and applied
 * in short batches. Each batch — its users, its lines of the results file, the job's progress and
 * the last row applied — commits in one transaction, so a resumed job applies no row twice.
 */
import { stringify } from 'csv-stringify/sync';
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import { mapHeader, type HeaderMap } from '../bulk/columns.js';
import { unescapeFormula } from '../bulk/formula.js';
import type { FileRow } from '../bulk/reader.js';
import { openTable, type Table, type TableLimits } from '../bulk/table.js';
import type { Account } from '../accounts/model.js';
import type { Stores, UnitOfWork } from '../stores.js';
import { emptyCounts, type JobCounts, type JobError } from '../jobs/model.js';
import type { JobWork } from '../jobs/store.js';
import { MAID_EXISTS_MESSAGE, validateManagedAppleId } from './maid.js';
import { AUTH_TYPES, EMAIL_PATTERN, PHONE_PATTERN, USER_LIMITS, USERNAME_PATTERN, type AuthType } from './model.js';
import { USER_FILE_COLUMNS, type UserColumn } from './file-format.js';
import type { UserChanges, UserRecord } from './store.js';
import { domainNameProblem, normaliseKey } from '../core/names.js';
import { isTransient, withRetry } from '../db/database.js';

export const IMPORT_BATCH_ROWS = 1000;

export type ImportLimits = TableLimits;

export interface RowIssue {
  code: string;
  message: string;
}

type Outcome = { result: 'Created' | 'Updated' | 'Unchanged' } | { result: 'Failed'; issues: RowIssue[] };

const LABEL = Object.fromEntries(USER_FILE_COLUMNS.map((c) => [c.key, c.header])) as Record<UserColumn, string>;

/** A cell as the row gives it: absent column → undefined; `-` alone → 'clear'; else the text with one formula `'` removed, trimmed. */
type Cell = undefined | { clear: true } | { clear: false; value: string };

function cellOf(row: FileRow, header: HeaderMap<UserColumn>, key: UserColumn): Cell {
  const i = header.index.get(key);
  if (i === undefined) return undefined;
  const raw = row.cells[i] ?? '';
  if (raw.trim() === '-') return { clear: true };
  const value = unescapeFormula(raw).trim();
  return value === '' ? undefined : { clear: false, value };
}

/** Checks one row's values; returns the field changes it asks for, or the issues it has. */
function readRow(row: FileRow, header: HeaderMap<UserColumn>, account: Account) {
  const issues: RowIssue[] = [];
  const bad = (col: UserColumn, message: string, code = 'VALUE_INVALID') => issues.push({ code, message: `${LABEL[col]}: ${message}` });
  if (row.cells.length !== header.headers.length) {
    issues.push({ code: 'ROW_RAGGED', message: `The row has ${row.cells.length} cells; the header has ${header.headers.length}` });
    return { issues };
  }
  const get = (k: UserColumn) => cellOf(row, header, k);
  const username = get('username');
  if (!username || username.clear) {
    bad('username', 'required');
    return { issues };
  }
  if (username.value.length > USER_LIMITS.usernameMax || !USERNAME_PATTERN.test(username.value)) bad('username', 'not a valid username');
  const domainCell = get('domain');
  const domain = domainCell && !domainCell.clear ? domainCell.value.toLowerCase() : account.defaultDomain;
  if (domainCell && !domainCell.clear) {
    const p = domainNameProblem(domain, { fullyQualified: false });
    if (p) bad('domain', `the domain ${p}`);
  }
  const changes: UserChanges = {};
  const email = get('email');
  if (email?.clear) bad('email', 'cannot be cleared');
  else if (email) {
    if (email.value.length > USER_LIMITS.emailMax || !EMAIL_PATTERN.test(email.value)) bad('email', 'not an email address');
    else changes.email = email.value;
  }
  const fullName = get('fullName');
  if (fullName) {
    if (!fullName.clear && (fullName.value.length > USER_LIMITS.fullNameMax || /\p{Cc}/u.test(fullName.value))) bad('fullName', 'too long or holds control characters');
    else changes.fullName = fullName.clear ? '' : fullName.value;
  }
  const phone = get('phone');
  if (phone) {
    if (!phone.clear && (phone.value.length > USER_LIMITS.phoneMax || !PHONE_PATTERN.test(phone.value))) bad('phone', 'digits, spaces, + - ( ) . and an extension only');
    else changes.phone = phone.clear ? '' : phone.value;
  }
  const groups = get('groups');
  if (groups) {
    const list = groups.clear ? [] : [...new Set(groups.value.split(';').map((g) => g.trim()).filter(Boolean))];
    if (list.length > USER_LIMITS.groupsMax || list.some((g) => g.length > USER_LIMITS.groupMax)) bad('groups', 'too many or too long');
    else changes.groups = list;
  }
  const authType = get('authType');
  if (authType) {
    const v = authType.clear ? 'local' : authType.value.toLowerCase();
    if (!(AUTH_TYPES as readonly string[]).includes(v)) bad('authType', 'Local, Corporate or SAML');
    else changes.authType = v as AuthType;
  }
  const maid = get('managedAppleId');
  if (maid) {
    if (maid.clear) changes.managedAppleId = null;
    else {
      const verdict = validateManagedAppleId(maid.value, account.managedAppleIdDomains);
      if (!verdict.ok) issues.push({ code: verdict.code, message: `${LABEL.managedAppleId}: ${verdict.message}` });
      else changes.managedAppleId = verdict.value;
    }
  }
  return { issues, username: username.value, domain, changes };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const userKey = (username: string, domain: string) => `${normaliseKey(username)}\u0000${normaliseKey(domain)}`;
const failed = (code: string, message: string): Outcome => ({ result: 'Failed', issues: [{ code, message }] });

/**
 * Applies a batch of rows in one transaction: one read for the batch's users, one for its MAIDs,
 * decisions in memory in row order (so a row sees what earlier rows of the file did), then the
 * updates in row order and the new users in one multi-row insert.
 */
async function applyBatch(s: Stores, rows: FileRow[], header: HeaderMap<UserColumn>, account: Account, jobId: string, clock: Clock, random: Random): Promise<Outcome[]> {
  const parsed = rows.map((row) => ({ row, read: readRow(row, header, account) }));
  const good = parsed.filter((p) => !p.read.issues.length && p.read.username);
  const existing = new Map(
    (await s.users.findByUsernames(good.map((p) => ({ username: p.read.username!, domain: p.read.domain! })))).map((u) => [userKey(u.username, u.domain), u]),
  );
  const wantedMaids = good.flatMap((p) => {
    const list: string[] = [];
    if (p.read.changes!.managedAppleId) list.push(p.read.changes!.managedAppleId);
    if (account.useEmailAsManagedAppleId && p.read.changes!.email) {
      const v = validateManagedAppleId(p.read.changes!.email, account.managedAppleIdDomains);
      if (v.ok) list.push(v.value);
    }
    return list;
  });
  const stored = new Map((await s.users.findByManagedAppleIds(wantedMaids)).map((u) => [u.managedAppleId!, u]));
  // The state as earlier rows of this batch leave it.
  const seen = new Map<string, number>();
  const holder = new Map<string, { key: string; row: number | null } | null>();
  const holderOf = (maid: string) => {
    if (holder.has(maid)) return holder.get(maid) ?? null;
    const u = stored.get(maid);
    return u ? { key: userKey(u.username, u.domain), row: u.importJobId === jobId ? (u.importRow ?? null) : null } : null;
  };
  const at = clock.now().toISOString();
  const outcomes: Outcome[] = [];
  const updates: { index: number; before: UserRecord; changes: UserChanges; row: number }[] = [];
  const inserts: { index: number; user: UserRecord; row: number }[] = [];

  for (const [index, p] of parsed.entries()) {
    const { row, read } = p;
    if (read.issues.length || !read.username) {
      outcomes.push({ result: 'Failed', issues: read.issues });
      continue;
    }
    const key = userKey(read.username, read.domain!);
    const ex = existing.get(key);
    const earlier = seen.get(key) ?? (ex?.importJobId === jobId ? ex.importRow : undefined);
    if (earlier !== undefined && earlier !== null) {
      outcomes.push(failed('DUPLICATE_IN_FILE', `${LABEL.username}: ${read.username} in ${read.domain} repeats row ${earlier}`));
      continue;
    }
    const changes = { ...read.changes! };
    if (changes.managedAppleId) {
      const h = holderOf(changes.managedAppleId);
      if (h && h.key !== key) {
        outcomes.push(failed('MAID_EXISTS', `${LABEL.managedAppleId}: ${MAID_EXISTS_MESSAGE}${h.row !== null ? ` (row ${h.row})` : ''}`));
        continue;
      }
    }
    if (!ex) {
      if (!changes.email) {
        outcomes.push(failed('VALUE_INVALID', `${LABEL.email}: required for a new user`));
        continue;
      }
      let maid = changes.managedAppleId ?? null;
      if (maid === null && changes.managedAppleId === undefined && account.useEmailAsManagedAppleId) {
        const v = validateManagedAppleId(changes.email, account.managedAppleIdDomains);
        if (v.ok && !holderOf(v.value)) maid = v.value;
      }
      const user: UserRecord = {
        id: random.id(), username: read.username, domain: read.domain!, email: changes.email, fullName: changes.fullName ?? '', phone: changes.phone ?? '',
        groups: changes.groups ?? [], authType: changes.authType ?? 'local', managedAppleId: maid, status: 'active', devices: 0,
        createdAt: at, updatedAt: at, passwordHash: null,
      };
      inserts.push({ index, user, row: row.row });
      if (maid) holder.set(maid, { key, row: row.row });
      seen.set(key, row.row);
      outcomes.push({ result: 'Created' });
      continue;
    }
    const actual: UserChanges = {};
    for (const [k, v] of Object.entries(changes) as [keyof UserChanges, unknown][]) {
      if (!same((ex as unknown as Record<string, unknown>)[k], v)) (actual as Record<string, unknown>)[k] = v;
    }
    if (actual.managedAppleId !== undefined) {
      if (ex.managedAppleId) holder.set(ex.managedAppleId, null);
      if (actual.managedAppleId) holder.set(actual.managedAppleId, { key, row: row.row });
    }
    updates.push({ index, before: ex, changes: actual, row: row.row });
    seen.set(key, row.row);
    outcomes.push({ result: Object.keys(actual).length ? 'Updated' : 'Unchanged' });
  }

  const refused = await s.users.updateMany(updates.map((u) => ({ before: u.before, changes: u.changes, mark: { jobId, row: u.row } })), at);
  for (const u of updates) {
    if (refused.has(u.before.id)) outcomes[u.index] = failed('MAID_EXISTS', `${LABEL.managedAppleId}: ${MAID_EXISTS_MESSAGE} (taken while the import ran)`);
  }
  const inserted = await s.users.insertMany(inserts.map((i) => i.user), inserts.map((i) => ({ jobId, row: i.row })));
  for (const i of inserts) {
    if (!inserted.has(i.user.id)) outcomes[i.index] = failed('MAID_EXISTS', `${LABEL.managedAppleId}: ${MAID_EXISTS_MESSAGE} (taken while the import ran)`);
  }
  return outcomes;
}

export interface ImportContext {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
  limits: ImportLimits;
  /** A local path to the job's file. */
  filePath: string;
  work: JobWork;
  /** Called after each committed batch (tests use it to stop a runner mid-job). */
  afterBatch?: (batch: number) => Promise<void> | void;
  /** A batch the database failed is rolled back and tried again this many times, waiting `firstWaitMs`, doubling. */
  retry?: { tries: number; firstWaitMs: number };
}

/** Five more tries over about 30 seconds (1, 2, 4, 8 and 16 s). */
export const BATCH_RETRY = { tries: 5, firstWaitMs: 1000 };

export type ImportEnd = { status: 'succeeded' | 'cancelled' } | { status: 'failed'; error: JobError };

/** Runs (or resumes) a users import to its end. File-level problems fail the job and change nothing. */
export async function runUsersImport(ctx: ImportContext): Promise<ImportEnd> {
  const { uow, clock, random, work } = ctx;
  const jobId = work.job.id;
  const accountId = work.accountId;
  let scan: Table;
  let header: HeaderMap<UserColumn>;
  try {
    scan = await openTable(ctx.filePath, work.job.fileName, ctx.limits);
    header = mapHeader(scan.header, USER_FILE_COLUMNS);
  } catch (e) {
    if (e instanceof AppError) return { status: 'failed', error: { code: e.code, message: e.message, line: (e.details?.line as number | null) ?? null } };
    throw e;
  }
  const warnings = [...scan.warnings];
  if (header.unknown.length) warnings.push(`Columns ignored (not part of the format): ${header.unknown.join(', ')}`);
  if (work.job.progress.total === null) {
    await uow.inAccount(accountId, (s) => s.jobs.setTotal(jobId, scan.rows, warnings, [...scan.header, 'Row', 'Result', 'Code', 'Message']));
  }

  let batch: FileRow[] = [];
  let batchNo = work.batches;
  const flush = async (): Promise<'go' | 'cancel' | { fail: JobError }> => {
    if (!batch.length) return 'go';
    const rows = batch;
    batch = [];
    const commit = () => uow.inAccount(accountId, async (s) => {
      const job = await s.jobs.get(jobId);
      if (!job || job.cancelRequested) return true;
      // A try whose COMMIT reached the database although its connection then failed: done already.
      if ((await s.jobs.committedThrough(jobId)) >= rows[rows.length - 1]!.row) return false;
      const account = (await s.account.get())!;
      const counts: JobCounts = emptyCounts();
      const lines: string[][] = [];
      let failed = 0;
      const outcomes = await applyBatch(s, rows, header, account, jobId, clock, random);
      for (const [i, row] of rows.entries()) {
        const outcome = outcomes[i]!;
        const key = outcome.result.toLowerCase() as keyof JobCounts;
        counts[key]++;
        const codes = outcome.result === 'Failed' ? outcome.issues.map((i) => i.code).join(';') : '';
        const messages = outcome.result === 'Failed' ? outcome.issues.map((i) => i.message).join('; ') : '';
        if (outcome.result === 'Failed') failed++;
        const cells = header.headers.map((_, i) => row.cells[i] ?? '');
        lines.push([...cells, String(row.row), outcome.result, codes, messages]);
      }
      await s.jobs.commitBatch(
        jobId,
        { firstRow: rows[0]!.row, lastRow: rows[rows.length - 1]!.row, processed: rows.length, counts, resultsCsv: stringify(lines, { record_delimiter: '\r\n' }), failedInBatch: failed },
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
  for await (const row of scan.read()) {
    if (row.row <= work.lastRowCommitted) continue; // applied before a restart
    batch.push(row);
    if (batch.length >= IMPORT_BATCH_ROWS) {
      const end = ended(await flush());
      if (end) return end;
    }
  }
  return ended(await flush()) ?? { status: 'succeeded' };
}
