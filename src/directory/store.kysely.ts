import { sql, type ExpressionBuilder, type Expression, type Insertable, type SqlBool, type Updateable } from 'kysely';
import { RowChanged, type Tx } from '../db/database.js';
import type { Caps } from '../db/caps.js';
import type { AccountNumbers } from '../db/account-numbers.js';
import type { Schema, UserRow } from '../db/schema.js';
import { cappedCount, packedRow, toPage, TOTAL_CAP, unpackRow, type PackedColumn } from '../db/query.js';
import { deleteRows, insertRows, selectByKeys, updateRow, updateRows } from '../db/batch.js';
import { capTotal, LIMIT_DEFAULT, decodeCursor, encodeCursor, type CursorPart, type Page, type PageRequest } from '../core/paging.js';
import { normaliseKey } from '../core/names.js';
import { indexedNameWords, searchTerms, userKey, type User, type UserListQuery, type UserSort, type UserSummary, type UserTuple } from './model.js';
import { holdNameWords, toPublicUser, type HeldNameWords, type ImportedUser, type ImportMark, type UserChanges, type UserRecord, type UserStore } from './store.js';

/** A name word's key, in column order. */
const WORD_KEY = ['account_id', 'word', 'username_key', 'domain_key', 'user_id'] as const;

/** Orders rows of string keys column by column by UTF-16 code units: the indexes' order, or near it (only locality depends on it). */
const compareKeys = (a: string[], b: string[]): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
};

/** Where a user's name words sit in the name-word index: the user's username and domain keys. */
export interface WordHolder {
  fullName: string;
  usernameKey: string;
  domainKey: string;
}

/**
 * The words a change of name or username replaces: those only before it go, those only after it
 * come, and a word the user keeps under the same username stays as it is (a name re-imported in
 * another case, or a first name corrected, then writes no name word at all). A new username or
 * domain moves every word, as the words are keyed by them.
 */
export function nameWordChanges(before: WordHolder, after: WordHolder): { gone: string[]; added: string[] } {
  const was = indexedNameWords(before.fullName);
  const now = indexedNameWords(after.fullName);
  if (before.usernameKey !== after.usernameKey || before.domainKey !== after.domainKey) return { gone: was, added: now };
  return { gone: without(was, now), added: without(now, was) };
}

/**
 * The words of `words` not among `others`: a scan for a name of a few words, a Set when it has many
 * (a 200-character name can have dozens, and a file of them must not take quadratic time).
 */
function without(words: readonly string[], others: readonly string[]): string[] {
  const set = others.length > 8 ? new Set(others) : null;
  const out: string[] = [];
  for (const w of words) if (!(set ? set.has(w) : others.includes(w))) out.push(w);
  return out;
}

/** The highest code point: `key < prefix + MAX` bounds a prefix range in binary order. */
const MAX_CHAR = '\u{10FFFF}';

/** The columns of an ImportedUser, and the keys a look-up by username matches on. */
const IMPORTED_COLUMNS = [
  'id', 'username', 'domain', 'username_key', 'domain_key', 'email', 'full_name', 'phone', 'groups_json', 'auth_type', 'maid', 'status', 'import_job_id', 'import_row', 'version',
] as const satisfies readonly (keyof UserRow)[];
/** The values of IMPORTED_COLUMNS, in that order: a look-up reads them packed (`unpackRow`). */
type ImportedValues = [
  id: string, username: string, domain: string, usernameKey: string, domainKey: string, email: string, fullName: string, phone: string,
  groupsJson: string, authType: string, maid: string | null, status: string, importJobId: string | null, importRow: number | null, version: number,
];

const toImportedUser = (v: ImportedValues): ImportedUser => ({
  id: v[0],
  username: v[1],
  domain: v[2],
  email: v[5],
  fullName: v[6],
  phone: v[7],
  groups: JSON.parse(v[8]) as string[],
  authType: v[9] as User['authType'],
  managedAppleId: v[10],
  status: v[11] as User['status'],
  importJobId: v[12] ?? null,
  importRow: v[13] ?? null,
  version: Number(v[14]),
});

/** The rows of a packed key look-up of IMPORTED_COLUMNS, as their values. */
const unpackImported = (rows: unknown[]) => rows.map((r) => unpackRow(r) as ImportedValues);

/**
 * A whole user: the import's view completed in place. (Spread into a new literal, the record then
 * took ten times as long to build and to strip for the API, ~10 µs a row: 9 s of a 1M export.)
 */
