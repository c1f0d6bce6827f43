/**
 * Bulk Add enrollment requests: each row of a CSV/TXT file read with the Bulk Add vocabularies,
 * checked with the same rules as a single request (`askIssues`), then issued as a new request or a
 * refresh of the user's Pending one. Non-UE rows for unknown users with an Email Address create the
 * user. The run itself (batches, results, resume, retries) is `jobs/table-job.ts`.
 */
import type { HeaderMap } from '../bulk/columns.js';
import { unescapeFormula } from '../bulk/formula.js';
import type { FileRow } from '../bulk/reader.js';
import { isXlsx } from '../bulk/table.js';
import type { Account } from '../accounts/model.js';
import type { Stores } from '../stores.js';
import { RowChanged } from '../db/database.js';
import { domainNameProblem } from '../core/names.js';
import { EMAIL_PATTERN, PHONE_PATTERN, USER_LIMITS, USERNAME_PATTERN, userKey } from '../directory/model.js';
import type { ImportedUser, UserRecord } from '../directory/store.js';
import { runTableJob, type ImportContext, type ImportEnd, type RowIssue, type RowOutcome, type TableJobKind } from '../jobs/table-job.js';
import { COLUMNS, COMMENTS_MAX, optional, parseAuthMode, parseNotify, parseOwnership, parsePlatform, parseRequestMode, parseYesNo, type Parsed, type Platform } from './model.js';
import { REQUEST_FILE_COLUMNS, REQUEST_RESULT_EXTRA, type RequestColumn } from './file-format.js';
import { askIssues, issue, type EnrollmentDeps, type NoticeInputs, type RequestAsk } from './service.js';
import type { NewRequest, RequestFields } from './store.js';

interface ReadRow {
  username: string;
  domain: string;
  ask: RequestAsk;
}

/** A row's values, or every problem with them (each message names its column). */
function readRow(row: FileRow, header: HeaderMap<RequestColumn>, account: Account): { ok: ReadRow } | { issues: RowIssue[] } {
  if (row.cells.length !== header.headers.length) {
    return { issues: [{ code: 'ROW_RAGGED', message: `The row has ${row.cells.length} cells; the header has ${header.headers.length}` }] };
  }
  const issues: RowIssue[] = [];
  const cell = (k: RequestColumn): string | undefined => {
    const i = header.index.get(k);
    if (i === undefined) return undefined;
    const v = unescapeFormula(row.cells[i] ?? '').trim();
    return v === '' ? undefined : v;
  };
  const take = <T>(p: Parsed<T>): T | undefined => {
    if (p.ok) return p.value;
    issues.push({ code: p.problem.code, message: p.problem.message });
    return undefined;
  };
  const bad = (column: string, message: string) => issues.push({ code: 'VALUE_INVALID', message: `${column}: ${message}` });

  const username = cell('username');
  if (!username) bad(COLUMNS.username, 'required');
  else if (username.length > USER_LIMITS.usernameMax || !USERNAME_PATTERN.test(username)) bad(COLUMNS.username, 'not a valid username');
  const domainCell = cell('domain')?.toLowerCase();
  if (domainCell) {
    const p = domainNameProblem(domainCell, { fullyQualified: false });
    if (p) bad(COLUMNS.domain, `the domain ${p}`);
  }
  const email = cell('email');
  if (email && (email.length > USER_LIMITS.emailMax || !EMAIL_PATTERN.test(email))) bad(COLUMNS.email, 'not an email address');
  const phone = cell('phone');
  if (phone && (phone.length > USER_LIMITS.phoneMax || !PHONE_PATTERN.test(phone))) bad(COLUMNS.phone, 'digits, spaces, + - ( ) . and an extension only');
  const platform = take(parsePlatform(cell('platform') ?? ''));
  const ownership = take(parseOwnership(cell('ownership') ?? ''));
  const userEnrollment = take(optional(cell('userEnrollment'), (r) => parseYesNo(r, COLUMNS.userEnrollment))) ?? false;
  const requestMode = take(optional(cell('requestMode'), parseRequestMode));
  const authMode = take(optional(cell('authMode'), parseAuthMode));
  const seamless = take(optional(cell('seamless'), (r) => parseYesNo(r, COLUMNS.seamless)));
  const notify = take(optional(cell('notify'), parseNotify));
  const comments = cell('comments');
  if (comments && (comments.length > COMMENTS_MAX || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(comments))) bad(COLUMNS.comments, `at most ${COMMENTS_MAX} characters, no control characters`);
  if (issues.length || !username || !platform || !ownership) return { issues };
  return {
    ok: {
      username,
      domain: domainCell || account.defaultDomain,
      ask: { platform, ownership, userEnrollment, requestMode, authMode, seamless, notify, email, phone, comments },
    },
  };
}

