/**
 * Hand-written SQL for the batch paths that run a million times in an import. Kysely would build
 * and compile the same text again for every row; here the text depends only on the table, the
 * columns and the row count, so it is built once, and the engine keeps one prepared statement for
 * it (SQLite through the statement cache in `openSqlite`; PostgreSQL parses it per execution).
 */
import { CompiledQuery } from 'kysely';
import type { Caps } from './caps.js';
import type { Tx } from './database.js';

const texts = new Map<string, string>();

function placeholders(caps: Caps, from: number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(caps.engine === 'postgres' ? `$${from + i}` : '?');
  return out.join(', ');
}

function cached(caps: Caps, key: string, build: () => string): string {
  const k = `${caps.engine}|${key}`;
  let text = texts.get(k);
  if (text === undefined) {
    text = build();
    texts.set(k, text);
  }
  return text;
}

const ident = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `"${name}"`;
};

export interface InsertOptions {
  /** Skip rows that would break a unique index (`on conflict do nothing`). */
  skipConflicts?: boolean;
  /** A column to return from the rows actually inserted. */
  returning?: string;
}

/** Each column's PostgreSQL type (as `format_type` spells it), read once per table. */
const pgColumnTypes = new Map<string, Promise<Map<string, string>>>();
function columnTypes(tx: Tx, table: string): Promise<Map<string, string>> {
  let types = pgColumnTypes.get(table);
  if (!types) {
    types = tx
      .executeQuery<{ name: string; type: string }>(
        CompiledQuery.raw('select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped', [table]),
      )
      .then((res) => new Map(res.rows.map((r) => [r.name, r.type])));
    // A failed read is not kept: the next insert asks again.
    types.catch(() => pgColumnTypes.delete(table));
    pgColumnTypes.set(table, types);
  }
  return types;
}

/**
 * Inserts rows (each an array in `columns` order); returns the `returning` column of the rows
 * written. SQLite: multi-row INSERTs sized within its bind-parameter limit. PostgreSQL: one
 * INSERT … SELECT from `unnest` of one array per column, whatever the number of rows: parsing and
 * planning a VALUES list of thousands of parameters cost its server more than the writes did.
 */
export async function insertRows(tx: Tx, caps: Caps, table: string, columns: readonly string[], rows: readonly unknown[][], opts: InsertOptions = {}): Promise<unknown[]> {
  const tail = (opts.skipConflicts ? ' on conflict do nothing' : '') + (opts.returning ? ` returning ${ident(opts.returning)}` : '');
  if (caps.engine === 'postgres') {
    if (!rows.length) return [];
    const types = await columnTypes(tx, table);
    const arrays = columns.map((_, c) => rows.map((r) => r[c]));
    const text = cached(caps, `insert|${table}|${columns.join(',')}|unnest|${opts.skipConflicts ? 1 : 0}|${opts.returning ?? ''}`, () => {
      const unnest = columns.map((c, i) => {
        const type = types.get(c);
        if (!type) throw new Error(`${table} has no column ${c}`);
        return `$${i + 1}::${type}[]`;
      });
      return `insert into ${ident(table)} (${columns.map(ident).join(', ')}) select * from unnest(${unnest.join(', ')})${tail}`;
    });
    const res = await tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, arrays));
    return opts.returning ? res.rows.map((r) => r[opts.returning!]) : [];
  }
  const returned: unknown[] = [];
  const step = Math.max(1, Math.min(512, 2 ** Math.floor(Math.log2(caps.maxBindParams / columns.length))));
  for (let i = 0; i < rows.length; ) {
    // Full statements of `step` rows, then the rest in powers of two: a table has at most ten
    // statement shapes, so the prepared statements kept for it stay few (a 500-row INSERT is large).
    let n = step;
    while (n > rows.length - i) n >>= 1;
    // The statement's parameters, row after row (a loop: \`slice\` and \`flat\` cost more than the rest of the call).
    const params: unknown[] = new Array(n * columns.length);
    let k = 0;
    for (let r = i; r < i + n; r++) for (const v of rows[r]!) params[k++] = v;
    i += n;
    const text = cached(caps, `insert|${table}|${columns.join(',')}|${n}|${opts.skipConflicts ? 1 : 0}|${opts.returning ?? ''}`, () => {
      const values = Array.from({ length: n }, (_, r) => `(${placeholders(caps, r * columns.length + 1, columns.length)})`).join(', ');
      return `insert into ${ident(table)} (${columns.map(ident).join(', ')}) values ${values}${tail}`;
    });
    const res = await tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, params));
    if (opts.returning) for (const r of res.rows) returned.push(r[opts.returning]);
  }
  return returned;
}

/**
 * `update table set <set columns> where <key columns>` for one row: `values` holds the set values
 * then the key values. Returns the number of rows changed.
 */
