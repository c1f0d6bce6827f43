/**
 * The employee portal behind an enrollment link (`/enroll/:token`): find the request by its token,
 * sign the employee in by the request's mode (passcode, directory password, or nothing when
 * seamless), count wrong attempts (Exceeded after 5), show the ownership and privacy notice, and
 * serve the signed profile with a fresh single-use SCEP challenge. What it shows is a view the
 * HTTP layer renders; an unknown, expired, deleted or completed link is one generic view.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock, Random } from '../core/clock.js';
import type { Actor } from '../accounts/roles.js';
import type { Account } from '../accounts/model.js';
import { verifyPassword, DUMMY_HASH } from '../accounts/passwords.js';
import { auditEvent, type AuditInput } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import type { EnrollmentRequest } from './model.js';
import { passcodeMatches, tokenHash } from './secrets.js';
import { newChallenge } from './challenges.js';

/** Wrong passcodes (or passwords) a request takes before it is locked (Exceeded). */
export const MAX_ATTEMPTS = 5;
/** How long the notice page's download ticket stays good. */
const TICKET_MS = 15 * 60_000;

/** Makes the signed profile of a request; `available` says whether this account can serve profiles at all (a push certificate, or test topics allowed). */
export interface ProfileMaker {
  available(accountId: string): Promise<boolean>;
  /** The signed profile. `accountDriven`: the BYOD profile /mdm/enroll serves (AssignedManagedAppleID, EnrollmentMode BYOD). */
  make(account: Account, request: EnrollmentRequest, scepChallenge: string, opts?: { accountDriven?: boolean }): Promise<Buffer>;
}

export type PortalView =
  | { kind: 'invalid' }
  | { kind: 'exceeded'; accountName: string }
  | { kind: 'unavailable'; accountName: string }
  | { kind: 'sign_in'; accountName: string; request: EnrollmentRequest; error?: string; attemptsLeft?: number }
  | { kind: 'notice'; accountName: string; request: EnrollmentRequest; ticket: string };

export type SignInForm = { passcode?: string; username?: string; password?: string };

const portalActor = (accountId: string, ip: string | null): Actor => ({ kind: 'system', accountId, adminId: null, label: 'enrolment portal', role: 'owner', ip, requestId: null });

