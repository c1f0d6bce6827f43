/**
 * Bulk Import Users: each row validated with the directory's own rules, then created, updated or
 * left unchanged. The run itself (batches, results, resume, retries) is `jobs/table-job.ts`.
 */
import type { Clock, Random } from '../core/clock.js';
import { isTemplateExample, TEMPLATE_EXAMPLE_ISSUE, type HeaderMap } from '../bulk/columns.js';
import { unescapeFormula } from '../bulk/formula.js';
import type { FileRow } from '../bulk/reader.js';
import type { Account } from '../accounts/model.js';
import type { Stores } from '../stores.js';
import { RowChanged } from '../db/database.js';
import { failedRow, runTableJob, type ImportContext, type ImportEnd, type PlansBatches, type RowIssue, type RowOutcome } from '../jobs/table-job.js';
import { MAID_EXISTS_MESSAGE, validateManagedAppleId } from './maid.js';
import { AUTH_TYPES, EMAIL_PATTERN, PHONE_PATTERN, USER_LIMITS, USERNAME_PATTERN, userKey, type AuthType } from './model.js';
import { USER_FILE_COLUMNS, USER_TEMPLATE_EXAMPLE, type UserColumn } from './file-format.js';
import { holdNameWords, type HeldNameWords, type ImportedUser, type UserChanges, type UserRecord } from './store.js';
import { domainNameProblem } from '../core/names.js';

type Outcome = RowOutcome;

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
  if (isTemplateExample(row.cells, header, USER_FILE_COLUMNS, [USER_TEMPLATE_EXAMPLE])) return { issues: [TEMPLATE_EXAMPLE_ISSUE] };
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
      if (!verdict.ok) issues.push({ code: verdict.code, message: verdict.message }); // it names the column itself
      else changes.managedAppleId = verdict.value;
    }
  }
  return { issues, username: username.value, domain, changes };
}

/** Whether a stored value equals a changed one: text, null, or a list of groups. */
const same = (a: unknown, b: unknown): boolean =>
  a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]));
const failed = failedRow;

/**
 * What a batch decided: each row's outcome, the writes, and the state its rows leave the directory
 * in (which usernames they used, who holds which MAID), which the next batch's decisions start from
 * when they are made before this batch is written.
 */
interface Plan {
  outcomes: Outcome[];
  updates: { index: number; before: ImportedUser; changes: UserChanges; row: number }[];
  inserts: { index: number; user: UserRecord; row: number }[];
  at: string;
  jobId: string;
  /** Username keys this batch's rows used, with their rows. */
  seen: Map<string, number>;
  /** MAIDs this batch's rows took (their holder) or gave up (null). */
  holder: Map<string, { key: string; row: number | null } | null>;
}

/**
 * Decides a batch (or a slice of one: see PLAN_SLICE_ROWS): one read for its users, one for its
 * MAIDs, decisions in memory in row order (so a row sees what earlier rows of the file did).
 * `previous` is the plan of the batch before when that batch is not yet written (its rows are then
 * invisible to these reads, and its plan says what they will do); null when every earlier batch
 * (or slice) is written.
 */
