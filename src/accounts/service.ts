import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import type { Page, PageRequest } from '../core/paging.js';
import { normaliseKey } from '../core/names.js';
import { auditEvent } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import { defaultSettings, emailDomain, type Account, type AccountSettings, type Admin, type Role } from './model.js';
import { authorize, type Actor } from './roles.js';
import { hashPassword } from './passwords.js';

export interface AccountDeps {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
}

/** The operator acting through the CLI or first start: an owner of the account, audited as "operator". */
export function operatorActor(accountId: string): Actor {
  return { kind: 'system', accountId, adminId: null, label: 'operator', role: 'owner', ip: null, requestId: null };
}

const KEY_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

export function createAccountService(deps: AccountDeps) {
  const { uow, clock, random } = deps;
  const audit = (s: Stores, actor: Actor, input: Parameters<typeof auditEvent>[1]) =>
    s.audit.append(auditEvent(actor, input, clock, random));

  return {
    /**
     * Creates an account with DESIGN.md's defaults (default domain from the owner's email) and its
     * first owner. Operator only (CLI, first start). Throws ADMIN_EXISTS when the email is taken.
     */
    async createAccount(input: { name: string; ownerEmail: string; ownerPassword: string }): Promise<{ account: Account; owner: Admin }> {
      const id = random.id();
      const now = clock.now().toISOString();
      const key = Array.from(random.bytes(10), (b) => KEY_ALPHABET[b % KEY_ALPHABET.length]).join('');
      const account: Account = { id, key, ...defaultSettings(input.name, emailDomain(input.ownerEmail)), createdAt: now, updatedAt: now };
      const owner: Admin = {
        id: random.id(),
        accountId: id,
        email: input.ownerEmail.trim(),
        role: 'owner',
        disabled: false,
        createdAt: now,
        updatedAt: now,
        lastSignInAt: null,
      };
      const passwordHash = await hashPassword(input.ownerPassword);
      const actor = operatorActor(id);
      await uow.inAccount(id, async (s) => {
        await s.account.insert(account);
        await s.admins.insert(owner, passwordHash);
        await audit(s, actor, { action: 'account.create', objectType: 'account', objectId: id, after: account });
        await audit(s, actor, { action: 'admin.create', objectType: 'admin', objectId: owner.id, after: owner });
      });
      return { account, owner };
    },

    /** The actor's account. */
    async getAccount(actor: Actor): Promise<Account> {
      authorize(actor, 'account.read');
      const account = await uow.inAccount(actor.accountId, (s) => s.account.get());
      if (!account) throw AppError.notFound('The account');
      return account;
    },

    /** Changes settings (owner). MAID domains are lower-cased and de-duplicated; DOMAIN_CLAIMED when another account holds one. */
    async updateAccount(actor: Actor, changes: Partial<AccountSettings>): Promise<Account> {
      authorize(actor, 'account.update');
      const clean = { ...changes };
      if (clean.managedAppleIdDomains) clean.managedAppleIdDomains = [...new Set(clean.managedAppleIdDomains.map(normaliseKey))];
      if (clean.defaultDomain !== undefined) clean.defaultDomain = normaliseKey(clean.defaultDomain);
      return uow.inAccount(actor.accountId, async (s) => {
        const before = await s.account.get();
        if (!before) throw AppError.notFound('The account');
        const after = await s.account.update(clean, clock.now().toISOString());
        await audit(s, actor, { action: 'account.update', objectType: 'account', objectId: after.id, before, after });
        return after;
      });
    },

    /** Admins of the account (owner). */
    async listAdmins(actor: Actor, page: PageRequest): Promise<Page<Admin>> {
      authorize(actor, 'admins.manage');
      return uow.inAccount(actor.accountId, (s) => s.admins.list(page));
    },

    async getAdmin(actor: Actor, id: string): Promise<Admin> {
      authorize(actor, 'admins.manage');
      const admin = await uow.inAccount(actor.accountId, (s) => s.admins.get(id));
      if (!admin) throw AppError.notFound('The admin');
      return admin;
    },

    /** Adds an admin (owner). ADMIN_EXISTS when the email already signs in anywhere. */
    async createAdmin(actor: Actor, input: { email: string; role: Role; password: string }): Promise<Admin> {
      authorize(actor, 'admins.manage');
      const now = clock.now().toISOString();
      const admin: Admin = {
        id: random.id(),
        accountId: actor.accountId,
        email: input.email.trim(),
        role: input.role,
        disabled: false,
        createdAt: now,
        updatedAt: now,
        lastSignInAt: null,
      };
      const hash = await hashPassword(input.password);
      return uow.inAccount(actor.accountId, async (s) => {
        await s.admins.insert(admin, hash);
        await audit(s, actor, { action: 'admin.create', objectType: 'admin', objectId: admin.id, after: admin });
        return admin;
      });
    },

    /**
     * Changes an admin's role, disables or enables them, or resets their password (owner). Refuses
     * (LAST_OWNER) to leave the account without an active owner. Disabling or a new password ends
     * the admin's sessions.
     */
    async updateAdmin(actor: Actor, id: string, changes: { role?: Role; disabled?: boolean; password?: string }): Promise<Admin> {
      authorize(actor, 'admins.manage');
      const passwordHash = changes.password !== undefined ? await hashPassword(changes.password) : undefined;
      return uow.inAccount(actor.accountId, async (s) => {
        const before = await s.admins.get(id);
        if (!before) throw AppError.notFound('The admin');
        const after = await s.admins.update(
          id,
          { role: changes.role, disabled: changes.disabled, passwordHash },
          clock.now().toISOString(),
        );
        if (!after) throw AppError.notFound('The admin');
        if (before.role === 'owner' && !before.disabled && (await s.admins.countActiveOwners()) === 0) {
          throw new AppError('LAST_OWNER', 'The account must keep at least one active owner');
        }
        if (changes.disabled || passwordHash) await s.sessions.deleteForAdmin(id);
        await audit(s, actor, {
          action: 'admin.update',
          objectType: 'admin',
          objectId: id,
          before,
          after: passwordHash ? { ...after, password: 'reset' } : after,
        });
        return after;
      });
    },

    /** Removes an admin with their sessions and tokens (owner). LAST_OWNER as for update. */
    async deleteAdmin(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'admins.manage');
      await uow.inAccount(actor.accountId, async (s) => {
        const before = await s.admins.get(id);
        if (!before) throw AppError.notFound('The admin');
        await s.admins.delete(id);
        if (before.role === 'owner' && !before.disabled && (await s.admins.countActiveOwners()) === 0) {
          throw new AppError('LAST_OWNER', 'The account must keep at least one active owner');
        }
        await audit(s, actor, { action: 'admin.delete', objectType: 'admin', objectId: id, before });
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
