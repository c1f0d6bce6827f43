/** The outbox of the bound account: messages waiting to be sent. */
export interface OutboxStore {
  /** Queues a message; `sealed` holds its inputs encrypted. */
  enqueue(message: { id: string; kind: string; sealed: string; at: string }): Promise<void>;
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
