/**
 * Storage for account-driven User Enrollment: which account a Managed Apple ID domain (or an
 * account key) belongs to, the Pending User Enrollment request of a MAID, and the access tokens
 * /mdm/authenticate mints (hashed).
 */
import type { Tx } from '../db/database.js';
import { normaliseKey } from '../core/names.js';

export interface AccessTokenRef {
  accountId: string;
  requestId: string;
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
}

/** Cross-account look-ups (system path "discovery by MAID domain"). */
export interface AccountDrivenLookup {
  accountForDomain(domain: string): Promise<{ accountId: string; key: string } | null>;
  accountForKey(key: string): Promise<{ accountId: string; key: string } | null>;
  /** The Pending iOS User Enrollment request of the user holding this MAID, newest first, in the account the MAID's domain belongs to. */
  pendingUserEnrollment(maid: string): Promise<{ accountId: string; requestId: string } | null>;
  token(hash: string): Promise<AccessTokenRef | null>;
}

/** Access tokens of the bound account. */
export interface AccessTokenStore {
  insert(t: { hash: string; requestId: string; issuedAt: string; expiresAt: string }): Promise<void>;
  /** Spends a token on its one /mdm/enroll; false when it was spent already. */
  use(hash: string, at: string): Promise<boolean>;
  /** True when the token was revoked (its enrolment ended). */
  revoked(hash: string): Promise<boolean>;
  /** Revokes every token of a request (its enrolment ends): its device's next check-in is refused. Returns how many. */
  revokeForRequest(requestId: string, at: string): Promise<number>;
}

export function accountDrivenLookup(tx: Tx): AccountDrivenLookup {
  return {
    async accountForDomain(domain) {
      const r = await tx
        .selectFrom('maid_domains as d')
        .innerJoin('accounts as a', 'a.id', 'd.account_id')
        .select(['a.id', 'a.key'])
        .where('d.domain', '=', domain.toLowerCase())
        .executeTakeFirst();
      return r ? { accountId: r.id, key: r.key } : null;
    },
    async accountForKey(key) {
      const r = await tx.selectFrom('accounts').select(['id', 'key']).where('key', '=', key).executeTakeFirst();
      return r ? { accountId: r.id, key: r.key } : null;
    },
    async pendingUserEnrollment(maid) {
      const r = await tx
        .selectFrom('maid_domains as d')
        .innerJoin('accounts as a', 'a.id', 'd.account_id')
        // Through the account's number, which the users' MAID index leads with.
        .innerJoin('users as u', 'u.account_no', 'a.no')
        .innerJoin('enrollment_requests as r', (j) => j.onRef('r.user_id', '=', 'u.id').onRef('r.account_id', '=', 'u.account_id'))
        .select(['r.id', 'r.account_id'])
        .where('u.maid_key', '=', normaliseKey(maid))
        .where('d.domain', '=', maid.slice(maid.lastIndexOf('@') + 1).toLowerCase())
        .where('r.status', '=', 'pending')
        .where('r.platform', '=', 'ios')
        .where('r.user_enrollment', '=', 1 as never)
        .orderBy('r.created_at', 'desc')
        .executeTakeFirst();
      return r ? { accountId: r.account_id, requestId: r.id } : null;
    },
    async token(hash) {
      const r = await tx.selectFrom('enrollment_access_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
      return r ? { accountId: r.account_id, requestId: r.request_id, expiresAt: r.expires_at, usedAt: r.used_at, revokedAt: r.revoked_at } : null;
    },
  };
}

export function accessTokenStore(tx: Tx, accountId: string): AccessTokenStore {
  return {
    async insert(t) {
      await tx.insertInto('enrollment_access_tokens').values({ token_hash: t.hash, account_id: accountId, request_id: t.requestId, issued_at: t.issuedAt, expires_at: t.expiresAt }).execute();
    },
    async revoked(hash) {
      const r = await tx.selectFrom('enrollment_access_tokens').select('revoked_at').where('account_id', '=', accountId).where('token_hash', '=', hash).executeTakeFirst();
      return !!r?.revoked_at;
    },
    async revokeForRequest(requestId, at) {
      const r = await tx
        .updateTable('enrollment_access_tokens')
        .set({ revoked_at: at })
        .where('account_id', '=', accountId)
        .where('request_id', '=', requestId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    async use(hash, at) {
      const r = await tx.updateTable('enrollment_access_tokens').set({ used_at: at }).where('account_id', '=', accountId).where('token_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}