export async function updateRow(tx: Tx, caps: Caps, table: string, set: readonly string[], where: readonly string[], values: readonly unknown[]): Promise<number> {
  const text = cached(caps, `update|${table}|${set.join(',')}|${where.join(',')}`, () => {
    let n = 1;
    const assign = set.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`).join(', ');
    const match = where.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`).join(' and ');
    return `update ${ident(table)} set ${assign} where ${match}`;
  });
  const res = await tx.executeQuery(CompiledQuery.raw(text, [...values]));
  return Number(res.numAffectedRows ?? 0);
}

/** `delete from table where <key columns>` for one row's key. */
export async function deleteRow(tx: Tx, caps: Caps, table: string, where: readonly string[], values: readonly unknown[]): Promise<number> {
  const text = cached(caps, `delete|${table}|${where.join(',')}`, () => {
    const match = where.map((c, i) => `${ident(c)} = ${placeholders(caps, i + 1, 1)}`).join(' and ');
    return `delete from ${ident(table)} where ${match}`;
  });
  const res = await tx.executeQuery(CompiledQuery.raw(text, [...values]));
  return Number(res.numAffectedRows ?? 0);
}

/** Key-list sizes a look-up statement is built for: a list is cut into these, the last piece padded by repeating a key. */
const KEY_LIST_SIZES = [8, 64, 512] as const;

/** A constant written into a statement's text: a plain lower-case word only. */
const literal = (value: string) => {
  if (!/^[a-z_]+$/.test(value)) throw new Error(`not a plain word: ${value}`);
  return `'${value}'`;
};

/**
 * Which rows a key look-up reads besides its keys: `equal` columns are bound as parameters;
 * `constant` ones are written into the text, so that the planners can use a partial index whose
 * condition they repeat (a bound `status = ?` cannot prove `status = 'pending'`, and SQLite then
 * scans every Pending request by another index).
 */
export interface KeyMatch {
  equal: Readonly<Record<string, unknown>>;
  constant?: Readonly<Record<string, string>>;
  /** The key column's type, for PostgreSQL's key array (text unless said). */
  keyType?: 'text' | 'uuid';
}

/**
 * The text of a key look-up. SQLite: an IN list of `size` keys, after the match's bound columns.
 * PostgreSQL: the keys as one array (after the bound columns), each probed through the key
 * column's index by a lateral subquery the planner may not flatten: with an IN list, a table an
 * import has grown since its last statistics looks small, and PostgreSQL then reads the whole
 * account through another index, filtering by the list (30 ms a look-up at 100,000 users).
 */
export function keyLookupText(caps: Caps, table: string, columns: readonly string[] | '*', match: KeyMatch, keyColumn: string, size: number): string {
  const fixed = Object.keys(match.equal);
  const constants = Object.entries(match.constant ?? {}).map(([c, v]) => `${ident(c)} = ${literal(v)}`);
  const list = columns === '*' ? '*' : columns.map(ident).join(', ');
  const pg = caps.engine === 'postgres';
  return cached(caps, `select|${table}|${list}|${fixed.join(',')}|${constants.join(',')}|${keyColumn}|${match.keyType ?? 'text'}|${pg ? 'array' : size}`, () => {
    let n = 1;
    const where = fixed.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`);
    where.push(...constants);
    if (pg) {
      const type = match.keyType === 'uuid' ? 'uuid' : 'text';
      where.push(`${ident(keyColumn)} = k.key`);
      return `select t.* from unnest($${n}::${type}[]) as k(key) cross join lateral (select ${list} from ${ident(table)} where ${where.join(' and ')} offset 0) as t`;
    }
    where.push(`${ident(keyColumn)} in (${placeholders(caps, n, size)})`);
    return `select ${list} from ${ident(table)} where ${where.join(' and ')}`;
  });
}

/**
 * The rows of `table` matching `match` whose key column holds any of `keys`, each once, in no
 * particular order. On SQLite the keys go as IN lists in pieces of a few fixed sizes (a piece
 * padded by repeating its last key, which `in` ignores), so each table keeps at most three
 * statements however many keys it is asked for; on PostgreSQL as one array.
 */
export async function selectByKeys<R>(
  tx: Tx,
  caps: Caps,
  table: string,
  columns: readonly string[] | '*',
  match: KeyMatch,
  keyColumn: string,
  keys: readonly unknown[],
): Promise<R[]> {
  const unique = [...new Set(keys)];
  const bound = Object.values(match.equal);
  if (caps.engine === 'postgres') {
    if (!unique.length) return [];
    return (await tx.executeQuery<R>(CompiledQuery.raw(keyLookupText(caps, table, columns, match, keyColumn, unique.length), [...bound, unique]))).rows;
  }
  const out: R[] = [];
  for (let i = 0; i < unique.length; ) {
    const left = unique.length - i;
    const size = KEY_LIST_SIZES.find((s) => s >= left) ?? KEY_LIST_SIZES[KEY_LIST_SIZES.length - 1];
    const piece = unique.slice(i, i + size);
    i += piece.length;
    while (piece.length < size) piece.push(piece[piece.length - 1]);
    const text = keyLookupText(caps, table, columns, match, keyColumn, size);
    const res = await tx.executeQuery<R>(CompiledQuery.raw(text, [...bound, ...piece]));
    out.push(...res.rows);
  }
  return out;
}
