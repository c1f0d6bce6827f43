import type { AccountStore, AdminStore, OperatorLookup, SessionStore, SignInLookup, TokenStore } from './accounts/store.js';
import type { AuditStore } from './audit/store.js';
import type { UserStore } from './directory/store.js';
import type { JobClaims, JobStore } from './jobs/store.js';
import type { OutboxClaims, OutboxStore } from './notify/store.js';
import type { SystemPath } from './db/database.js';
import type { RequestLinks, RequestStore, RequestSweep } from './enrollments/store.js';
import type { DeviceResolver, DeviceStore } from './devices/store.js';
import type { ChallengeClaims, ChallengeStore } from './enrollments/challenges.js';
import type { AccessTokenStore, AccountDrivenLookup } from './enrollments/account-driven-store.js';
import type { PushCertificateStore } from './apple/push/store.js';

/** Every store, bound to one transaction and one account. Features add theirs here. */
export interface Stores {
  account: AccountStore;
  admins: AdminStore;
  sessions: SessionStore;
  tokens: TokenStore;
  audit: AuditStore;
  users: UserStore;
  jobs: JobStore;
  outbox: OutboxStore;
  requests: RequestStore;
  devices: DeviceStore;
  challenges: ChallengeStore;
  accessTokens: AccessTokenStore;
  pushCertificates: PushCertificateStore;
}

/** The stores of the named cross-account paths. */
export interface SystemStores {
  signIn: SignInLookup;
  operator: OperatorLookup;
  jobClaims: JobClaims;
  outboxClaims: OutboxClaims;
  requestSweep: RequestSweep;
  deviceResolver: DeviceResolver;
  challengeClaims: ChallengeClaims;
  requestLinks: RequestLinks;
  accountDriven: AccountDrivenLookup;
}

/**
 * How services reach storage: each call is one transaction, committed when fn resolves and rolled
 * back when it throws, so a write and its audit event land together or not at all.
 */
export interface UnitOfWork {
  inAccount<T>(accountId: string, fn: (s: Stores) => Promise<T>): Promise<T>;
  system<T>(path: SystemPath, fn: (s: SystemStores) => Promise<T>): Promise<T>;
}
