import type { Tx } from './database.js';
import { capTotal, TOTAL_CAP } from '../core/paging.js';

/** Counts the rows of a query already limited to TOTAL_CAP + 1, and caps the figure. */
export async function cappedCount(tx: Tx, limitedQuery: { as(alias: string): any }): Promise<{ total: number; totalCapped: boolean }> {
  const row = await tx
    .selectFrom(limitedQuery.as('capped'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return capTotal(Number(row.n));
}

export { TOTAL_CAP };