async function planBatch(s: Stores, rows: FileRow[], header: HeaderMap<UserColumn>, account: Account, jobId: string, clock: Clock, random: Random, previous: Plan | null): Promise<Plan> {
  // Each good row's user key, made once: the look-ups and the decisions below both ask by it.
  const parsed = rows.map((row) => {
    const read = readRow(row, header, account);
    return { row, read, key: !read.issues.length && read.username ? userKey(read.username, read.domain!) : '' };
  });
  const good = parsed.filter((p) => p.key);
  const existing = new Map(
    (await s.users.findByUsernames(good.map((p) => ({ username: p.read.username!, domain: p.read.domain! })))).map((u) => [userKey(u.username, u.domain), u]),
  );
  // The MAIDs rows ask for, and who holds them now. A MAID asked for only by the row of the user
  // who already holds it needs no look-up (that user may keep it): a re-import adding nothing new
  // reads half as much. A MAID made from an email address is asked for only by a new user's row.
  const asks = new Map<string, number>();
  const ownOnly = new Set<string>();
  const ask = (maid: string) => asks.set(maid, (asks.get(maid) ?? 0) + 1);
  for (const p of good) {
    const { changes } = p.read;
    const ex = existing.get(p.key);
    if (changes!.managedAppleId) {
      ask(changes!.managedAppleId);
      if (ex?.managedAppleId === changes!.managedAppleId) ownOnly.add(changes!.managedAppleId);
    }
    if (!ex && account.useEmailAsManagedAppleId && changes!.email) {
      const v = validateManagedAppleId(changes!.email, account.managedAppleIdDomains);
      if (v.ok) ask(v.value);
    }
  }
  const wantedMaids = [...asks].filter(([maid, n]) => n > 1 || !ownOnly.has(maid)).map(([maid]) => maid);
  const stored = new Map((await s.users.findByManagedAppleIds(wantedMaids)).map((u) => [u.managedAppleId!, u]));
  // The state as the previous batch (when not yet written) and earlier rows of this one leave it.
  const seen = new Map<string, number>();
  const holder = new Map<string, { key: string; row: number | null } | null>();
  const seenBefore = (key: string) => seen.get(key) ?? previous?.seen.get(key);
  /** Who holds a MAID: a row of this file (its number), or a user of the directory (named). */
  const holderOf = (maid: string): { key: string; row: number | null; name?: string } | null => {
    if (holder.has(maid)) return holder.get(maid) ?? null;
    if (previous?.holder.has(maid)) return previous.holder.get(maid) ?? null;
    const u = stored.get(maid);
    return u ? { key: userKey(u.username, u.domain), row: u.importJobId === jobId ? (u.importRow ?? null) : null, name: `${u.username} in ${u.domain}` } : null;
  };
  const at = clock.now().toISOString();
  const plan: Plan = { outcomes: [], updates: [], inserts: [], at, jobId, seen, holder };
  const { outcomes, updates, inserts } = plan;

  for (const [index, p] of parsed.entries()) {
    const { row, read, key } = p;
    if (!key) {
      outcomes.push({ result: 'Failed', issues: read.issues });
      continue;
    }
    const ex = existing.get(key);
    const earlier = seenBefore(key) ?? (ex?.importJobId === jobId ? ex.importRow : undefined);
    if (earlier !== undefined && earlier !== null) {
      outcomes.push(failed('DUPLICATE_IN_FILE', `${LABEL.username}: ${read.username} in ${read.domain} repeats row ${earlier}`));
      continue;
    }
    const changes = read.changes!;
    if (changes.managedAppleId) {
      const h = holderOf(changes.managedAppleId);
      if (h && h.key !== key) {
        outcomes.push(failed('MAID_EXISTS', `${MAID_EXISTS_MESSAGE} (${h.row !== null ? `row ${h.row}` : `held by ${h.name}`})`));
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
        id: random.id(), username: read.username!, domain: read.domain!, email: changes.email, fullName: changes.fullName ?? '', phone: changes.phone ?? '',
        groups: changes.groups ?? [], authType: changes.authType ?? 'local', managedAppleId: maid, status: 'active', devices: 0,
        createdAt: at, updatedAt: at, passwordHash: null, version: 0,
      };
      inserts.push({ index, user, row: row.row });
      if (maid) holder.set(maid, { key, row: row.row });
      seen.set(key, row.row);
      outcomes.push({ result: 'Created' });
      continue;
    }
    const actual: UserChanges = {};
    for (const k in changes) {
      const v = changes[k as keyof UserChanges];
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
  return plan;
}

/**
 * Writes what a plan decided (a batch's, or a slice's of one): the updates in row order, then the
 * new users, each in one request (`insertRows`); their name words go to `held`, written at the
 * batch's end. When the directory is no longer as the plan read it (another writer changed a user,
 * or took a username or MAID the batch gives), RowChanged rolls the batch back, and it is planned
 * again from what is written.
 */
async function writePlan(s: Stores, plan: Plan, held: HeldNameWords): Promise<void> {
  const { updates, inserts, at, jobId } = plan;
  await s.users.updateMany(updates.map((u) => ({ before: u.before, changes: u.changes, mark: { jobId, row: u.row } })), at, held);
  const inserted = await s.users.insertMany(inserts.map((i) => i.user), inserts.map((i) => ({ jobId, row: i.row })), held);
  if (inserted.size < inserts.length) throw new RowChanged('Another writer took a username or Managed Apple ID while the import wrote it');
}

/** Bulk Import Users as a table job. */
export function usersImport(clock: Clock, random: Random): PlansBatches<UserColumn, Plan> {
  return {
    columns: USER_FILE_COLUMNS,
    plan: (s, rows, header, account, jobId, previous) => planBatch(s, rows, header, account, jobId, clock, random, previous),
    outcomes: (plan) => plan.outcomes,
    // The plans' name words are written once, after the batch's last plan, in key order.
    writer: (s) => {
      const held = holdNameWords();
      return { write: (plan) => writePlan(s, plan, held), end: () => s.users.writeNameWords(held) };
    },
  };
}

/** Runs (or resumes) a users import to its end. File-level problems fail the job and change nothing. */
export const runUsersImport = (ctx: ImportContext): Promise<ImportEnd> => runTableJob(ctx, usersImport(ctx.clock, ctx.random));
