import type { Page, PageRequest } from '../core/paging.js';
import type { Account, AccountSettings, Admin, ApiToken, Role } from './model.js';

/** The account a unit of work is bound to. */
export interface AccountStore {
  /** The bound account, or null when it does not exist (or is not visible). */
  get(): Promise<Account | null>;
  /** Inserts the bound account with its settings; its MAID domains must be unclaimed. */
  insert(account: Account): Promise<void>;
  /**
   * Applies the changed settings and returns the account. Throws DOMAIN_CLAIMED naming the first
   * Managed Apple ID domain another account holds.
   */
  update(changes: Partial<AccountSettings>, at: string): Promise<Account>;
}

export interface AdminWithSecret {
  admin: Admin;
  passwordHash: string;
}

export interface AdminStore {
  list(page: PageRequest): Promise<Page<Admin>>;
  /** The admin with this id in the bound account, or null. */
  get(id: string): Promise<Admin | null>;
  getWithSecret(id: string): Promise<AdminWithSecret | null>;
  /** Throws ADMIN_EXISTS when the email signs in to any account already. */
  insert(admin: Admin, passwordHash: string): Promise<void>;
  update(id: string, changes: { role?: Role; disabled?: boolean; passwordHash?: string; lastSignInAt?: string }, at: string): Promise<Admin | null>;
  /** True when a row was deleted. */
  delete(id: string): Promise<boolean>;
  /** Owners that are not disabled. */
  countActiveOwners(): Promise<number>;
}

export interface SessionRecord {
  id: string;
  adminId: string;
  secretHash: string;
  csrfToken: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
}

export interface SessionStore {
  insert(session: SessionRecord): Promise<void>;
  /** The session, or null when unknown in the bound account. */
  get(id: string): Promise<SessionRecord | null>;
  touch(id: string, at: string): Promise<void>;
  delete(id: string): Promise<void>;
  deleteForAdmin(adminId: string): Promise<void>;
  /** Removes the account's sessions that expired before `at`. */
  deleteExpired(at: string): Promise<void>;
}

export interface TokenStore {
  /** Tokens of one admin, or of the whole account when adminId is undefined; newest first. */
  list(adminId: string | undefined, page: PageRequest): Promise<Page<ApiToken>>;
  /** A token with its secret's hash and whether its admin is disabled (what signing in with it needs, in one read), or null. */
  get(id: string): Promise<{ token: ApiToken; secretHash: string; adminDisabled: boolean } | null>;
  insert(token: Omit<ApiToken, 'adminEmail' | 'role'>, secretHash: string): Promise<void>;
  touch(id: string, at: string): Promise<void>;
  delete(id: string): Promise<boolean>;
}

/** The one cross-account lookup of this feature (system path "sign-in lookup by email"). */
export interface SignInLookup {
  findAdminByEmailKey(emailKey: string): Promise<AdminWithSecret | null>;
}

/** What operator commands (first start, the CLI) may look up across accounts (system path "operator command"). */
export interface OperatorLookup {
  /** Accounts oldest first, as { id, key, name }. */
  listAccounts(): Promise<{ id: string; key: string; name: string }[]>;
}
