/**
 * Bulk Add enrollment requests: each row of a CSV/TXT file read with the Bulk Add vocabularies,
 * checked with the same rules as a single request (`askIssues`), then issued as a new request or a
 * refresh of the user's Pending one. Non-UE rows for unknown users with an Email Address create the
 * user. The run itself (batches, results, resume, retries) is `jobs/table-job.ts`.
 */
import { isTemplateExample, TEMPLATE_EXAMPLE_ISSUE, type HeaderMap } from '../bulk/columns.js';
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
import { REQUEST_FILE_COLUMNS, REQUEST_RESULT_EXTRA, REQUEST_TEMPLATE_EXAMPLES, type RequestColumn } from './file-format.js';
import { askIssues, draftIssue, type EnrollmentDeps, type RequestAsk } from './service.js';
import { inThreadSecrets, offThreadSecrets, type SecretsDone, type SecretsRunner } from './bulk-secrets.js';
import { enqueueSealedNotices } from '../notify/enrollment-notice.js';
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
  if (isTemplateExample(row.cells, header, REQUEST_FILE_COLUMNS, REQUEST_TEMPLATE_EXAMPLES)) return { issues: [TEMPLATE_EXAMPLE_ISSUE] };
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

/** What Bulk Add works with: the single request's dependencies, and where a large batch's secrets are made. */
export type BulkAddDeps = Pick<EnrollmentDeps, 'clock' | 'random' | 'secretKey' | 'publicUrl'> & { secrets: SecretsRunner };

/** Requests issued and written together within a batch (so their objects die young). */
const ISSUE_SLICE = 512;

const withColumn = (i: { column: string; message: string; code: string }): RowIssue => ({ code: i.code, message: `${i.column}: ${i.message}` });

/**
 * Applies a batch in the caller's transaction: one read for the batch's users and one for their
 * Pending requests; decisions in row order (a row sees what earlier rows did); then new users,
 * new requests and notices many to a request (`insertRows`), refreshes one by one.
 */
async function applyBatch(deps: BulkAddDeps, s: Stores, rows: FileRow[], header: HeaderMap<RequestColumn>, account: Account, job: { id: string; requestedBy: string | null; requestedByLabel: string }): Promise<RowOutcome[]> {
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

  // Issued a slice at a time, in a pipeline: while one slice's HMACs and sealed notices are made
  // (on the secrets thread when the batch is large), the slice before it is written. A slice's
  // requests, notices and statement parameters die young, instead of a whole batch's outliving
  // the collections of the young generation.
  const secrets = planned.length > ISSUE_SLICE ? deps.secrets : inThreadSecrets(deps.secretKey);
  type Slice = { drafts: { p: Planned; id: string; d: ReturnType<typeof draftIssue> }[]; done: Promise<SecretsDone> };
  const draft = (from: number): Slice => {
    const drafts = planned.slice(from, from + ISSUE_SLICE).map((p) => {
      const id = p.refreshId ?? deps.random.id();
      const req = { id, at, requestedBy: job.requestedBy, requestedByLabel: job.requestedByLabel, resend: false, importJobId: job.id, importRow: p.row };
      return { p, id, d: draftIssue(deps, account, p.user, p.ask, req) };
    });
    const done = secrets.run({ requests: drafts.map(({ id, d }) => ({ id, token: d.token, passcode: d.passcode })), notices: drafts.flatMap(({ d }) => d.notices.map((n) => JSON.stringify(n))) });
    done.catch(() => {}); // awaited when the slice is written, or dropped with its batch
    return { drafts, done };
  };
  const write = async ({ drafts, done }: Slice) => {
    const { tokenHashes, passcodeHashes, sealed } = await done;
    const inserts: NewRequest[] = [];
    const renewals: { id: string; fields: RequestFields }[] = [];
    for (let i = 0; i < drafts.length; i++) {
      const { p, id, d } = drafts[i]!;
      const [tokenHash, passcodeHash] = [tokenHashes[i]!, passcodeHashes[i]!];
      if (p.refreshId) renewals.push({ id, fields: { ...d.fields, tokenHash, passcodeHash } });
      else inserts.push({ id, userId: p.user.id, platform: p.ask.platform as Platform, createdAt: stamp, ...d.fields, tokenHash, passcodeHash });
      const shown = d.fields.notify === 'none' ? [d.url, d.shown ?? ''] : undefined;
      const note = createdUsers.has(p.index) ? `User ${p.user.username} created` : undefined;
      outcomes[p.index] = { result: p.refreshId ? 'Refreshed' : 'Created', extra: shown, note };
    }
    await s.requests.insertMany(inserts);
    for (const r of renewals) await s.requests.renew(r.id, r.fields, stamp, 'pending');
    const notices = drafts.flatMap(({ d }) => d.notices);
    await enqueueSealedNotices(s, notices.map((n, i) => ({ requestId: n.requestId, sealed: sealed[i]! })), deps);
  };
  for (let slice = planned.length ? draft(0) : null, from = ISSUE_SLICE; slice; from += ISSUE_SLICE) {
    const next = from < planned.length ? draft(from) : null;
    await write(slice);
    slice = next;
  }
  return outcomes;
}

/** Bulk Add as a table job: CSV and TXT only. */
export function bulkAdd(deps: BulkAddDeps, job: { requestedBy: string | null; requestedByLabel: string }): TableJobKind<RequestColumn> {
  return {
    columns: REQUEST_FILE_COLUMNS,
    extraResultColumns: REQUEST_RESULT_EXTRA,
    refuseFile: (name) => (isXlsx(name) ? { code: 'FILE_TYPE_INVALID', message: `${name}: Bulk Add takes a CSV or TXT file (save the sheet as CSV)`, line: null } : null),
    applyBatch: (s, rows, header, account, jobId) => applyBatch(deps, s, rows, header, account, { id: jobId, ...job }),
  };
}

/** Runs (or resumes) a Bulk Add to its end; its secrets are made on a thread of the job's own (`secrets` to give another). */
export async function runBulkAdd(ctx: ImportContext, deps: Pick<EnrollmentDeps, 'secretKey' | 'publicUrl'> & { secrets?: SecretsRunner }): Promise<ImportEnd> {
  const job = ctx.work.job;
  const secrets = deps.secrets ?? offThreadSecrets(deps.secretKey);
  try {
    return await runTableJob(ctx, bulkAdd({ ...deps, secrets, clock: ctx.clock, random: ctx.random }, { requestedBy: job.requestedBy.id, requestedByLabel: job.requestedBy.label }));
  } finally {
    if (!deps.secrets) await secrets.close();
  }
}
