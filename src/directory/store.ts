import type { Page, PageRequest } from '../core/paging.js';
import type { AuthType, User, UserListQuery, UserStatus, UserSummary, UserTuple } from './model.js';

/** What a user row holds beyond the public shape. */
export interface UserRecord extends User {
  passwordHash: string | null;
  /** The import job that last touched the user, and at which row (null when none did). */
  importJobId?: string | null;
  importRow?: number | null;
  /** How many updates the row has had (0 for a new user): a write decided from a read matches on it. */
  version: number;
}

/**
 * What an import reads of each user its rows name: the fields a row may change or a rule reads, and
 * the import marker. Fewer columns than a whole record, as a re-import reads a million of them.
 */
export type ImportedUser = Pick<
  UserRecord,
  'id' | 'username' | 'domain' | 'email' | 'fullName' | 'phone' | 'groups' | 'authType' | 'managedAppleId' | 'status' | 'importJobId' | 'importRow' | 'version'
>;

/** The public shape of a user: no password hash, no import marker, no version. */
export const toPublicUser = ({ passwordHash: _p, importJobId: _j, importRow: _r, version: _v, ...u }: UserRecord): User => u;

/** Marks a write as made by an import row (for finding in-file duplicates). */
export interface ImportMark {
  jobId: string;
  row: number;
}

export type UserChanges = Partial<{
  username: string;
  domain: string;
  email: string;
  fullName: string;
  phone: string;
  groups: string[];
  authType: AuthType;
  managedAppleId: string | null;
  status: UserStatus;
  passwordHash: string | null;
}>;

/**
 * Name-word rows an import's writes hold back (each row's key in the index's order), written once
 * by `writeNameWords` after the batch's last slice: a batch's words then go into the index one
 * page after another, in key order, however many slices wrote its users.
 */
export interface HeldNameWords {
  gone: string[][];
  added: string[][];
}

export const holdNameWords = (): HeldNameWords => ({ gone: [], added: [] });

/** The directory of the bound account. */
export interface UserStore {
  /** The user, or null when there is none with this id in the account. */
  get(id: string): Promise<UserRecord | null>;
  /** The user with this (username, domain), compared case-insensitively, or null. */
  findByUsername(username: string, domain: string): Promise<UserRecord | null>;
  /** The user holding this MAID (normalised), or null. */
  findByManagedAppleId(maid: string): Promise<UserRecord | null>;
  /**
   * Inserts a user unless (username, domain) or the MAID is taken. Returns 'ok', or which key was
   * taken (checked in that order). Never half-applies.
   */
  insert(user: UserRecord, mark?: ImportMark): Promise<'ok' | 'username_taken' | 'maid_taken'>;
  /** Applies the changes; returns 'ok', 'missing', or which unique key the change would reuse. */
  update(id: string, changes: UserChanges, at: string, mark?: ImportMark): Promise<'ok' | 'missing' | 'username_taken' | 'maid_taken'>;
  /** The users with any of these (username, domain) keys (compared case-insensitively). */
  findByUsernames(keys: { username: string; domain: string }[]): Promise<ImportedUser[]>;
  /** The users holding any of these MAIDs. */
  findByManagedAppleIds(maids: string[]): Promise<ImportedUser[]>;
  /**
   * Inserts many new users (with their name words and the directory figures) in as few statements
   * as the engine allows. Returns the ids inserted: a missing one lost its username or MAID to a
   * concurrent writer and was not written at all. With `held`, the name words are added to it
   * instead, for `writeNameWords`.
   */
  insertMany(users: UserRecord[], marks: ImportMark[], held?: HeldNameWords): Promise<Set<string>>;
  /**
   * Applies an import batch's changes to existing users as the caller read them (`before`: in the
   * same transaction, or with plan-ahead in one just before it), marking each as seen by the
   * import; unchanged users are only marked. Throws RowChanged, which runs the transaction again,
   * when a user is no longer as read (another writer updated or deleted it since) or a concurrent
   * writer took a username or MAID a change gives. With `held`, the name-word moves are added to
   * it instead, for `writeNameWords`.
   */
  updateMany(items: { before: ImportedUser; changes: UserChanges; mark: ImportMark }[], at: string, held?: HeldNameWords): Promise<void>;
  /** Writes the name-word rows `insertMany` and `updateMany` held: the rows going, then the rows coming, each in key order. */
  writeNameWords(held: HeldNameWords): Promise<void>;
  /** Adds `delta` to the user's enrolled-device count (a device enrolled or checked out). */
  countDevices(id: string, delta: number): Promise<void>;
  /**
   * Deletes a user (and their name words) as the caller read them, at `version`: false when there
   * is no such user; RowChanged when it changed since.
   */
  delete(id: string, version: number): Promise<boolean>;
  /** Keyset-paged list; the cursor is stable under concurrent inserts. */
  list(query: UserListQuery, page: PageRequest): Promise<Page<User>>;
  /** The same pages as `list` (same users, order and cursors), each user as a tuple: for exports. */
  listTuples(query: UserListQuery, page: PageRequest): Promise<Page<UserTuple>>;
  /** Exact figures. */
  summary(): Promise<UserSummary>;
  /** How many users match the query, counting no further than `upTo`. */
  countUpTo(query: UserListQuery, upTo: number): Promise<number>;
}