function toUser(r: UserRow): UserRecord {
  return Object.assign(toImportedUser(IMPORTED_COLUMNS.map((c) => r[c]) as ImportedValues), {
    devices: r.device_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    passwordHash: r.password_hash ?? null,
  });
}

/**
 * The columns a change writes (its normalised keys included) and their values, as two lists in the
 * same order, and which of the changeable fields it sets as bits of a number: a re-import builds a
 * million of them and groups them by what they set, and objects spread and read back by key, or
 * the column names joined into a text key, cost it more.
 */
function changedColumns(c: UserChanges): { columns: (keyof UserRow)[]; values: unknown[]; set: number } {
  const columns: (keyof UserRow)[] = [];
  const values: unknown[] = [];
  let set = 0;
  const put = (bit: number, column: keyof UserRow, value: unknown) => {
    set |= bit;
    columns.push(column);
    values.push(value);
  };
  /** A text column and its normalised key column. */
  const keyed = (bit: number, column: keyof UserRow, key: keyof UserRow, value: string | undefined) => {
    if (value === undefined) return;
    put(bit, column, value);
    put(0, key, normaliseKey(value));
  };
  keyed(1, 'username', 'username_key', c.username);
  keyed(2, 'domain', 'domain_key', c.domain);
  keyed(4, 'email', 'email_key', c.email);
  keyed(8, 'full_name', 'full_name_key', c.fullName);
  if (c.phone !== undefined) put(16, 'phone', c.phone);
  if (c.groups !== undefined) put(32, 'groups_json', JSON.stringify(c.groups));
  if (c.authType !== undefined) put(64, 'auth_type', c.authType);
  if (c.status !== undefined) put(128, 'status', c.status);
  if (c.passwordHash !== undefined) put(256, 'password_hash', c.passwordHash);
  if (c.managedAppleId !== undefined) {
    put(512, 'maid', c.managedAppleId);
    put(0, 'maid_key', c.managedAppleId ? normaliseKey(c.managedAppleId) : null);
  }
  return { columns, values, set };
}

/** The columns a new user is written with, in the order of the store's `userValues`. */
const INSERT_COLUMNS = [
  'id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone',
  'groups_json', 'auth_type', 'maid', 'maid_key', 'status', 'password_hash', 'device_count', 'created_at', 'updated_at', 'import_job_id', 'import_row',
] as const satisfies readonly (keyof UserRow)[];

/** What a list returns: the public fields (no password hash, no search keys). */
const LIST_COLUMNS = [
  'id', 'account_id', 'username', 'domain', 'email', 'full_name', 'phone', 'groups_json', 'auth_type', 'maid', 'status', 'device_count', 'created_at', 'updated_at',
] as const satisfies readonly (keyof UserRow)[];

/** Sort columns of each sort; the last is always the id, so the order is total. */
const SORT_COLUMNS: Record<UserSort, (keyof UserRow)[]> = {
  username: ['username_key', 'domain_key', 'id'],
  fullName: ['full_name_key', 'id'],
  email: ['email_key', 'id'],
  // Linked users by MAID (unique: the order is total), then the unlinked by username.
  managedAppleId: ['maid_key', 'username_key', 'domain_key', 'id'],
  createdAt: ['created_at', 'id'],
};

/** What a cursor holds for a sort column: the row's id, an instant, or a sort key. */
const cursorPart = (column: keyof UserRow): CursorPart => (column === 'id' ? 'id' : column === 'created_at' ? 'instant' : 'key');

/** A UserTuple's columns, in its order. */
const TUPLE_COLUMNS: PackedColumn[] = [
  'username', 'domain', 'email', 'full_name', 'phone', 'groups_json', 'auth_type', 'maid', 'id', 'status', { instant: 'created_at' }, { instant: 'updated_at' }, 'device_count',
];

/** The columns of `user_stats` that make the directory's figures. */
const FIGURES = ['total', 'linked'] as const;

/** The figures from a `user_stats` row (none yet: an empty directory). The drivers may give counts as text. */
const figuresOf = (row: { total: unknown; linked: unknown } | undefined): UserSummary => {
  const total = Number(row?.total ?? 0);
  const linked = Number(row?.linked ?? 0);
  return { total, managedAppleIdLinked: linked, managedAppleIdMissing: total - linked };
};

/**
 * How a page's rows are read and made into items: whole users (the list) or tuples (exports, each
 * row read packed as one array, its sort keys after the tuple's own: see packedRow).
 */
