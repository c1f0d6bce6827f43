import type { Selectable } from 'kysely';
import type { Tx } from '../db/database.js';
import { dbBool, flag, type AccountRow, type AdminRow, type ApiTokenRow } from '../db/schema.js';
import { AppError } from '../errors.js';
import { LIMIT_DEFAULT, decodeCursor, TOTAL_CAP, type Page, type PageRequest } from '../core/paging.js';
import { cappedCount, toPage } from '../db/query.js';
import { normaliseKey } from '../core/names.js';
import type { Account, AccountSettings, Admin, ApiToken, Role } from './model.js';
import type { AccountStore, AdminStore, AdminWithSecret, OperatorLookup, SessionRecord, SessionStore, SignInLookup, TokenStore } from './store.js';

function toAccount(row: Selectable<AccountRow>, domains: string[]): Account {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    deploymentMode: row.deployment_mode as Account['deploymentMode'],
    defaultRequestMode: row.default_request_mode as Account['defaultRequestMode'],
    defaultDomain: row.default_domain,
    managedAppleIdDomains: domains,
    defaultAuthMode: row.default_auth_mode as Account['defaultAuthMode'],
    seamlessEnrollment: flag(row.seamless_enrollment),
    requestExpiryHours: row.request_expiry_hours,
    passcodeLength: row.passcode_length,
    useEmailAsManagedAppleId: flag(row.use_email_as_maid),
    requireGenuineAppleDevices: flag(row.require_genuine_apple_devices),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The columns an account's settings are kept in. */
type SettingsRow = Omit<AccountRow, 'id' | 'account_id' | 'no' | 'key' | 'created_at' | 'updated_at'>;

function settingsToRow(s: Partial<AccountSettings>): Partial<SettingsRow> {
  const row: Partial<SettingsRow> = {};
  if (s.name !== undefined) row.name = s.name;
  if (s.deploymentMode !== undefined) row.deployment_mode = s.deploymentMode;
  if (s.defaultRequestMode !== undefined) row.default_request_mode = s.defaultRequestMode;
  if (s.defaultDomain !== undefined) row.default_domain = s.defaultDomain;
  if (s.defaultAuthMode !== undefined) row.default_auth_mode = s.defaultAuthMode;
  if (s.seamlessEnrollment !== undefined) row.seamless_enrollment = dbBool(s.seamlessEnrollment);
  if (s.requestExpiryHours !== undefined) row.request_expiry_hours = s.requestExpiryHours;
  if (s.passcodeLength !== undefined) row.passcode_length = s.passcodeLength;
  if (s.useEmailAsManagedAppleId !== undefined) row.use_email_as_maid = dbBool(s.useEmailAsManagedAppleId);
  if (s.requireGenuineAppleDevices !== undefined) row.require_genuine_apple_devices = dbBool(s.requireGenuineAppleDevices);
  return row;
}

export function accountStore(tx: Tx, accountId: string): AccountStore {
  async function domains(): Promise<string[]> {
    const rows = await tx
      .selectFrom('maid_domains')
      .select('domain')
      .where('account_id', '=', accountId)
      .orderBy('position')
      .execute();
    return rows.map((r) => r.domain);
  }
  async function replaceDomains(list: string[]): Promise<void> {
    await tx.deleteFrom('maid_domains').where('account_id', '=', accountId).execute();
    for (const [position, domain] of list.entries()) {
      // A domain another account holds is invisible here; the primary key still refuses it.
      const res = await tx
        .insertInto('maid_domains')
        .values({ domain, account_id: accountId, position })
        .onConflict((oc) => oc.column('domain').doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) {
        throw new AppError('DOMAIN_CLAIMED', `The Managed Apple ID domain ${domain} belongs to another account`, {
          issues: [{ path: `managedAppleIdDomains.${position}`, message: `${domain} belongs to another account` }],
        });
      }
    }
  }
  const get = async (): Promise<Account | null> => {
    const row = await tx.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
    return row ? toAccount(row, await domains()) : null;
  };
  return {
    get,
    async insert(a) {
      await tx
        .insertInto('accounts')
        .values({
          id: accountId,
          account_id: accountId,
          key: a.key,
          created_at: a.createdAt,
          updated_at: a.updatedAt,
          ...(settingsToRow(a) as SettingsRow),
        })
        .execute();
      await replaceDomains(a.managedAppleIdDomains);
    },
    async update(changes, at) {
      const row = settingsToRow(changes);
      await tx.updateTable('accounts').set({ ...row, updated_at: at }).where('id', '=', accountId).execute();
      if (changes.managedAppleIdDomains) await replaceDomains(changes.managedAppleIdDomains);
      const account = await get();
      if (!account) throw AppError.notFound('The account');
      return account;
    },
  };
}

function toAdmin(row: AdminRow): Admin {
  return {
    id: row.id,
    accountId: row.account_id,
    email: row.email,
    role: row.role as Role,
    disabled: flag(row.disabled),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSignInAt: row.last_sign_in_at,
  };
}

export function adminStore(tx: Tx, accountId: string): AdminStore {
  const one = async (id: string) =>
    tx.selectFrom('admins').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return {
    async list(page: PageRequest): Promise<Page<Admin>> {
      const limit = page.limit ?? LIMIT_DEFAULT;
      let q = tx.selectFrom('admins').selectAll().where('account_id', '=', accountId);
      if (page.cursor) {
        const [key, id] = decodeCursor(page.cursor, ['key', 'id']) as [string, string];
        q = q.where((eb) => eb.or([eb('email_key', '>', key), eb.and([eb('email_key', '=', key), eb('id', '>', id)])]));
      }
      const rows = await q.orderBy('email_key').orderBy('id').limit(limit + 1).execute();
      const counted = await cappedCount(
        tx,
        tx.selectFrom('admins').select('id').where('account_id', '=', accountId).limit(TOTAL_CAP + 1),
      );
      return toPage(rows, limit, (r) => [r.email_key, r.id], toAdmin, counted);
    },
    async get(id) {
      const row = await one(id);
      return row ? toAdmin(row) : null;
    },
    async getWithSecret(id) {
      const row = await one(id);
      return row ? { admin: toAdmin(row), passwordHash: row.password_hash } : null;
    },
    async insert(admin, passwordHash) {
      const res = await tx
        .insertInto('admins')
        .values({
          id: admin.id,
          account_id: accountId,
          email: admin.email,
          email_key: normaliseKey(admin.email),
          role: admin.role,
          password_hash: passwordHash,
          disabled: dbBool(admin.disabled),
          created_at: admin.createdAt,
          updated_at: admin.updatedAt,
          last_sign_in_at: admin.lastSignInAt,
        })
        .onConflict((oc) => oc.column('email_key').doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) {
        throw new AppError('ADMIN_EXISTS', `An admin with the email ${admin.email} already exists`, {
          issues: [{ path: 'email', message: 'An admin with this email already exists' }],
        });
      }
    },
    async update(id, changes, at) {
      const set: Partial<AdminRow> = { updated_at: at };
      if (changes.role !== undefined) set.role = changes.role;
      if (changes.disabled !== undefined) set.disabled = dbBool(changes.disabled);
      if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
      if (changes.lastSignInAt !== undefined) {
        set.last_sign_in_at = changes.lastSignInAt;
        if (Object.keys(changes).length === 1) delete set.updated_at; // signing in is not an edit
      }
      await tx.updateTable('admins').set(set).where('account_id', '=', accountId).where('id', '=', id).execute();
      const row = await one(id);
      return row ? toAdmin(row) : null;
    },
    async delete(id) {
      const res = await tx.deleteFrom('admins').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async countActiveOwners() {
      const row = await tx
        .selectFrom('admins')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('account_id', '=', accountId)
        .where('role', '=', 'owner')
        .where('disabled', '=', dbBool(false))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

export function sessionStore(tx: Tx, accountId: string): SessionStore {
  return {
    async insert(s: SessionRecord) {
      await tx
        .insertInto('sessions')
        .values({
          id: s.id,
          account_id: accountId,
          admin_id: s.adminId,
          secret_hash: s.secretHash,
          csrf_token: s.csrfToken,
          ip: s.ip,
          user_agent: s.userAgent,
          created_at: s.createdAt,
          expires_at: s.expiresAt,
          last_seen_at: s.lastSeenAt,
        })
        .execute();
    },
    async get(id) {
      const r = await tx.selectFrom('sessions').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return r
        ? {
            id: r.id,
            adminId: r.admin_id,
            secretHash: r.secret_hash,
            csrfToken: r.csrf_token,
            ip: r.ip,
            userAgent: r.user_agent,
            createdAt: r.created_at,
            expiresAt: r.expires_at,
            lastSeenAt: r.last_seen_at,
          }
        : null;
    },
    async touch(id, at) {
      await tx.updateTable('sessions').set({ last_seen_at: at }).where('account_id', '=', accountId).where('id', '=', id).execute();
    },
    async delete(id) {
      await tx.deleteFrom('sessions').where('account_id', '=', accountId).where('id', '=', id).execute();
    },
    async deleteForAdmin(adminId) {
      await tx.deleteFrom('sessions').where('account_id', '=', accountId).where('admin_id', '=', adminId).execute();
    },
    async deleteExpired(at) {
      await tx.deleteFrom('sessions').where('account_id', '=', accountId).where('expires_at', '<', at).execute();
    },
  };
}

function toToken(r: ApiTokenRow & { admin_email: string; admin_role: string }): ApiToken {
  return {
    id: r.id,
    accountId: r.account_id,
    adminId: r.admin_id,
    adminEmail: r.admin_email,
    role: r.admin_role as Role,
    name: r.name,
    prefix: r.prefix,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
  };
}

export function tokenStore(tx: Tx, accountId: string): TokenStore {
  const base = () =>
    tx
      .selectFrom('api_tokens as t')
      .innerJoin('admins as a', (j) => j.onRef('a.id', '=', 't.admin_id').onRef('a.account_id', '=', 't.account_id'))
      .selectAll('t')
      .select(['a.email as admin_email', 'a.role as admin_role', 'a.disabled as admin_disabled'])
      .where('t.account_id', '=', accountId);
  return {
    async list(adminId, page) {
      const limit = page.limit ?? LIMIT_DEFAULT;
      let q = base();
      if (adminId) q = q.where('t.admin_id', '=', adminId);
      if (page.cursor) {
        const [at, id] = decodeCursor(page.cursor, ['instant', 'id']) as [string, string];
        q = q.where((eb) => eb.or([eb('t.created_at', '<', at), eb.and([eb('t.created_at', '=', at), eb('t.id', '<', id)])]));
      }
      const rows = await q.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc').limit(limit + 1).execute();
      let countQ = tx.selectFrom('api_tokens').select('id').where('account_id', '=', accountId);
      if (adminId) countQ = countQ.where('admin_id', '=', adminId);
      const counted = await cappedCount(tx, countQ.limit(TOTAL_CAP + 1));
      return toPage(rows, limit, (r) => [r.created_at, r.id], toToken, counted);
    },
    async get(id) {
      const r = await base().where('t.id', '=', id).executeTakeFirst();
      return r ? { token: toToken(r), secretHash: r.secret_hash, adminDisabled: flag(r.admin_disabled) } : null;
    },
    async insert(t, secretHash) {
      await tx
        .insertInto('api_tokens')
        .values({
          id: t.id,
          account_id: accountId,
          admin_id: t.adminId,
          name: t.name,
          prefix: t.prefix,
          secret_hash: secretHash,
          created_at: t.createdAt,
          expires_at: t.expiresAt,
          last_used_at: t.lastUsedAt,
        })
        .execute();
    },
    async touch(id, at) {
      await tx.updateTable('api_tokens').set({ last_used_at: at }).where('account_id', '=', accountId).where('id', '=', id).execute();
    },
    async delete(id) {
      const res = await tx.deleteFrom('api_tokens').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export function signInLookup(tx: Tx): SignInLookup {
  return {
    async findAdminByEmailKey(emailKey): Promise<AdminWithSecret | null> {
      const row = await tx.selectFrom('admins').selectAll().where('email_key', '=', emailKey).executeTakeFirst();
      return row ? { admin: toAdmin(row), passwordHash: row.password_hash } : null;
    },
  };
}


export function operatorLookup(tx: Tx): OperatorLookup {
  return {
    async listAccounts() {
      return tx.selectFrom('accounts').select(['id', 'key', 'name']).orderBy('created_at').orderBy('id').execute();
    },
  };
}