/** Requests issued and written together within a batch (a multi-row INSERT's worth). */
const ISSUE_SLICE = 512;

const withColumn = (i: { column: string; message: string; code: string }): RowIssue => ({ code: i.code, message: `${i.column}: ${i.message}` });

/**
 * Applies a batch in the caller's transaction: one read for the batch's users and one for their
 * Pending requests; decisions in row order (a row sees what earlier rows did); then new users,
 * new requests and notices in multi-row inserts, refreshes one by one.
 */
async function applyBatch(deps: Pick<EnrollmentDeps, 'clock' | 'random' | 'secretKey' | 'publicUrl' | 'enqueueNotices'>, s: Stores, rows: FileRow[], header: HeaderMap<RequestColumn>, account: Account, job: { id: string; requestedBy: string | null; requestedByLabel: string }): Promise<RowOutcome[]> {
  const read = rows.map((row) => readRow(row, header, account));
  const wanted = read.flatMap((r) => ('ok' in r ? [{ username: r.ok.username, domain: r.ok.domain }] : []));
  const users = new Map((await s.users.findByUsernames(wanted)).map((u) => [userKey(u.username, u.domain), u]));
  const pending = new Map((await s.requests.findPending([...users.values()].map((u) => u.id))).map((p) => [`${p.userId}|${p.platform}`, p]));
  const at = deps.clock.now();
  const stamp = at.toISOString();

  const outcomes: RowOutcome[] = [];
  const newUsers: { index: number; user: UserRecord; row: number }[] = [];
  type Planned = { index: number; row: number; user: ImportedUser; ask: RequestAsk; refreshId: string | null };
  const planned: Planned[] = [];
  /** user|platform → the row of this file that asked for it. */
  const seen = new Map<string, number>();

  for (const [index, r] of read.entries()) {
    const rowNo = rows[index]!.row;
    if ('issues' in r) {
      outcomes.push({ result: 'Failed', issues: r.issues });
      continue;
    }
    const { username, domain, ask } = r.ok;
    let user: ImportedUser | null = users.get(userKey(username, domain)) ?? null;
    let created: UserRecord | null = null;
    if (!user && !ask.userEnrollment) {
      if (!ask.email) {
        outcomes.push({ result: 'Failed', issues: [{ code: 'USER_NOT_FOUND', message: `${COLUMNS.username}: there is no user ${username} in ${domain}; give an Email Address to create one` }] });
        continue;
      }
      created = {
        id: deps.random.id(), username, domain, email: ask.email, fullName: '', phone: ask.phone ?? '', groups: [], authType: 'local',
        managedAppleId: null, status: 'active', devices: 0, createdAt: stamp, updatedAt: stamp, passwordHash: null, version: 0,
      };
      user = created;
    }
    const issues = askIssues(account, user, ask).map(withColumn);
    const dupKey = user ? `${user.id}|${ask.platform}` : null;
    const earlier = dupKey ? (seen.get(dupKey) ?? (pending.get(dupKey)?.importJobId === job.id ? pending.get(dupKey)!.importRow : null)) : null;
    if (earlier !== null && earlier !== undefined) {
      issues.push({ code: 'DUPLICATE_IN_FILE', message: `${COLUMNS.username}: ${username} in ${domain} asks for ${ask.platform === 'ios' ? 'iOS' : 'macOS'} again; row ${earlier} already did` });
    }
    if (issues.length || !user) {
      outcomes.push({ result: 'Failed', issues });
      continue;
    }
    if (created) {
      newUsers.push({ index, user: created, row: rowNo });
      users.set(userKey(username, domain), user);
    }
    seen.set(dupKey!, rowNo);
    planned.push({ index, row: rowNo, user, ask, refreshId: pending.get(dupKey!)?.id ?? null });
    outcomes.push({ result: 'Created' });
  }

  // New users first. One a concurrent writer created meanwhile is not written: the batch then runs
  // again from its reads (RowChanged), and the row's request goes to that user.
  const inserted = newUsers.length ? await s.users.insertMany(newUsers.map((n) => n.user), newUsers.map((n) => ({ jobId: job.id, row: n.row }))) : new Set<string>();
  if (inserted.size < newUsers.length) throw new RowChanged('Another writer created a user while the file created it');
  const createdUsers = new Set(newUsers.map((n) => n.index));

  // Issued and written a slice at a time: a slice's requests, notices and statement parameters die
  // young, instead of a whole batch's outliving the collections of the young generation.
  for (let from = 0; from < planned.length; from += ISSUE_SLICE) {
    const inserts: NewRequest[] = [];
    const renewals: { id: string; fields: RequestFields }[] = [];
    const notices: NoticeInputs[] = [];
    for (const p of planned.slice(from, from + ISSUE_SLICE)) {
      const id = p.refreshId ?? deps.random.id();
      const issued = issue(deps, account, p.user, p.ask, { id, at, requestedBy: job.requestedBy, requestedByLabel: job.requestedByLabel, resend: false, importJobId: job.id, importRow: p.row });
      if (p.refreshId) renewals.push({ id, fields: issued.fields });
      else inserts.push({ id, userId: p.user.id, platform: p.ask.platform as Platform, createdAt: stamp, ...issued.fields });
      notices.push(...issued.notices);
      const secrets = issued.fields.notify === 'none' ? [issued.url, issued.passcode ?? ''] : undefined;
      const note = createdUsers.has(p.index) ? `User ${p.user.username} created` : undefined;
      outcomes[p.index] = { result: p.refreshId ? 'Refreshed' : 'Created', extra: secrets, note };
    }
    await s.requests.insertMany(inserts);
    for (const r of renewals) await s.requests.renew(r.id, r.fields, stamp, 'pending');
    await deps.enqueueNotices(s, notices);
  }
  return outcomes;
}

