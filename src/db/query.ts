import type { Tx } from './database.js';
import { capTotal, encodeCursor, TOTAL_CAP, type Page } from '../core/paging.js';

/** Counts the rows of a query already limited to TOTAL_CAP + 1, and caps the figure. */
export async function cappedCount(tx: Tx, limitedQuery: { as(alias: string): any }): Promise<{ total: number; totalCapped: boolean }> {
  const row = await tx
    .selectFrom(limitedQuery.as('capped'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return capTotal(Number(row.n));
}

export { TOTAL_CAP };

/**
 * Assembles a page from rows fetched with `limit + 1`: the extra row only says there is more, and
 * the last returned row's sort keys become the next cursor.
 */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  sortKeys: (row: R) => (string | number | null)[],
  map: (row: R) => T,
  counted: { total: number; totalCapped: boolean },
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), nextCursor: rows.length > limit && last ? encodeCursor(sortKeys(last)) : null, ...counted };
}
