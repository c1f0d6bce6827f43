/** The outbox of the bound account: messages waiting to be sent. */
export interface OutboxStore {
  /** Queues a message; `sealed` holds its inputs encrypted. */
  enqueue(message: { id: string; kind: string; sealed: string; at: string }): Promise<void>;
  /** Exact counts of the account's messages, of one kind or of all; zeros when there are none. */
  summary(filter?: { kind?: string }): Promise<OutboxSummary>;
  /** Queues many messages in as few statements as the engine allows; `refId` names the object each is about. */
  enqueueMany(messages: { id: string; kind: string; sealed: string; at: string; refId: string | null }[]): Promise<void>;
}

export interface OutboxSummary {
  /** Waiting to be sent (status pending), including those being retried. */
  queued: number;
  /** Of the queued, those that have failed at least once and wait for their next attempt. */
  retrying: number;
  sent: number;
  /** Given up: a permanent failure, or every attempt failed. */
  failed: number;
  /** The error of the newest message (by creation) that has one, queued or failed; null when none has. */
  lastError: string | null;
}

export interface OutboxMessage {
  id: string;
  accountId: string;
  kind: string;
  sealed: string;
  attempts: number;
}

/** Cross-account sending (system path "outbox claim"). */
export interface OutboxClaims {
  /** Claims up to `limit` messages due by `at` (SKIP LOCKED on PostgreSQL), pushing their next attempt to `leaseUntil`. */
  claimDue(at: string, leaseUntil: string, limit: number): Promise<OutboxMessage[]>;
  /** Marks a message sent and drops its sealed inputs (secrets do not outlive the send). */
  sent(id: string, at: string): Promise<void>;
  /** Records a failed attempt: retried at `retryAt`, or given up (`failed`) when null. */
  attemptFailed(id: string, error: string, retryAt: string | null): Promise<void>;
}
