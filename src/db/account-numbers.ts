import { AppError } from '../errors.js';
import type { Tx } from './database.js';

/** An account's number (`accounts.no`), which the users' indexes lead with instead of its id. */
export type AccountNumbers = (tx: Tx, accountId: string) => Promise<number>;

/**
 * Accounts' numbers, each read once for the life of one database handle: an account is numbered
 * when it is created and keeps its number (accounts are neither renumbered nor deleted). Read
 * through the caller's transaction, so on PostgreSQL only an account's own transaction finds it.
 */
export function accountNumbers(): AccountNumbers {
  const known = new Map<string, number>();
  return async (tx, accountId) => {
    const hit = known.get(accountId);
    if (hit !== undefined) return hit;
    const row = await tx.selectFrom('accounts').select('no').where('id', '=', accountId).executeTakeFirst();
    if (!row) throw AppError.notFound('The account');
    const no = Number(row.no);
    known.set(accountId, no);
    return no;
  };
}