export function createPortalService(deps: { uow: UnitOfWork; clock: Clock; random: Random; secretKey: Buffer; profiles: ProfileMaker }) {
  const { uow, clock, random, secretKey } = deps;
  const audit = (s: Stores, accountId: string, ip: string | null, input: AuditInput) => s.audit.append(auditEvent(portalActor(accountId, ip), input, clock, random));

  const ticketFor = (requestId: string, until: number) => {
    const mac = createHmac('sha256', secretKey).update(`portal-ticket\u0000${requestId}\u0000${until}`).digest('base64url');
    return `${until}.${mac}`;
  };
  const ticketValid = (requestId: string, ticket: string) => {
    const [until, mac] = ticket.split('.');
    if (!until || !mac || !/^\d+$/.test(until) || Number(until) < clock.now().getTime()) return false;
    const want = Buffer.from(ticketFor(requestId, Number(until)));
    const got = Buffer.from(ticket);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  /**
   * The request and account behind a link, when the link may still be used (Pending); Exceeded is told
   * apart so the page can say to contact IT. A link of a known request that can no longer be used
   * (expired, completed, deleted, failed) is audited, with the address it came from.
   */
  async function find(token: string, ip: string | null): Promise<{ account: Account; request: EnrollmentRequest } | { exceeded: string } | null> {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(token)) return null;
    const ref = await uow.system('enrolment link lookup', (s) => s.requestLinks.byTokenHash(tokenHash(secretKey, token)));
    if (!ref) return null;
    return uow.inAccount(ref.accountId, async (s) => {
      const request = await s.requests.get(ref.id);
      const account = await s.account.get();
      if (!request || !account) return null;
      if (request.status === 'exceeded') return { exceeded: account.name };
      const expired = Date.parse(request.expiresAt) <= clock.now().getTime();
      if (request.status !== 'pending' || expired) {
        await audit(s, account.id, ip, { action: 'portal.link_refused', objectType: 'enrollment_request', objectId: request.id, after: { status: request.status, expired } });
        return null;
      }
      return { account, request };
    });
  }

  async function notice(account: Account, request: EnrollmentRequest): Promise<PortalView> {
    if (!(await deps.profiles.available(account.id))) return { kind: 'unavailable', accountName: account.name };
    return { kind: 'notice', accountName: account.name, request, ticket: ticketFor(request.id, clock.now().getTime() + TICKET_MS) };
  }

  return {
    /** GET: the sign-in form, or straight to the notice when the request is seamless. */
    async open(token: string, ip: string | null = null): Promise<PortalView> {
      const found = await find(token, ip);
      if (!found) return { kind: 'invalid' };
      if ('exceeded' in found) return { kind: 'exceeded', accountName: found.exceeded };
      if (found.request.seamless) return notice(found.account, found.request);
      return { kind: 'sign_in', accountName: found.account.name, request: found.request };
    },

    /** POST: checks the passcode (or the directory password); a wrong one counts, and the fifth locks the request. */
    async signIn(token: string, form: SignInForm, ip: string | null): Promise<PortalView & { failed?: boolean }> {
      const found = await find(token, ip);
      if (!found) return { kind: 'invalid', failed: true };
      if ('exceeded' in found) return { kind: 'exceeded', accountName: found.exceeded };
      const { account, request } = found;
      if (request.seamless) return notice(account, request);
      let ok: boolean;
      if (request.authMode === 'local') {
        const user = await uow.inAccount(account.id, (s) => s.users.get(request.userId));
        const sameUser = !!user && (form.username ?? '').trim().toLowerCase() === user.username.toLowerCase();
        // Hash even when the user has no password, so timing says nothing.
        const verified = await verifyPassword(form.password ?? '', user?.passwordHash ?? DUMMY_HASH);
        ok = sameUser && !!user?.passwordHash && verified;
      } else {
        const stored = await uow.system('enrolment link lookup', (s) => s.requestLinks.passcodeHash(request.id));
        ok = !!stored && passcodeMatches(secretKey, request.id, form.passcode ?? '', stored);
      }
      if (ok) {
        await uow.inAccount(account.id, (s) => audit(s, account.id, ip, { action: 'portal.sign_in', objectType: 'enrollment_request', objectId: request.id, after: { authMode: request.authMode } }));
        // Outside the transaction: whether profiles can be served reads the account's push certificate.
        return notice(account, request);
      }
      return uow.inAccount(account.id, async (s) => {
        const at = clock.now().toISOString();
        const attempts = await s.requests.failedAttempt(request.id, MAX_ATTEMPTS, at);
        await audit(s, account.id, ip, { action: 'portal.sign_in_failed', objectType: 'enrollment_request', objectId: request.id, after: { attempts, locked: attempts >= MAX_ATTEMPTS } });
        if (attempts >= MAX_ATTEMPTS) return { kind: 'exceeded', accountName: account.name, failed: true };
        const what = request.authMode === 'local' ? 'username or password' : 'passcode';
        return { kind: 'sign_in', accountName: account.name, request, error: `That ${what} is not right.`, attemptsLeft: MAX_ATTEMPTS - attempts, failed: true };
      });
    },

    /** The profile download: the notice's ticket must be good; every download carries a new single-use challenge. */
    async profile(token: string, ticket: string, ip: string | null): Promise<{ profile: Buffer; fileName: string } | PortalView> {
      const found = await find(token, ip);
      if (!found) return { kind: 'invalid' };
      if ('exceeded' in found) return { kind: 'exceeded', accountName: found.exceeded };
      const { account, request } = found;
      if (!ticketValid(request.id, ticket)) return request.seamless ? notice(account, request) : { kind: 'sign_in', accountName: account.name, request, error: 'Please sign in again.' };
      if (!(await deps.profiles.available(account.id))) return { kind: 'unavailable', accountName: account.name };
      const challenge = await uow.inAccount(account.id, (s) => newChallenge(s, { secretKey, random, clock }, request));
      const profile = await deps.profiles.make(account, request, challenge);
      await uow.inAccount(account.id, (s) => audit(s, account.id, ip, { action: 'portal.profile_served', objectType: 'enrollment_request', objectId: request.id, after: { platform: request.platform, bytes: profile.length } }));
      const safe = account.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'Pippin';
      return { profile, fileName: `${safe}-enrollment.mobileconfig` };
    },
  };
}

export type PortalService = ReturnType<typeof createPortalService>;
