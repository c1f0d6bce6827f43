import { sql, type RawBuilder } from 'kysely';
import type { Caps } from './caps.js';
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

/** A column of a packed row: as it is, JSON text embedded as JSON, or an instant as ISO text (as the drivers give it elsewhere). */
export type PackedColumn = string | { json: string } | { instant: string };

/**
 * Columns packed into one JSON array a row (`json_array` on SQLite, `json_build_array` on
 * PostgreSQL). For a read of many rows: the driver then makes one value a row instead of one
 * property a column, which was most of a million-row export's time. Read it back with `unpackRow`.
 */
export function packedRow(caps: Caps, columns: readonly PackedColumn[]): RawBuilder<unknown> {
  const pg = caps.engine === 'postgres';
  const parts = columns.map((c) => {
    if (typeof c === 'string') return sql.ref(c);
    if ('json' in c) return pg ? sql`${sql.ref(c.json)}::json` : sql`json(${sql.ref(c.json)})`;
    return pg ? sql`to_char(${sql.ref(c.instant)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : sql.ref(c.instant);
  });
  return sql`${sql.raw(pg ? 'json_build_array' : 'json_array')}(${sql.join(parts)})`;
}

/** A packed row as an array: SQLite gives its JSON text, node-postgres has parsed it already. */
export const unpackRow = (value: unknown): unknown[] => (typeof value === 'string' ? JSON.parse(value) : value) as unknown[];