interface Reading<T> {
  /** What to select, given the sort columns the next cursor needs. */
  select(sort: (keyof UserRow)[]): any[];
  item(row: any): T;
  /** An item's user id. */
  id(item: T): string;
  keys(row: any, sort: (keyof UserRow)[]): (string | number | null)[];
  /** Its selection must be the statement's only one (packed rows, see packedRow). */
  alone?: true;
}

const asUsers: Reading<User> = {
  select: (sort) => [...LIST_COLUMNS, ...sort.filter((c) => !(LIST_COLUMNS as readonly string[]).includes(c))],
  item: (r: UserRow) => toPublicUser(toUser(r)),
  id: (u) => u.id,
  keys: (r: UserRow, sort) => sort.map((c) => r[c] as string | number | null),
};

function asTuples(caps: Caps): Reading<UserTuple> {
  const width = TUPLE_COLUMNS.length;
  const idAt = TUPLE_COLUMNS.indexOf('id');
  const groupsAt = TUPLE_COLUMNS.indexOf('groups_json');
  return {
    select: (sort) => [packedRow(caps, [...TUPLE_COLUMNS, ...sort.map((c) => (c === 'created_at' ? { instant: c } : c))]).as('packed')],
    item: (r) => {
      const t = unpackRow(r).slice(0, width);
      t[groupsAt] = JSON.parse(t[groupsAt] as string);
      return t as UserTuple;
    },
    id: (t) => t[idAt] as string,
    keys: (r) => unpackRow(r).slice(width) as (string | number | null)[],
    alone: true,
  };
}

type EB = ExpressionBuilder<Schema, 'users'>;

/** Rows strictly after the cursor in the sort order (lexicographic over the sort columns): both engines walk the sort index from it. */
function afterCursor(eb: EB, columns: (keyof UserRow)[], values: (string | number | null)[], descending: boolean): Expression<SqlBool> {
  return eb(eb.refTuple(...(columns as [keyof UserRow, keyof UserRow])), descending ? '<' : '>', eb.tuple(...(values as [string, string])));
}

/**
 * The users of one account. Look-ups by id name the account's id; those through the users' other
 * indexes name its number, which those indexes lead with (read once, see AccountNumbers).
 */
