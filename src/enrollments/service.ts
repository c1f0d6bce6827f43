/**
 * Enrollment requests: create (or refresh) one, list, resend, delete, the expiry sweep, and what a
 * failed notification does to its request. The rules are `rules.ts`; Bulk Add (`bulk-add.ts`)
 * issues requests through the same `issue` below.
 */
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import type { Page, PageRequest } from '../core/paging.js';
import { authorize, type Actor } from '../accounts/roles.js';
import type { Account, AuthMode, RequestMode } from '../accounts/model.js';
import { auditEvent, type AuditInput } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import type { UserRecord } from '../directory/store.js';
import { authModeOf, authModeOverridden, requestIssues, requestModeOf, seamlessOf, type RuleIssue } from './rules.js';
import type { EnrollmentRequest, NamedPlatform, Notify, Ownership, Platform, RequestListQuery } from './model.js';
import { newPasscode, newToken, passcodeHash, tokenHash } from './secrets.js';
import type { RequestFields } from './store.js';
import type { EnrollmentNoticeInputs } from '../notify/enrollment-notice.js';

/** What an enrollment notice needs (sealed in the outbox; the sender renders it at send time). */
export type NoticeInputs = EnrollmentNoticeInputs;

/** Queues notices in the caller's transaction. */
export type EnqueueNotices = (s: Stores, notices: NoticeInputs[]) => Promise<void>;

export interface EnrollmentDeps {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
  secretKey: Buffer;
  /** The URL devices and employees reach (PIPPIN_PUBLIC_URL). */
  publicUrl: string;
  enqueueNotices: EnqueueNotices;
}

/** A request as asked for (API body or file row), its optional fields still unresolved. */
export interface RequestAsk {
  platform: NamedPlatform;
  ownership: Ownership;
  userEnrollment: boolean;
  requestMode?: RequestMode;
  authMode?: AuthMode;
  seamless?: boolean;
  notify?: Notify;
  email?: string;
  phone?: string;
  comments?: string;
}

/** What create and resend return: the request and, this once, its secrets. */
export type IssuedRequest = EnrollmentRequest & { url: string; passcode: string | null; refreshed: boolean };

/** The passcode the employee must type, or null when the request's mode needs none (seamless, or the directory password). */
export const passcodeShown = (f: { seamless: boolean; authMode: AuthMode }, passcode: string) => (f.seamless || f.authMode !== 'passcode' ? null : passcode);

export const enrollUrl = (publicUrl: string, token: string) => `${publicUrl.replace(/\/+$/, '')}/enroll/${token}`;

/**
 * Every problem with asking for this request: the UE rules, the platform, the request mode, and
 * the notification addresses. Empty when it may be issued.
 */
export function askIssues(account: Account, user: Pick<UserRecord, 'managedAppleId' | 'email' | 'phone'> | null, ask: RequestAsk): RuleIssue<string>[] {
  const issues: RuleIssue<string>[] = requestIssues({ account, request: ask, user: user ? { managedAppleId: user.managedAppleId } : null });
  const notify = ask.notify ?? 'email';
  if (user && (notify === 'email' || notify === 'email_sms') && !(ask.email || user.email)) {
    issues.push({ code: 'VALUE_INVALID', column: 'Email Address', message: 'an email address is needed to notify by email' });
  }
  if ((notify === 'sms' || notify === 'email_sms') && !(ask.phone || user?.phone)) {
    issues.push({ code: 'VALUE_INVALID', column: 'Phone Number', message: 'a phone number is needed to notify by SMS' });
  }
  return issues;
}

/**
 * A request as issued, but for its two HMACs: new secrets (the token and the passcode, in clear),
 * its fields, its URL and its notices. `issue` adds the HMACs; Bulk Add has them made on a thread.
 */
export function draftIssue(
  deps: Pick<EnrollmentDeps, 'random' | 'publicUrl'>,
  account: Account,
  user: Pick<UserRecord, 'username' | 'fullName' | 'email' | 'phone' | 'managedAppleId'>,
  ask: RequestAsk,
  req: { id: string; at: Date; requestedBy: string | null; requestedByLabel: string; resend: boolean; importJobId?: string | null; importRow?: number | null },
): { token: string; passcode: string; fields: Omit<RequestFields, 'tokenHash' | 'passcodeHash'>; url: string; shown: string | null; notices: NoticeInputs[] } {
  const token = newToken(deps.random);
  const passcode = newPasscode(deps.random, account.passcodeLength);
  const authMode = authModeOf(account, ask);
  const seamless = seamlessOf(account, ask);
  const notify = ask.notify ?? 'email';
  const expiresAt = new Date(req.at.getTime() + account.requestExpiryHours * 3600_000).toISOString();
  const fields = {
    email: ask.email || user.email,
    phone: ask.phone || user.phone,
    ownership: ask.ownership,
    userEnrollment: ask.userEnrollment,
    requestMode: requestModeOf(account, ask),
    authMode,
    authModeOverridden: authModeOverridden(account, ask),
    seamless,
    notify,
    comments: ask.comments ?? '',
    requestedBy: req.requestedBy,
    requestedByLabel: req.requestedByLabel,
    expiresAt,
    importJobId: req.importJobId ?? null,
    importRow: req.importRow ?? null,
  };
  const url = enrollUrl(deps.publicUrl, token);
  const shown = passcodeShown(fields, passcode);
  const notice = (channel: 'email' | 'sms', to: string): NoticeInputs => ({
    requestId: req.id, channel, to, accountName: account.name, username: user.username, fullName: user.fullName, url, passcode: shown,
    platform: ask.platform as Platform, userEnrollment: ask.userEnrollment, managedAppleId: user.managedAppleId, authMode, seamless, expiresAt, resend: req.resend,
  });
  const notices: NoticeInputs[] = [];
  if (notify === 'email' || notify === 'email_sms') notices.push(notice('email', fields.email));
  if (notify === 'sms' || notify === 'email_sms') notices.push(notice('sms', fields.phone));
  return { token, passcode, fields, url, shown, notices };
}

