import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import { normaliseKey } from '../core/names.js';
import type { Page, PageRequest } from '../core/paging.js';
import { auditEvent } from '../audit/record.js';
import type { UnitOfWork } from '../stores.js';
import type { Admin, ApiToken } from './model.js';
import { DUMMY_HASH, verifyPassword } from './passwords.js';
import { authorize, can, type Actor } from './roles.js';
import type { SignInThrottle } from './throttle.js';

export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export const SESSION_HOURS = 12;
const TOUCH_EVERY_MS = 60_000;
const TOKEN_PREFIX = 'pip_';

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const uuidToBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
const bytesToUuid = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface SignedIn {
  admin: Admin;
  account: { id: string; name: string };
  csrfToken: string;
  /** The cookie value: account id, session id and secret; only the secret's hash is stored. */
  cookie: string;
  expiresAt: string;
}

function adminActor(admin: Admin, ctx: RequestContext): Actor {
  return {
    kind: 'admin',
    accountId: admin.accountId,
    adminId: admin.id,
    label: normaliseKey(admin.email),
    role: admin.role,
    ip: ctx.ip,
    requestId: ctx.requestId,
  };
}

export function createAuthService(deps: { uow: UnitOfWork; clock: Clock; random: Random; throttle: SignInThrottle }) {
  const { uow, clock, random, throttle } = deps;
  const refuse = () => new AppError('UNAUTHENTICATED', 'Email or password is incorrect');

  return {
    /**
     * Signs an admin in. Every failure answers the same UNAUTHENTICATED, whether or not the email
     * exists; repeated failures per (email, IP) and per IP are slowed with RATE_LIMITED.
     */
    async signIn(email: string, password: string, ctx: RequestContext): Promise<SignedIn> {
      const emailKey = normaliseKey(email);
      const ip = ctx.ip ?? 'unknown';
      const wait = throttle.retryAfter(emailKey, ip);
      if (wait > 0) throw new AppError('RATE_LIMITED', `Too many failed sign-ins: try again in ${wait} s`, { retryAfter: wait }, wait);

      const found = await uow.system('sign-in lookup by email', (s) => s.signIn.findAdminByEmailKey(emailKey));
      const ok = await verifyPassword(password, found?.passwordHash ?? DUMMY_HASH);
      if (!found || !ok || found.admin.disabled) {
        throttle.failed(emailKey, ip);
        if (found) {
          const actor = adminActor(found.admin, ctx);
          await uow.inAccount(found.admin.accountId, (s) =>
            s.audit.append(
              auditEvent(actor, {
                action: 'session.sign_in_failed',
                objectType: 'admin',
                objectId: found.admin.id,
                after: { reason: found.admin.disabled ? 'disabled' : 'wrong password' },
              }, clock, random),
            ),
          );
        }
        throw refuse();
      }
      throttle.succeeded(emailKey, ip);
      const admin = found.admin;
      const now = clock.now();
      const sessionId = random.id();
      const secret = random.bytes(32).toString('base64url');
      const csrfToken = random.bytes(32).toString('base64url');
      const expiresAt = new Date(now.getTime() + SESSION_HOURS * 3600_000).toISOString();
      const actor = adminActor(admin, ctx);
      const result = await uow.inAccount(admin.accountId, async (s) => {
        await s.sessions.deleteExpired(now.toISOString());
        await s.sessions.insert({
          id: sessionId,
          adminId: admin.id,
          secretHash: sha256(secret),
          csrfToken,
          ip: ctx.ip,
          userAgent: ctx.userAgent?.slice(0, 500) ?? null,
          createdAt: now.toISOString(),
          expiresAt,
          lastSeenAt: now.toISOString(),
        });
        const updated = (await s.admins.update(admin.id, { lastSignInAt: now.toISOString() }, now.toISOString())) ?? admin;
        const account = await s.account.get();
        await s.audit.append(auditEvent(actor, { action: 'session.sign_in', objectType: 'admin', objectId: admin.id }, clock, random));
        return { admin: updated, account: { id: admin.accountId, name: account?.name ?? '' } };
      });
      return { ...result, csrfToken, cookie: `${admin.accountId}.${sessionId}.${secret}`, expiresAt };
    },

    /** The signed-in admin for a session cookie, or null when it is unknown, expired or the admin is disabled. */
    async resolveSession(cookie: string, ctx: RequestContext): Promise<{ actor: Actor; admin: Admin; account: { id: string; name: string }; csrfToken: string; sessionId: string } | null> {
      const [accountId, sessionId, secret] = cookie.split('.');
      if (!accountId || !sessionId || !secret || !UUID.test(accountId) || !UUID.test(sessionId)) return null;
      return uow.inAccount(accountId, async (s) => {
        const session = await s.sessions.get(sessionId);
        if (!session || !sameHash(session.secretHash, sha256(secret))) return null;
        const now = clock.now();
        if (session.expiresAt <= now.toISOString()) {
          await s.sessions.delete(sessionId);
          return null;
        }
        const admin = await s.admins.get(session.adminId);
        if (!admin || admin.disabled) return null;
        if (now.getTime() - Date.parse(session.lastSeenAt) > TOUCH_EVERY_MS) await s.sessions.touch(sessionId, now.toISOString());
        const account = await s.account.get();
        return {
          actor: adminActor(admin, ctx),
          admin,
          account: { id: accountId, name: account?.name ?? '' },
          csrfToken: session.csrfToken,
          sessionId,
        };
      });
    },

    /** Ends a session (and records the sign-out). */
    async signOut(actor: Actor, sessionId: string): Promise<void> {
      await uow.inAccount(actor.accountId, async (s) => {
        await s.sessions.delete(sessionId);
        await s.audit.append(auditEvent(actor, { action: 'session.sign_out', objectType: 'admin', objectId: actor.adminId }, clock, random));
      });
    },

    /** The actor for an API token (with its creator's current role), or null when unknown, expired or the creator is disabled. */
    async resolveToken(bearer: string, ctx: RequestContext): Promise<Actor | null> {
      if (!bearer.startsWith(TOKEN_PREFIX)) return null;
      const raw = Buffer.from(bearer.slice(TOKEN_PREFIX.length), 'base64url');
      if (raw.length !== 64) return null;
      const secret = raw.subarray(0, 32);
      const accountId = bytesToUuid(raw.subarray(32, 48));
      const tokenId = bytesToUuid(raw.subarray(48, 64));
      return uow.inAccount(accountId, async (s) => {
        const found = await s.tokens.get(tokenId); // with its admin's email, role and whether disabled
        if (!found || !sameHash(found.secretHash, sha256(secret))) return null;
        const now = clock.now();
        if (found.token.expiresAt && found.token.expiresAt <= now.toISOString()) return null;
        if (found.adminDisabled) return null;
        const { adminId, adminEmail, role } = found.token;
        const last = found.token.lastUsedAt ? Date.parse(found.token.lastUsedAt) : 0;
        if (now.getTime() - last > TOUCH_EVERY_MS) await s.tokens.touch(tokenId, now.toISOString());
        return {
          kind: 'token',
          accountId,
          adminId,
          tokenId,
          label: `token "${found.token.name}" (${normaliseKey(adminEmail)})`,
          role,
          ip: ctx.ip,
          requestId: ctx.requestId,
        } satisfies Actor;
      });
    },

    /** Tokens the actor may see: all of the account's for an owner, else their own. */
    async listTokens(actor: Actor, page: PageRequest): Promise<Page<ApiToken>> {
      authorize(actor, 'tokens.own');
      const scope = can(actor.role, 'tokens.all') ? undefined : (actor.adminId ?? '');
      return uow.inAccount(actor.accountId, (s) => s.tokens.list(scope, page));
    },

    /**
     * Creates an API token carrying its admin's role; the secret is returned once. An operator may
     * name the admin (`forAdminId`); anyone else creates their own.
     */
    async createToken(actor: Actor, input: { name: string; expiresInDays?: number; forAdminId?: string }): Promise<ApiToken & { token: string }> {
      authorize(actor, 'tokens.own');
      const adminId = actor.kind === 'system' ? input.forAdminId : actor.adminId;
      if (!adminId) throw AppError.validation([{ path: 'admin', message: 'Name the admin the token acts as' }]);
      const now = clock.now();
      const id = random.id();
      const secret = random.bytes(32);
      const token = TOKEN_PREFIX + Buffer.concat([secret, uuidToBytes(actor.accountId), uuidToBytes(id)]).toString('base64url');
      const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86400_000).toISOString() : null;
      return uow.inAccount(actor.accountId, async (s) => {
        const admin = await s.admins.get(adminId);
        if (!admin) throw AppError.notFound('The admin');
        const record = { id, accountId: actor.accountId, adminId, name: input.name.trim(), prefix: token.slice(0, 12), createdAt: now.toISOString(), expiresAt, lastUsedAt: null };
        await s.tokens.insert(record, sha256(secret));
        const created: ApiToken = { ...record, adminEmail: admin.email, role: admin.role };
        await s.audit.append(auditEvent(actor, { action: 'token.create', objectType: 'token', objectId: id, after: created }, clock, random));
        return { ...created, token };
      });
    },

    /** Revokes a token: one's own, or any of the account's for an owner. NOT_FOUND for tokens the actor cannot see. */
    async deleteToken(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'tokens.own');
      await uow.inAccount(actor.accountId, async (s) => {
        const found = await s.tokens.get(id);
        if (!found || (!can(actor.role, 'tokens.all') && found.token.adminId !== actor.adminId)) throw AppError.notFound('The token');
        await s.tokens.delete(id);
        await s.audit.append(auditEvent(actor, { action: 'token.delete', objectType: 'token', objectId: id, before: found.token }, clock, random));
      });
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