/** Bulk Add as a table job: CSV and TXT only. */
export function bulkAdd(deps: Pick<EnrollmentDeps, 'clock' | 'random' | 'secretKey' | 'publicUrl' | 'enqueueNotices'>, job: { requestedBy: string | null; requestedByLabel: string }): TableJobKind<RequestColumn> {
  return {
    columns: REQUEST_FILE_COLUMNS,
    extraResultColumns: REQUEST_RESULT_EXTRA,
    refuseFile: (name) => (isXlsx(name) ? { code: 'FILE_TYPE_INVALID', message: `${name}: Bulk Add takes a CSV or TXT file (save the sheet as CSV)`, line: null } : null),
    applyBatch: (s, rows, header, account, jobId) => applyBatch(deps, s, rows, header, account, { id: jobId, ...job }),
  };
}

/** Runs (or resumes) a Bulk Add to its end. */
export function runBulkAdd(ctx: ImportContext, deps: Pick<EnrollmentDeps, 'secretKey' | 'publicUrl' | 'enqueueNotices'>): Promise<ImportEnd> {
  const job = ctx.work.job;
  return runTableJob(ctx, bulkAdd({ ...deps, clock: ctx.clock, random: ctx.random }, { requestedBy: job.requestedBy.id, requestedByLabel: job.requestedBy.label }));
}
