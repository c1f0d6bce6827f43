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

/** A column of a packed row: as it is, or an instant as ISO text (as the drivers give it elsewhere). */
export type PackedColumn = string | { instant: string };

/**
 * How a SQLite statement asks for its rows as arrays of their values, in the order selected
 * (better-sqlite3's raw mode), rather than as objects of a property a column: the statement's text
 * starts with this (see the statement cache in database.ts).
 */
export const ROWS_AS_ARRAYS = 'select /* pippin: rows as arrays */ ';

/**
 * Columns read as one array a row, for a read of many rows: the driver then makes one value a row
 * instead of an object of a property a column, which was most of a million-row export's time.
 * SQLite: the columns themselves, the statement marked ROWS_AS_ARRAYS. PostgreSQL: packed by
 * `json_build_array` into one column, which node-postgres parses. Either way it must be the
 * statement's only selection, aliased `packed`; read a row back with `unpackRow`. (JSON text
 * columns stay text on both engines.)
 */
export function packedRow(caps: Caps, columns: readonly PackedColumn[]): RawBuilder<unknown> {
  if (caps.engine !== 'postgres') {
    const mark = sql.raw(ROWS_AS_ARRAYS.slice('select '.length));
    return sql`${mark}${sql.join(columns.map((c) => sql.ref(typeof c === 'string' ? c : c.instant)))}`;
  }
  const parts = columns.map((c) => (typeof c === 'string' ? sql.ref(c) : sql`to_char(${sql.ref(c.instant)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`));
  return sql`json_build_array(${sql.join(parts)})`;
}

/** A packed row's values: SQLite's row is the array, node-postgres' parsed JSON is in its one column. */
export function unpackRow(row: unknown): unknown[] {
  const values = Array.isArray(row) ? row : (row as { packed?: unknown }).packed;
  if (!Array.isArray(values)) throw new Error('Not a packed row: packedRow must be the only selection of a statement that starts with it');
  return values;
}