export function userStore(tx: Tx, accountId: string, caps: Caps, numbers: AccountNumbers): UserStore {
  const tuples = asTuples(caps);
  const accountNo = () => numbers(tx, accountId);
  const byId = (id: string) => tx.selectFrom('users').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  const byUsername = async (username: string, domain: string) =>
    tx
      .selectFrom('users')
      .selectAll()
      .where('account_no', '=', await accountNo())
      .where('username_key', '=', normaliseKey(username))
      .where('domain_key', '=', normaliseKey(domain))
      .executeTakeFirst();
  const byMaid = async (maid: string) =>
    tx.selectFrom('users').selectAll().where('account_no', '=', await accountNo()).where('maid_key', '=', normaliseKey(maid)).executeTakeFirst();

  async function bumpStats(total: number, linked: number): Promise<void> {
    if (total === 0 && linked === 0) return;
    await tx
      .insertInto('user_stats')
      .values({ account_id: accountId, total, linked })
      .onConflict((oc) =>
        oc.column('account_id').doUpdateSet((eb) => ({
          total: eb('user_stats.total', '+', total),
          linked: eb('user_stats.linked', '+', linked),
        })),
      )
      .execute();
  }

  /**
   * A new user's row as values in INSERT_COLUMNS order: an import writes a million, and an object
   * of 22 properties made and then read back for each cost it more than the writes' own arrays.
   */
  const userValues = (u: UserRecord, no: number, mark?: ImportMark): unknown[] => [
    u.id,
    accountId,
    no,
    u.username,
    u.domain,
    normaliseKey(u.username),
    normaliseKey(u.domain),
    u.email,
    normaliseKey(u.email),
    u.fullName,
    normaliseKey(u.fullName),
    u.phone,
    JSON.stringify(u.groups),
    u.authType,
    u.managedAppleId ?? null,
    u.managedAppleId ? normaliseKey(u.managedAppleId) : null,
    u.status,
    u.passwordHash ?? null,
    u.devices,
    u.createdAt,
    u.updatedAt,
    mark?.jobId ?? null,
    mark?.row ?? null,
  ];
  const toRow = (u: UserRecord, no: number, mark?: ImportMark) => {
    const values = userValues(u, no, mark);
    return Object.fromEntries(INSERT_COLUMNS.map((c, i) => [c, values[i]])) as Insertable<UserRow>;
  };

  /** The keys (in WORD_KEY order) of a user's name-word rows for these words. */
  const wordRowsOf = (userId: string, words: readonly string[], usernameKey: string, domainKey: string) =>
    words.map((word) => [accountId, word, usernameKey, domainKey, userId]);

  /** The keys (in WORD_KEY order) of the name words a user was written with. */
  const wordKeys = (userId: string, fullName: string, usernameKey: string, domainKey: string) =>
    wordRowsOf(userId, indexedNameWords(fullName), usernameKey, domainKey);

  /** Adds to `moves` the name-word rows a user's change of name or username moves. */
  const collectWordMoves = (userId: string, before: WordHolder, after: WordHolder, moves: HeldNameWords) => {
    const words = nameWordChanges(before, after);
    for (const w of wordRowsOf(userId, words.gone, before.usernameKey, before.domainKey)) moves.gone.push(w);
    for (const w of wordRowsOf(userId, words.added, after.usernameKey, after.domainKey)) moves.added.push(w);
  };

  /** Removes a user's name words, found by the name and keys they were written with. */
  const deleteNameWords = (userId: string, fullName: string, usernameKey: string, domainKey: string) =>
    deleteRows(tx, caps, 'user_name_words', WORD_KEY, wordKeys(userId, fullName, usernameKey, domainKey));

  /** Writes a batch's name-word changes: the rows going, then the rows coming, each in key order (see wordRows). */
  async function moveNameWords({ gone, added }: HeldNameWords): Promise<void> {
    await deleteRows(tx, caps, 'user_name_words', WORD_KEY, gone.sort(compareKeys));
    await insertRows(tx, caps, 'user_name_words', WORD_KEY, added.sort(compareKeys), { skipConflicts: true });
  }

  /**
   * Name-word rows (in WORD_KEY order) for users as they are now, sorted by that key: a batch's
   * rows then go into the index one page after another instead of hopping between its hot spots
   * (a common surname is one place in the index that every batch writes to).
   */
  const wordRows = (users: { id: string; fullName: string; username: string; domain: string }[]) =>
    users.flatMap((u) => wordKeys(u.id, u.fullName, normaliseKey(u.username), normaliseKey(u.domain))).sort(compareKeys);

  async function writeNameWords(userId: string, fullName: string, username: string, domain: string): Promise<void> {
    await insertRows(tx, caps, 'user_name_words', WORD_KEY, wordRows([{ id: userId, fullName, username, domain }]), { skipConflicts: true });
  }

  /** The index ranges one search term matches: the username, email, MAID and full-name keys, and the name words; each gives its users' ids with their username sort key. */
  function termRanges(term: string, no: number) {
    const hi = term + MAX_CHAR;
    const byKey = (col: 'username_key' | 'email_key' | 'maid_key' | 'full_name_key') =>
      tx
        .selectFrom('users')
        .select(['id', 'username_key', 'domain_key'])
        .where('account_no', '=', no)
        .where(col, '>=', term)
        .where(col, '<', hi);
    const words = tx
      .selectFrom('user_name_words')
      .select(['user_id as id', 'username_key', 'domain_key'])
      .where('account_id', '=', accountId)
      .where('word', '>=', term)
      .where('word', '<', hi);
    // Each wrapped alike, so all five are one shape: (id, username_key, domain_key).
    return [byKey('username_key'), byKey('email_key'), byKey('maid_key'), byKey('full_name_key'), words].map((range) =>
      tx.selectFrom(range.as('x')).select(['x.id', 'x.username_key', 'x.domain_key']),
    );
  }

  /** Users matching one search term, with their username sort key, from index ranges. */
  function termMatches(term: string, no: number) {
    const [first, ...rest] = termRanges(term, no);
    return rest.reduce((acc, q) => acc.union(q), first!);
  }

  /**
   * One term's first page in username order: each range gives only its own first `limit + 1`
   * after the cursor (a top-N sort, not a sort of all its matches), and the page is cut from their
   * union — the page's users are among them. A prefix matching most of a million users then reads
   * its ranges once instead of sorting and merging all of them.
   */
  function termPage(term: string, no: number, after: [string, string, string] | null, descending: boolean, limit: number) {
    const dir = descending ? 'desc' : 'asc';
    const tops = termRanges(term, no).map((range, i) => {
      let q = range;
      if (after) q = q.where((eb) => eb(eb.refTuple('x.username_key', 'x.domain_key', 'x.id'), descending ? '<' : '>', eb.tuple(...after)));
      return tx.selectFrom(q.orderBy('x.username_key', dir).orderBy('x.domain_key', dir).orderBy('x.id', dir).limit(limit).as(`r${i}`)).selectAll();
    });
    const [first, ...rest] = tops;
    return rest.reduce((acc, q) => acc.union(q), first!);
  }

  /** How many users one term matches, up to the cap: the ranges' ids gathered until the cap is passed. */
  async function termCount(term: string, no: number): Promise<{ total: number; totalCapped: boolean }> {
    const ids = new Set<string>();
    for (const range of termRanges(term, no)) {
      for (const r of await range.limit(TOTAL_CAP + 1).execute()) ids.add(r.id);
      if (ids.size > TOTAL_CAP) break;
    }
    return capTotal(ids.size);
  }

  /**
   * The search in username order (the directory's default): matches come from index ranges with
   * their sort keys, are counted and paged without reading user rows, and only the page is read.
   */
  async function searchByUsername<T>(terms: string[], no: number, descending: boolean, page: PageRequest, reading: Reading<T>): Promise<Page<T>> {
    const limit = page.limit ?? LIMIT_DEFAULT;
    const after = page.cursor ? (decodeCursor(page.cursor, ['key', 'key', 'id']) as [string, string, string]) : null;
    const matches = () => {
      const [first, ...rest] = terms.map((t, i) => tx.selectFrom(termMatches(t, no).as(`t${i}`)).selectAll());
      return rest.reduce((acc, q) => acc.intersect(q), first!);
    };
    const single = terms.length === 1;
    let q = tx.selectFrom((single ? termPage(terms[0]!, no, after, descending, limit + 1) : matches()).as('m')).select(['m.id', 'm.username_key', 'm.domain_key']);
    // A single term's ranges start after the cursor already.
    if (after && !single) q = q.where((eb) => eb(eb.refTuple('m.username_key', 'm.domain_key', 'm.id'), descending ? '<' : '>', eb.tuple(...after)));
    const dir = descending ? 'desc' : 'asc';
    const keys = await q.orderBy('m.username_key', dir).orderBy('m.domain_key', dir).orderBy('m.id', dir).limit(limit + 1).execute();
    const ids = keys.slice(0, limit).map((k) => k.id);
    const rows = ids.length ? await tx.selectFrom('users').select(reading.select([])).where('account_id', '=', accountId).where('id', 'in', ids).execute() : [];
    const byId = new Map(rows.map((r) => reading.item(r)).map((item) => [reading.id(item), item]));
    const items = ids.map((id) => byId.get(id)).filter((item) => item !== undefined);
    const last = keys[limit - 1];
    const counted = page.skipTotal
      ? { total: 0, totalCapped: false }
      : single
        ? await termCount(terms[0]!, no)
        : await cappedCount(tx, tx.selectFrom(matches().as('c')).select('c.id').limit(TOTAL_CAP + 1));
    return { items, nextCursor: keys.length > limit && last ? encodeCursor([last.username_key, last.domain_key, last.id]) : null, ...counted };
  }

  /** A page of the list, read as `reading` says. */
  async function listed<T>(query: UserListQuery, page: PageRequest, reading: Reading<T>): Promise<Page<T>> {
    const limit = page.limit ?? LIMIT_DEFAULT;
    const sort = query.sort ?? 'username';
    const desc = !!query.descending;
    const terms = searchTerms(query.q);
    const no = await accountNo();
    if (terms.length && sort === 'username' && !query.managedAppleId) return searchByUsername(terms, no, desc, page, reading);
    const columns = SORT_COLUMNS[sort];
    const cursor = page.cursor ? decodeCursor(page.cursor, columns.map(cursorPart)) : null;
    const dir = desc ? 'desc' : 'asc';
    /** The total comes from the directory's figures (no search terms to count). */
    const byFigures = !page.skipTotal && !terms.length;
    /** The figures as the page's statement read them, when it did. */
    let carried: UserSummary | null = null;
    let rows: any[];
    if (sort === 'managedAppleId') {
      // Two index ranges, each in its index's order: the linked users by MAID (from users_maid),
      // then, when the page is not full, the unlinked by username (from users_unlinked). Unlinked
      // users come last in both directions. A cursor in the second range has no MAID.
      const op = desc ? '<' : '>';
      rows = [];
      if (query.managedAppleId !== 'missing' && !(cursor && cursor[0] === null)) {
        let linked = filtered(query, no).select(reading.select(columns)).where('maid_key', 'is not', null);
        if (cursor) linked = linked.where('maid_key', op, cursor[0] as string);
        rows = await linked.orderBy('maid_key', dir).limit(limit + 1).execute();
      }
      if (rows.length <= limit && query.managedAppleId !== 'present') {
        const byUsername = SORT_COLUMNS.username;
        let unlinked = filtered(query, no).select(reading.select(columns)).where('maid_key', 'is', null);
        if (cursor && cursor[0] === null) unlinked = unlinked.where((eb) => afterCursor(eb, byUsername, cursor.slice(1), desc));
        for (const col of byUsername) unlinked = unlinked.orderBy(col, dir);
        rows.push(...(await unlinked.limit(limit + 1 - rows.length).execute()));
      }
    } else {
      let q = filtered(query, no).select(reading.select(columns));
      // The directory's figures ride along with the page (read once, as a scalar of the statement):
      // on PostgreSQL a list answers in one round trip fewer. An empty page, and a page sorted by
      // MAID (two statements above), or read packed, read them after.
      if (byFigures && !reading.alone) q = q.select((eb) => FIGURES.map((f) => eb.selectFrom('user_stats').select(f).where('account_id', '=', accountId).as(`figures_${f}`)));
      if (cursor) q = q.where((eb) => afterCursor(eb, columns, cursor, desc));
      for (const col of columns) q = q.orderBy(col, dir);
      rows = await q.limit(limit + 1).execute();
      if (byFigures && rows.length) carried = figuresOf({ total: rows[0].figures_total, linked: rows[0].figures_linked });
    }
    const counted = page.skipTotal
      ? { total: 0, totalCapped: false }
      : terms.length
        ? await cappedCount(tx, filtered(query, no).select('id').limit(TOTAL_CAP + 1))
        : capTotal(filterTotal(query.managedAppleId, carried ?? (await stats())));
    return toPage(rows, limit, (r) => reading.keys(r, columns), (r) => reading.item(r), counted);
  }

  /** The directory's exact figures, kept with every user write (see bumpStats). */
  async function stats(): Promise<UserSummary> {
    return figuresOf(await tx.selectFrom('user_stats').select(FIGURES).where('account_id', '=', accountId).executeTakeFirst());
  }

  /**
   * How many users a list without search terms holds, from the figures rather than by counting
   * (up to 10,000 index entries a page, most of a list request's time while an import runs).
   */
  function filterTotal(maid: UserListQuery['managedAppleId'], figures: UserSummary): number {
    return maid === 'present' ? figures.managedAppleIdLinked : maid === 'missing' ? figures.managedAppleIdMissing : figures.total;
  }

  function filtered(query: UserListQuery, no: number) {
    let q = tx.selectFrom('users').where('account_no', '=', no);
    if (query.managedAppleId === 'present') q = q.where('maid_key', 'is not', null);
    if (query.managedAppleId === 'missing') q = q.where('maid_key', 'is', null);
    for (const term of searchTerms(query.q)) {
      const hi = term + MAX_CHAR;
      q = q.where((eb) =>
        eb.or([
          eb.and([eb('username_key', '>=', term), eb('username_key', '<', hi)]),
          eb.and([eb('email_key', '>=', term), eb('email_key', '<', hi)]),
          eb.and([eb('maid_key', '>=', term), eb('maid_key', '<', hi)]),
          eb.and([eb('full_name_key', '>=', term), eb('full_name_key', '<', hi)]),
          eb(
            'id',
            'in',
            eb
              .selectFrom('user_name_words')
              .select('user_id')
              .where('user_name_words.account_id', '=', accountId)
              .where('word', '>=', term)
              .where('word', '<', hi),
          ),
        ]),
      );
    }
    return q;
  }

  return {
    async get(id) {
      const r = await byId(id);
      return r ? toUser(r) : null;
    },
    async findByUsername(username, domain) {
      const r = await byUsername(username, domain);
      return r ? toUser(r) : null;
    },
    async findByManagedAppleId(maid) {
      const r = await byMaid(maid);
      return r ? toUser(r) : null;
    },
    async insert(u, mark) {
      if (await byUsername(u.username, u.domain)) return 'username_taken';
      if (u.managedAppleId && (await byMaid(u.managedAppleId))) return 'maid_taken';
      // A concurrent writer may win between the checks and the insert: DO NOTHING keeps the
      // transaction usable, and the re-check says which key it took.
      const res = await tx
        .insertInto('users')
        .values(toRow(u, await accountNo(), mark))
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) {
        return (await byUsername(u.username, u.domain)) ? 'username_taken' : 'maid_taken';
      }
      await writeNameWords(u.id, u.fullName, u.username, u.domain);
      await bumpStats(1, u.managedAppleId ? 1 : 0);
      return 'ok';
    },
    async update(id, c: UserChanges, at, mark) {
      const before = await byId(id);
      if (!before) return 'missing';
      /** Writes `set` to the user if it is still as read (else the transaction runs again). */
      const write = async (set: Updateable<UserRow>) => {
        const res = await tx
          .updateTable('users')
          .set({ ...set, version: before.version + 1 })
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .where('version', '=', before.version)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) throw new RowChanged('A user changed or was deleted while it was being updated');
      };
      if (mark && Object.keys(c).length === 0) {
        // An unchanged row: only remember that this import saw the user.
        await write({ import_job_id: mark.jobId, import_row: mark.row });
        return 'ok';
      }
      const username = c.username ?? before.username;
      const domain = c.domain ?? before.domain;
      if (c.username !== undefined || c.domain !== undefined) {
        const other = await byUsername(username, domain);
        if (other && other.id !== id) return 'username_taken';
      }
      if (c.managedAppleId) {
        const other = await byMaid(c.managedAppleId);
        if (other && other.id !== id) return 'maid_taken';
      }
      const { columns, values } = changedColumns(c);
      const set: Updateable<UserRow> = Object.fromEntries(columns.map((k, i) => [k, values[i]]));
      set.updated_at = at;
      if (mark) Object.assign(set, { import_job_id: mark.jobId, import_row: mark.row });
      try {
        await write(set);
      } catch (e) {
        // A concurrent writer took the key after our check; on PostgreSQL the transaction is now
        // aborted, so the caller must fail the whole unit of work (the service throws).
        const text = String((e as { constraint?: string; message?: string }).constraint ?? (e as Error).message);
        if (/users_maid|maid_key/.test(text)) return 'maid_taken';
        if (/users_username|username_key/.test(text)) return 'username_taken';
        throw e;
      }
      const renamed = c.username !== undefined || c.domain !== undefined;
      if (renamed || (c.fullName !== undefined && c.fullName !== before.full_name)) {
        const moves = holdNameWords();
        collectWordMoves(
          id,
          { fullName: before.full_name, usernameKey: before.username_key, domainKey: before.domain_key },
          { fullName: c.fullName ?? before.full_name, usernameKey: normaliseKey(username), domainKey: normaliseKey(domain) },
          moves,
        );
        await moveNameWords(moves);
      }
      if (c.managedAppleId !== undefined) await bumpStats(0, (c.managedAppleId ? 1 : 0) - (before.maid_key ? 1 : 0));
      return 'ok';
    },
    async findByUsernames(keys) {
      if (!keys.length) return [];
      const wanted = new Set(keys.map((k) => userKey(k.username, k.domain)));
      const rows = await selectByKeys<unknown>(tx, caps, 'users', { packed: IMPORTED_COLUMNS }, { equal: { account_no: await accountNo() } }, 'username_key', keys.map((k) => normaliseKey(k.username)));
      return unpackImported(rows).filter((v) => wanted.has(userKey(v[3], v[4]))).map(toImportedUser);
    },
    async findByManagedAppleIds(maids) {
      const rows = await selectByKeys<unknown>(tx, caps, 'users', { packed: IMPORTED_COLUMNS }, { equal: { account_no: await accountNo() } }, 'maid_key', maids.map(normaliseKey));
      return unpackImported(rows).map(toImportedUser);
    },
    async insertMany(users, marks, held) {
      if (!users.length) return new Set<string>();
      const no = await accountNo();
      const rows = users.map((u, i) => userValues(u, no, marks[i]));
      const ids = await insertRows(tx, caps, 'users', INSERT_COLUMNS, rows, { skipConflicts: true, returning: 'id' });
      const inserted = new Set(ids as string[]);
      const written = users.filter((u) => inserted.has(u.id));
      const words = held ?? holdNameWords();
      for (const u of written) for (const w of wordKeys(u.id, u.fullName, normaliseKey(u.username), normaliseKey(u.domain))) words.added.push(w);
      if (!held) await moveNameWords(words);
      await bumpStats(written.length, written.filter((u) => u.managedAppleId).length);
      return inserted;
    },
    async updateMany(items, at, held) {
      // A username or MAID another row of this batch gives up can only be taken once that row is
      // written: rows taking one go one by one, in row order, after the rest. The rest cannot clash
      // with each other (the import decided them against the batch's state), so rows setting the
      // same columns go together, many to a statement. Every row matches on the version read, and
      // moves it on.
      const released = new Set<string>();
      for (const { before, changes: c } of items) {
        if (c.managedAppleId !== undefined && before.managedAppleId) released.add(`m\u0000${normaliseKey(before.managedAppleId)}`);
        if (c.username !== undefined || c.domain !== undefined) released.add(`u\u0000${userKey(before.username, before.domain)}`);
      }
      const groups = new Map<number, { columns: (keyof UserRow)[]; rows: unknown[][] }>();
      const inOrder: { columns: (keyof UserRow)[]; row: unknown[] }[] = [];
      for (const { before, changes: c, mark } of items) {
        // An unchanged user gets only the import marker (which finds later duplicates in the file).
        const { columns, values: row, set } = changedColumns(c);
        if (columns.length) {
          columns.push('updated_at');
          row.push(at);
        }
        columns.push('import_job_id', 'import_row', 'version');
        row.push(mark.jobId, mark.row, before.version + 1, accountId, before.id, before.version);
        const takesReleased =
          (c.managedAppleId && released.has(`m\u0000${normaliseKey(c.managedAppleId)}`)) ||
          ((c.username !== undefined || c.domain !== undefined) && released.has(`u\u0000${userKey(c.username ?? before.username, c.domain ?? before.domain)}`));
        if (takesReleased) {
          inOrder.push({ columns, row });
          continue;
        }
        // Rows that set the same fields write the same columns, in the same order.
        let group = groups.get(set);
        if (!group) groups.set(set, (group = { columns, rows: [] }));
        group.rows.push(row);
      }
      const match = ['account_id', 'id', 'version'];
      /** Runs an update of `rows`; every one must have matched its user as read. */
      const all = async (rows: number, update: () => Promise<number>) => {
        let updated: number;
        try {
          updated = await update();
        } catch (e) {
          if (!caps.isUniqueViolation(e)) throw e;
          throw new RowChanged('A username or Managed Apple ID was taken by another writer while the import wrote it');
        }
        if (updated < rows) throw new RowChanged('A user changed or was deleted while the import wrote it');
      };
      for (const { columns, rows } of groups.values()) await all(rows.length, () => updateRows(tx, caps, 'users', columns, match, rows));
      for (const { columns, row } of inOrder) await all(1, () => updateRow(tx, caps, 'users', columns, match, row));
      let linked = 0;
      const words = held ?? holdNameWords();
      for (const { before, changes: c } of items) {
        if (c.managedAppleId !== undefined) linked += (c.managedAppleId ? 1 : 0) - (before.managedAppleId ? 1 : 0);
        const renamed = c.username !== undefined || c.domain !== undefined;
        if (renamed || (c.fullName !== undefined && c.fullName !== before.fullName)) {
          const usernameKey = normaliseKey(before.username);
          const domainKey = normaliseKey(before.domain);
          collectWordMoves(
            before.id,
            { fullName: before.fullName, usernameKey, domainKey },
            {
              fullName: c.fullName ?? before.fullName,
              usernameKey: c.username === undefined ? usernameKey : normaliseKey(c.username),
              domainKey: c.domain === undefined ? domainKey : normaliseKey(c.domain),
            },
            words,
          );
        }
      }
      if (!held) await moveNameWords(words);
      await bumpStats(0, linked);
    },
    writeNameWords: moveNameWords,
    async countDevices(id, delta) {
      await tx
        .updateTable('users')
        // A new version too: a delete decided before the device came (no devices, then) is refused.
        .set((eb) => ({ device_count: eb('device_count', '+', delta), version: eb('version', '+', 1) }))
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
    },
    async delete(id, version) {
      const before = await byId(id);
      if (!before) return false;
      const changed = () => new RowChanged('A user changed while it was being deleted');
      if (before.version !== version) throw changed();
      await deleteNameWords(id, before.full_name, before.username_key, before.domain_key);
      const res = await tx.deleteFrom('users').where('account_id', '=', accountId).where('id', '=', id).where('version', '=', version).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw changed();
      await bumpStats(-1, before.maid_key ? -1 : 0);
      return true;
    },
    list: (query, page) => listed(query, page, asUsers),
    listTuples: (query, page) => listed(query, page, tuples),
    async countUpTo(query, upTo) {
      const row = await tx
        .selectFrom(filtered(query, await accountNo()).select('id').limit(upTo).as('c'))
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    summary: stats,
  };
}
