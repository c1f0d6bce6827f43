import type { Page, PageRequest } from '../core/paging.js';
import type { EnrollmentRequest, Platform, RequestListQuery, RequestStatus } from './model.js';

/** The fields a request is created or refreshed with: its resolved choices, secrets (as HMACs), requester and expiry. */
export type RequestFields = Pick<
  EnrollmentRequest,
  'email' | 'phone' | 'ownership' | 'userEnrollment' | 'requestMode' | 'authMode' | 'authModeOverridden' | 'seamless' | 'notify' | 'comments' | 'expiresAt'
> & {
  tokenHash: string;
  passcodeHash: string;
  requestedBy: string | null;
  requestedByLabel: string;
  /** The Bulk Add job and row that last wrote the request (for in-file duplicates), else null. */
  importJobId: string | null;
  importRow: number | null;
};

export interface NewRequest extends RequestFields {
  id: string;
  userId: string;
  platform: Platform;
  createdAt: string;
}

/** A user's Pending request for a platform, as Bulk Add needs to know it. */
export interface PendingRef {
  id: string;
  userId: string;
  platform: Platform;
  importJobId: string | null;
  importRow: number | null;
}

/** Enrollment requests of the bound account. */
export interface RequestStore {
  get(id: string): Promise<EnrollmentRequest | null>;
  /** The Pending requests of these users (one per platform at most). */
  findPending(userIds: string[]): Promise<PendingRef[]>;
  /**
   * Inserts new requests (Pending) in as few statements as the engine allows. Throws RowChanged
   * when a user already has a Pending request for the platform (another writer made it since the
   * caller read the user's Pending requests): the transaction runs again and refreshes that one.
   */
  insertMany(requests: NewRequest[]): Promise<void>;
  /**
   * Gives a request new fields and secrets and makes it Pending again (refresh, resend), if it is
   * still in the status the caller read (`was`); else throws RowChanged.
   */
  renew(id: string, fields: RequestFields, at: string, was: RequestStatus): Promise<void>;
  /** Moves a request to `status` when it is in one of `from`; false when it was not. */
  setStatus(id: string, status: RequestStatus, reason: string | null, at: string, from: readonly RequestStatus[]): Promise<boolean>;
  /** Counts a wrong passcode or password; at `max` the Pending request becomes Exceeded. Returns the count. */
  failedAttempt(id: string, max: number, at: string): Promise<number>;
  /** A device enrolled for the request: Completed, linked to the device. False when it was not Pending. */
  complete(id: string, deviceId: string, at: string): Promise<boolean>;
  /** Newest first, keyset-paged. */
  list(query: RequestListQuery, page: PageRequest): Promise<Page<EnrollmentRequest>>;
}

/** Cross-account expiry (system path "expiry sweep"). */
export interface RequestSweep {
  /** Marks up to `limit` Pending requests whose expiry has passed as Expired; returns them. */
  expireDue(at: string, limit: number): Promise<{ id: string; accountId: string }[]>;
}

/** The portal's cross-account look-ups (system path "enrolment link lookup"). */
export interface RequestLinks {
  /** The request a link's token hash belongs to, whatever its account. */
  byTokenHash(hash: string): Promise<{ id: string; accountId: string } | null>;
  /** The stored passcode HMAC of a request. */
  passcodeHash(id: string): Promise<string | null>;
}
