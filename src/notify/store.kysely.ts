import type { Caps } from '../db/caps.js';
import type { Tx } from '../db/database.js';
import { insertRows } from '../db/batch.js';
import type { OutboxClaims, OutboxStore } from './store.js';

const QUEUE_COLUMNS = ['id', 'account_id', 'kind', 'sealed', 'status', 'attempts', 'next_attempt_at', 'created_at', 'ref_id'] as const;

export function outboxStore(tx: Tx, accountId: string, caps: Caps): OutboxStore {
  return {
    async enqueueMany(messages) {
      await insertRows(tx, caps, 'outbox', QUEUE_COLUMNS, messages.map((m) => [m.id, accountId, m.kind, m.sealed, 'pending', 0, m.at, m.at, m.refId]));
    },
    async enqueue(m) {
      await tx
        .insertInto('outbox')
        .values({ id: m.id, account_id: accountId, kind: m.kind, sealed: m.sealed, status: 'pending', attempts: 0, next_attempt_at: m.at, created_at: m.at })
        .execute();
    },
    async summary(filter = {}) {
      const scoped = () => {
        let q = tx.selectFrom('outbox').where('account_id', '=', accountId);
        if (filter.kind) q = q.where('kind', '=', filter.kind);
        return q;
      };
      const counts = await scoped()
        .select((eb) => ['status', eb.fn.countAll().as('n'), eb.fn.sum(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('retried')])
        .groupBy('status')
        .execute();
      const last = await scoped().select('last_error').where('last_error', 'is not', null).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
      const of = (status: string) => counts.find((c) => c.status === status);
      const pending = of('pending');
      return {
        queued: Number(pending?.n ?? 0),
        retrying: Number(pending?.retried ?? 0),
        sent: Number(of('sent')?.n ?? 0),
        failed: Number(of('failed')?.n ?? 0),
        lastError: last?.last_error ?? null,
      };
    },
  };
}

export function outboxClaims(tx: Tx, caps: Caps): OutboxClaims {
  return {
    async claimDue(at, leaseUntil, limit) {
      let q = tx
        .selectFrom('outbox')
        .select(['id', 'account_id', 'kind', 'sealed', 'attempts'])
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', at)
        .orderBy('next_attempt_at')
        .limit(limit);
      if (caps.supportsSkipLocked) q = q.forUpdate().skipLocked();
      const rows = await q.execute();
      if (!rows.length) return [];
      await tx.updateTable('outbox').set({ next_attempt_at: leaseUntil }).where('id', 'in', rows.map((r) => r.id)).execute();
      return rows.map((r) => ({ id: r.id, accountId: r.account_id, kind: r.kind, sealed: r.sealed ?? '', attempts: r.attempts }));
    },
    async sent(id, at) {
      await tx.updateTable('outbox').set({ status: 'sent', sent_at: at, sealed: null, last_error: null }).where('id', '=', id).execute();
    },
    async attemptFailed(id, error, retryAt) {
      await tx
        .updateTable('outbox')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          last_error: error.slice(0, 1000),
          status: retryAt ? 'pending' : 'failed',
          next_attempt_at: retryAt ?? eb.ref('next_attempt_at'),
        }))
        .where('id', '=', id)
        .execute();
    },
  };
}
