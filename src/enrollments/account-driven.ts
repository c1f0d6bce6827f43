/**
 * Account-driven User Enrollment (iOS 15+, the only User Enrollment on iOS 18+; APPLE.md §4):
 * discovery by the Managed Apple ID's domain, the device's enrol POST (401 until it carries an
 * access token), the sign-in web view that mints the token from the employee's Pending User
 * Enrollment request (its passcode, or the directory password), and the BYOD profile. Pure of
 * HTTP: the routes render what these return.
 */
import type { Clock, Random } from '../core/clock.js';
import type { Actor } from '../accounts/roles.js';
import type { Account } from '../accounts/model.js';
import { DUMMY_HASH, verifyPassword } from '../accounts/passwords.js';
import { auditEvent, type AuditInput } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import { parsePlist, PlistError } from '../apple/plist.js';
import { parseSignedData, verifySigner } from '../apple/cms.js';
import { appleAnchors, chainsToAnchor } from '../apple/anchors.js';
import type { X509Certificate } from 'node:crypto';
import type { EnrollmentRequest } from './model.js';
import { accessTokenHash, passcodeMatches } from './secrets.js';
import { newChallenge } from './challenges.js';
import { MAX_ATTEMPTS, type ProfileMaker } from './portal.js';

/** An access token is good for its one /mdm/enroll for this long after sign-in. */
export const ACCESS_TOKEN_SIGN_IN_MS = 10 * 60_000;
/** The custom scheme the device's web view waits for. */
export const AUTH_RESULT_URL = 'apple-remotemanagement-user-login://authentication-results';
/** Enrol bodies larger than this are refused. */
export const ENROL_MAX_BYTES = 64 * 1024;

export type Discovery = { status: 200; body: { Servers: { Version: 'mdm-byod'; BaseURL: string }[] } } | { status: 403; body: { code: 'com.apple.well-known.failed' } };

export type EnrolOutcome =
  | { status: 200; profile: Buffer }
  | { status: 401; wwwAuthenticate: string }
  | { status: 400; reason: string };

export type AuthView =
  | { kind: 'refused' }
  | { kind: 'locked'; accountName: string }
  | { kind: 'sign_in'; accountName: string; managedAppleId: string; local: boolean; error?: string; attemptsLeft?: number }
  | { kind: 'redirect'; location: string };

const MAID_SHAPE = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,253}$/;
const domainOf = (id: string) => id.slice(id.lastIndexOf('@') + 1).toLowerCase();