/** Issues a request's secrets: its fields with the HMACs of its token and passcode, its URL, the passcode to show (null when none is needed) and its notices. */
export function issue(
  deps: Pick<EnrollmentDeps, 'random' | 'secretKey' | 'publicUrl'>,
  account: Account,
  user: Pick<UserRecord, 'username' | 'fullName' | 'email' | 'phone' | 'managedAppleId'>,
  ask: RequestAsk,
  req: Parameters<typeof draftIssue>[4],
): { fields: RequestFields; url: string; passcode: string | null; notices: NoticeInputs[] } {
  const d = draftIssue(deps, account, user, ask, req);
  const fields: RequestFields = { ...d.fields, tokenHash: tokenHash(deps.secretKey, d.token), passcodeHash: passcodeHash(deps.secretKey, req.id, d.passcode) };
  return { fields, url: d.url, passcode: d.shown, notices: d.notices };
}

/** The refusal for a request's issues: UE_NOT_ELIGIBLE when a User Enrollment rule is broken, else the first issue's code; every issue in details. */
function refusal(issues: RuleIssue<string>[]): AppError {
  const list = issues.map((i) => ({ code: i.code, message: i.message }));
  if (issues.some((i) => i.code.startsWith('UE_'))) {
    return new AppError('UE_NOT_ELIGIBLE', `User Enrollment cannot be used for this request: ${issues.map((i) => i.message).join('; ')}`, { issues: list });
  }
  const first = issues[0]!;
  if (first.code === 'VALUE_INVALID') {
    return AppError.validation(issues.map((i) => ({ path: i.column === 'Phone Number' ? 'phone' : 'email', message: i.message })));
  }
  return new AppError(first.code as 'PLATFORM_NOT_SUPPORTED' | 'REQUEST_MODE_NOT_AVAILABLE', first.message, { issues: list });
}

const CLOSED = new Set(['completed', 'deleted']);

const systemActor = (accountId: string, label: string): Actor => ({ kind: 'system', accountId, adminId: null, label, role: 'owner', ip: null, requestId: null });

/** What an audit event records of a request (never its secrets). */
const auditView = (r: EnrollmentRequest) => ({
  username: r.username, platform: r.platform, ownership: r.ownership, requestType: r.requestType, status: r.status, notify: r.notify, expiresAt: r.expiresAt,
});