export function createAccountDrivenService(deps: {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
  secretKey: Buffer;
  publicUrl: string;
  profiles: ProfileMaker;
  /** Roots a genuine Apple device's identity chains to (Apple's root; tests give their own). */
  appleAnchors?: () => X509Certificate[];
}) {
  const { uow, clock, random, secretKey } = deps;
  const base = deps.publicUrl.replace(/\/+$/, '');
  const actor = (accountId: string, ip: string | null, label: string): Actor => ({ kind: 'system', accountId, adminId: null, label, role: 'owner', ip, requestId: null });
  const audit = (s: Stores, accountId: string, ip: string | null, label: string, input: AuditInput) => s.audit.append(auditEvent(actor(accountId, ip, label), input, clock, random));
  const challenge401 = `Bearer method="apple-as-web", url="${base}/mdm/authenticate"`;
  const byod = { status: 200 as const, body: { Servers: [{ Version: 'mdm-byod' as const, BaseURL: `${base}/mdm/enroll` }] } };
  const failed = { status: 403 as const, body: { code: 'com.apple.well-known.failed' as const } };

  /** The user's Pending User Enrollment request behind a MAID, with its account. */
  async function pendingFor(maid: string): Promise<{ account: Account; request: EnrollmentRequest } | null> {
    if (!MAID_SHAPE.test(maid)) return null;
    const ref = await uow.system('discovery by MAID domain', (s) => s.accountDriven.pendingUserEnrollment(maid));
    if (!ref) return null;
    return uow.inAccount(ref.accountId, async (s) => {
      const account = await s.account.get();
      const request = await s.requests.get(ref.requestId);
      if (!account || !request || request.status !== 'pending' || Date.parse(request.expiresAt) <= clock.now().getTime()) return null;
      return { account, request };
    });
  }

  return {
    /** `/.well-known/com.apple.remotemanagement`: the BYOD server when the identifier's domain (or the account key) belongs to an account. */
    async discover(q: { userIdentifier?: string; accountKey?: string }, ip: string | null): Promise<Discovery> {
      const found = await uow.system('discovery by MAID domain', (s) =>
        q.accountKey !== undefined ? s.accountDriven.accountForKey(q.accountKey) : q.userIdentifier && q.userIdentifier.includes('@') ? s.accountDriven.accountForDomain(domainOf(q.userIdentifier)) : Promise.resolve(null),
      );
      if (!found) return failed;
      await uow.inAccount(found.accountId, (s) =>
        audit(s, found.accountId, ip, 'account-driven discovery', {
          action: 'enrol.discovery',
          after: { domain: q.userIdentifier ? domainOf(q.userIdentifier) : null, accountKey: q.accountKey ?? null, outcome: 'mdm-byod' },
        }),
      );
      return byod;
    },

    /**
     * `POST /mdm/enroll`: the device-signed body (CMS, else a plain plist) names its product and
     * version; without a good access token the answer is the 401 challenge, with one the BYOD profile.
     */
    async enrol(body: Buffer, bearer: string | undefined, ip: string | null): Promise<EnrolOutcome> {
      if (!body.length || body.length > ENROL_MAX_BYTES) return { status: 400, reason: 'empty or oversized body' };
      let plist: Buffer = body;
      /** Signed by a device identity that chains to Apple's root (checked only when an account asks). */
      let genuine = false;
      try {
        const parsed = parseSignedData(body);
        if (parsed.content) {
          plist = Buffer.from(parsed.content);
          const v = verifySigner(parsed, plist);
          genuine = v.ok && chainsToAnchor(v.signer.cert, parsed, (deps.appleAnchors ?? appleAnchors)(), clock.now());
        }
      } catch {
        /* not CMS: a plain plist (some iOS versions send one) */
      }
      let info: Record<string, unknown>;
      try {
        const v = parsePlist(plist, { maxBytes: ENROL_MAX_BYTES });
        if (!v || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v) || v instanceof Date) return { status: 400, reason: 'the body is not a plist dict' };
        info = v as Record<string, unknown>;
      } catch (e) {
        if (e instanceof PlistError) return { status: 400, reason: `plist: ${e.message}` };
        throw e;
      }
      if (!bearer) return { status: 401, wwwAuthenticate: challenge401 };
      const hash = accessTokenHash(secretKey, bearer);
      const token = await uow.system('discovery by MAID domain', (s) => s.accountDriven.token(hash));
      const now = clock.now();
      if (!token || token.revokedAt || token.usedAt || Date.parse(token.expiresAt) <= now.getTime()) return { status: 401, wwwAuthenticate: challenge401 };
      const at = now.toISOString();
      const served = await uow.inAccount(token.accountId, async (s) => {
        const account = await s.account.get();
        const request = await s.requests.get(token.requestId);
        if (!account || !request || request.status !== 'pending' || !request.userEnrollment) return null;
        if (account.requireGenuineAppleDevices && !genuine) return 'not_genuine' as const;
        // One device per token: the first enrol spends it.
        if (!(await s.accessTokens.use(hash, at))) return null;
        const challenge = await newChallenge(s, { secretKey, random, clock }, request, hash);
        await audit(s, account.id, ip, 'account-driven enrolment', {
          action: 'enrol.profile_served',
          objectType: 'enrollment_request',
          objectId: request.id,
          after: { product: typeof info.PRODUCT === 'string' ? info.PRODUCT : null, version: typeof info.VERSION === 'string' ? info.VERSION : null, genuineAppleDevice: genuine },
        });
        return { account, request, challenge };
      });
      if (served === 'not_genuine') return { status: 400, reason: 'the account requires genuine Apple devices and the body is not signed by an identity that chains to Apple' };
      if (!served) return { status: 401, wwwAuthenticate: challenge401 };
      return { status: 200, profile: await deps.profiles.make(served.account, served.request, served.challenge, { accountDriven: true }) };
    },

    /** `GET /mdm/authenticate?user-identifier=MAID`: the sign-in page, or a generic refusal. */
    async authPage(userIdentifier: string): Promise<AuthView> {
      const found = await pendingFor(userIdentifier.trim());
      if (!found) return { kind: 'refused' };
      return { kind: 'sign_in', accountName: found.account.name, managedAppleId: found.request.managedAppleId ?? userIdentifier, local: found.request.authMode === 'local' };
    },

    /** `POST /mdm/authenticate`: the request's passcode (or directory password) mints the access token; failures count toward the request's lockout. */
    async authenticate(userIdentifier: string, form: { passcode?: string; username?: string; password?: string }, ip: string | null): Promise<AuthView & { failed?: boolean }> {
      const found = await pendingFor(userIdentifier.trim());
      if (!found) return { kind: 'refused', failed: true };
      const { account, request } = found;
      let ok: boolean;
      if (request.authMode === 'local') {
        const user = await uow.inAccount(account.id, (s) => s.users.get(request.userId));
        const verified = await verifyPassword(form.password ?? '', user?.passwordHash ?? DUMMY_HASH);
        ok = !!user?.passwordHash && verified && (form.username ?? '').trim().toLowerCase() === user.username.toLowerCase();
      } else {
        const stored = await uow.system('enrolment link lookup', (s) => s.requestLinks.passcodeHash(request.id));
        ok = !!stored && passcodeMatches(secretKey, request.id, form.passcode ?? '', stored);
      }
      const at = clock.now();
      return uow.inAccount(account.id, async (s) => {
        if (!ok) {
          const attempts = await s.requests.failedAttempt(request.id, MAX_ATTEMPTS, at.toISOString());
          await audit(s, account.id, ip, 'account-driven sign-in', { action: 'enrol.sign_in_failed', objectType: 'enrollment_request', objectId: request.id, after: { attempts, locked: attempts >= MAX_ATTEMPTS } });
          if (attempts >= MAX_ATTEMPTS) return { kind: 'locked', accountName: account.name, failed: true };
          const what = request.authMode === 'local' ? 'username or password' : 'passcode';
          return { kind: 'sign_in', accountName: account.name, managedAppleId: request.managedAppleId ?? userIdentifier, local: request.authMode === 'local', error: `That ${what} is not right.`, attemptsLeft: MAX_ATTEMPTS - attempts, failed: true };
        }
        const token = random.bytes(32).toString('base64url');
        await s.accessTokens.insert({ hash: accessTokenHash(secretKey, token), requestId: request.id, issuedAt: at.toISOString(), expiresAt: new Date(at.getTime() + ACCESS_TOKEN_SIGN_IN_MS).toISOString() });
        await audit(s, account.id, ip, 'account-driven sign-in', { action: 'enrol.sign_in', objectType: 'enrollment_request', objectId: request.id, after: { authMode: request.authMode } });
        await audit(s, account.id, ip, 'account-driven sign-in', { action: 'enrol.token_issued', objectType: 'enrollment_request', objectId: request.id, after: { expiresAt: new Date(at.getTime() + ACCESS_TOKEN_SIGN_IN_MS).toISOString() } });
        return { kind: 'redirect', location: `${AUTH_RESULT_URL}?access-token=${encodeURIComponent(token)}` };
      });
    },
  };
}

export type AccountDrivenService = ReturnType<typeof createAccountDrivenService>;