export function createEnrollmentService(deps: EnrollmentDeps) {
  const { uow, clock, random } = deps;
  const audit = (s: Stores, actor: Actor, input: AuditInput) => s.audit.append(auditEvent(actor, input, clock, random));

  async function findUser(s: Stores, account: Account, who: { userId?: string; username?: string; domain?: string }): Promise<UserRecord | null> {
    if (who.userId) return s.users.get(who.userId);
    return s.users.findByUsername(who.username!, who.domain?.trim() || account.defaultDomain);
  }

  return {
    /**
     * Sends a user a request for a platform; when they have a Pending one for it, that one is
     * refreshed (new passcode, token and expiry; the old ones dead) instead of a second created.
     */
    async create(actor: Actor, body: RequestAsk & { userId?: string; username?: string; domain?: string }): Promise<IssuedRequest> {
      authorize(actor, 'requests.single');
      // Two creates for the same user and platform at once: the loser's insert throws RowChanged, and
      // its transaction runs again and refreshes the winner's request.
      const { id, url, passcode, refreshed } = await uow.inAccount(actor.accountId, async (s) => {
        const account = (await s.account.get())!;
        const user = await findUser(s, account, body);
        const issues = askIssues(account, user, body);
        if (issues.length) throw refusal(issues);
        if (!user) throw AppError.notFound('The user');
        const pending = (await s.requests.findPending([user.id])).find((p) => p.platform === body.platform);
        const id = pending?.id ?? random.id();
        const at = clock.now();
        const issued = issue(deps, account, user, body, { id, at, requestedBy: actor.adminId, requestedByLabel: actor.label, resend: false });
        if (pending) await s.requests.renew(id, issued.fields, at.toISOString(), 'pending');
        else await s.requests.insertMany([{ id, userId: user.id, platform: body.platform as Platform, createdAt: at.toISOString(), ...issued.fields }]);
        await deps.enqueueNotices(s, issued.notices);
        const request = (await s.requests.get(id))!;
        await audit(s, actor, { action: pending ? 'request.refresh' : 'request.create', objectType: 'enrollment_request', objectId: id, after: auditView(request) });
        return { id, url: issued.url, passcode: issued.passcode, refreshed: !!pending };
      });
      const request = await uow.inAccount(actor.accountId, (s) => s.requests.get(id));
      return { ...request!, url, passcode, refreshed };
    },

    async get(actor: Actor, id: string): Promise<EnrollmentRequest> {
      authorize(actor, 'requests.read');
      const r = await uow.inAccount(actor.accountId, (s) => s.requests.get(id));
      if (!r) throw AppError.notFound('The enrollment request');
      return r;
    },

    async list(actor: Actor, query: RequestListQuery, page: PageRequest): Promise<Page<EnrollmentRequest>> {
      authorize(actor, 'requests.read');
      return uow.inAccount(actor.accountId, (s) => s.requests.list(query, page));
    },

    /** New passcode, token and expiry, Pending again, and notified again. Not for Completed or Deleted requests. */
    async resend(actor: Actor, id: string): Promise<IssuedRequest> {
      authorize(actor, 'requests.single');
      const out = await uow.inAccount(actor.accountId, async (s) => {
        const before = await s.requests.get(id);
        if (!before) throw AppError.notFound('The enrollment request');
        if (CLOSED.has(before.status)) throw new AppError('REQUEST_CLOSED', `This request is ${before.status}; send a new one instead`);
        const other = (await s.requests.findPending([before.userId])).find((p) => p.platform === before.platform && p.id !== id);
        if (other) throw new AppError('REQUEST_CLOSED', `${before.username} has a newer Pending request for this platform; resend that one`, { requestId: other.id });
        const account = (await s.account.get())!;
        const user = (await s.users.get(before.userId))!;
        const at = clock.now();
        const ask: RequestAsk = { ...before, authMode: before.authMode, seamless: before.seamless };
        const issued = issue(deps, account, user, ask, { id, at, requestedBy: before.requestedBy.id, requestedByLabel: before.requestedBy.label, resend: true });
        await s.requests.renew(id, { ...issued.fields, authModeOverridden: before.authModeOverridden }, at.toISOString(), before.status);
        await deps.enqueueNotices(s, issued.notices);
        const after = (await s.requests.get(id))!;
        await audit(s, actor, { action: 'request.resend', objectType: 'enrollment_request', objectId: id, before: auditView(before), after: auditView(after) });
        return { ...after, url: issued.url, passcode: issued.passcode, refreshed: false };
      });
      return out;
    },

    /** Marks the request Deleted: its link and passcode stop working. Deleting it again changes nothing. */
    async delete(actor: Actor, id: string): Promise<EnrollmentRequest> {
      authorize(actor, 'requests.single');
      return uow.inAccount(actor.accountId, async (s) => {
        const before = await s.requests.get(id);
        if (!before) throw AppError.notFound('The enrollment request');
        const at = clock.now().toISOString();
        if (await s.requests.setStatus(id, 'deleted', null, at, ['pending', 'completed', 'expired', 'failed', 'exceeded'])) {
          // An account-driven enrolment's access tokens end with its request.
          const revoked = await s.accessTokens.revokeForRequest(id, at);
          await audit(s, actor, { action: 'request.delete', objectType: 'enrollment_request', objectId: id, before: auditView(before), after: revoked ? { accessTokensRevoked: revoked } : null });
        }
        return (await s.requests.get(id))!;
      });
    },

    /** A notification gave up (after its retries, or at once for an unusable address): the Pending request becomes Failed, saying why. */
    async notificationFailed(accountId: string, requestId: string, reason: string): Promise<void> {
      await uow.inAccount(accountId, async (s) => {
        const why = `Notification failed: ${reason}`.slice(0, 1000);
        if (await s.requests.setStatus(requestId, 'failed', why, clock.now().toISOString(), ['pending'])) {
          await audit(s, systemActor(accountId, 'notification sender'), { action: 'request.failed', objectType: 'enrollment_request', objectId: requestId, after: { status: 'failed', reason: why } });
        }
      });
    },

    /** Marks every Pending request past its expiry Expired, with an audit event each. Returns how many. */
    async sweepExpired(): Promise<number> {
      let total = 0;
      for (;;) {
        const now = clock.now().toISOString();
        const expired = await uow.system('expiry sweep', (s) => s.requestSweep.expireDue(now, 500));
        const byAccount = new Map<string, string[]>();
        for (const e of expired) byAccount.set(e.accountId, [...(byAccount.get(e.accountId) ?? []), e.id]);
        for (const [accountId, ids] of byAccount) {
          await uow.inAccount(accountId, async (s) => {
            for (const id of ids) await audit(s, systemActor(accountId, 'expiry sweep'), { action: 'request.expire', objectType: 'enrollment_request', objectId: id, after: { status: 'expired' } });
          });
        }
        total += expired.length;
        if (expired.length < 500) return total;
      }
    },
  };
}

export type EnrollmentService = ReturnType<typeof createEnrollmentService>;
