/**
 * Hand-written SQL for the batch paths that run a million times in an import. Kysely would build
 * and compile the same text again for every row; here the text depends only on the table, the
 * columns and the row count, so it is built once, and the engine keeps one prepared statement for
 * it (SQLite through the statement cache in `openSqlite`; PostgreSQL parses it per execution).
 */
import { CompiledQuery } from 'kysely';
import type { Caps } from './caps.js';
import { EACH_ROW, type EachRowResult, type Tx } from './database.js';
import { ROWS_AS_ARRAYS } from './query.js';

const texts = new Map<string, string>();

function placeholders(caps: Caps, from: number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(caps.engine === 'postgres' ? `$${from + i}` : '?');
  return out.join(', ');
}

/** Texts kept at most: a PostgreSQL statement's text also depends on which of its columns a batch holds the same in every row. */
const MAX_TEXTS = 512;

function cached(caps: Caps, key: string, build: () => string): string {
  const k = `${caps.engine}|${key}`;
  let text = texts.get(k);
  if (text === undefined) {
    text = build();
    if (texts.size >= MAX_TEXTS) texts.clear();
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

/**
 * A backslash in JSON text before anything but a quote or a backslash: an escape PostgreSQL would
 * read otherwise (a control character, a lone surrogate). It also matches a backslash of the text
 * followed by a letter (`\\n`), which only sends that column the driver's way.
 */
const OTHER_ESCAPE = /\\[^"\\]/;

/**
 * A column's values as one PostgreSQL array literal (`{"a","b",null}`) when they are all text,
 * finite numbers, booleans or nulls; else the values as they are, for the driver. JSON writes the
 * same literal natively: strings quoted with `\"` and `\\` escaped as PostgreSQL reads them, numbers,
 * booleans and null bare. Any other escape JSON makes (a control character, a lone surrogate)
 * means something else to PostgreSQL, so such a column goes to the driver too. node-postgres
 * builds the literal element by element with two regular-expression replaces each: a third of the
 * driver's time in an import.
 */
export function pgArrayParam(values: readonly unknown[]): string | readonly unknown[] {
  for (const v of values) {
    const t = typeof v;
    if (v !== null && v !== undefined && t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(v))) return values;
  }
  const json = JSON.stringify(values);
  return OTHER_ESCAPE.test(json) ? values : `{${json.slice(1, -1)}}`;
}

/** Whether every row holds the same text, number, boolean or null in column `c` (so it can go as one value). */
function sameInEveryRow(rows: readonly unknown[][], c: number): boolean {
  const v = rows[0]![c];
  if (rows.length < 2 || (typeof v === 'object' && v !== null)) return false;
  for (const r of rows) if (r[c] !== v) return false;
  return true;
}

/**
 * Rows as the source of a PostgreSQL statement: one array per column, unnested as `v`, except a
 * column that holds the same value in every row (an import batch's account, instants, status and
 * empty cells), which goes as one parameter. The server then parses that value once instead of
 * once a row, and the driver sends it once. `exprs` reads each column, in `columns` order; `shape`
 * tells the statement texts apart.
 */
async function pgRowSource(tx: Tx, table: string, columns: readonly string[], rows: readonly unknown[][]) {
  const types = await columnTypes(tx, table);
  const single = columns.map((_, c) => sameInEveryRow(rows, c));
  if (single.every(Boolean)) single[0] = false; // unnest gives the row count
  const params: unknown[] = [];
  const exprs: string[] = [];
  const arrays: string[] = [];
  const names: string[] = [];
  columns.forEach((c, i) => {
    const type = types.get(c);
    if (!type) throw new Error(`${table} has no column ${c}`);
    if (single[i]) {
      params.push(rows[0]![i]);
      exprs.push(`$${params.length}::${type}`);
    } else {
      params.push(pgArrayParam(rows.map((r) => r[i])));
      arrays.push(`$${params.length}::${type}[]`);
      // Named by position: a column may be both set and matched (a version moved on).
      names.push(`c${i}`);
      exprs.push(`v.c${i}`);
    }
  });
  return { exprs, from: `unnest(${arrays.join(', ')}) as v(${names.join(', ')})`, params, shape: single.map((b) => (b ? 1 : 0)).join('') };
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
 * SQLite: runs a one-row statement once for each row, in one request (EACH_ROW); how many rows each
 * run changed. When a run fails, the transaction takes nothing but a rollback (as on PostgreSQL
 * after a failed statement), so the rows change together or not at all.
 */
async function eachRow(tx: Tx, text: string, rows: readonly unknown[][]): Promise<number[]> {
  const res = await tx.executeQuery<EachRowResult>(CompiledQuery.raw(EACH_ROW, [text, rows]));
  return res.rows[0]!.changes;
}

/** From this many rows, a PostgreSQL insert that skips conflicts is tried first without the clause. */
const OPTIMISTIC_ROWS = 64;

/**
 * Inserts rows (each an array in `columns` order); returns the `returning` column of the rows
 * written. SQLite: a prepared one-row INSERT run for each row, in one request (which rows a
 * skipped conflict left out is known from each run's changes). PostgreSQL: one INSERT … SELECT
 * from `unnest` of one array per column (one value for a column the same in every row), whatever
 * the number of rows: parsing and planning a VALUES list of thousands of parameters cost its server
 * more than the writes did. Either way the rows are written together or, after an error, none of
 * them: the transaction then takes nothing but a rollback.
 */
export async function insertRows(tx: Tx, caps: Caps, table: string, columns: readonly string[], rows: readonly unknown[][], opts: InsertOptions = {}): Promise<unknown[]> {
  const head = () => `insert into ${ident(table)} (${columns.map(ident).join(', ')})`;
  const tail = (skip: boolean, returning = opts.returning) => (skip ? ' on conflict do nothing' : '') + (returning ? ` returning ${ident(returning)}` : '');
  if (caps.engine === 'postgres') {
    if (!rows.length) return [];
    const source = await pgRowSource(tx, table, columns, rows);
    const run = async (skip: boolean, returning = opts.returning) => {
      const text = cached(caps, `insert|${table}|${columns.join(',')}|${source.shape}|${skip ? 1 : 0}|${returning ?? ''}`, () =>
        `${head()} select ${source.exprs.join(', ')} from ${source.from}${tail(skip, returning)}`);
      const res = await tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, source.params));
      return returning ? res.rows.map((r) => r[returning]) : [];
    };
    // A plain insert that succeeds wrote every row: a returned column it was given need not come back.
    const given = opts.returning ? columns.indexOf(opts.returning) : -1;
    const runAll = async () => (given < 0 ? run(false) : (await run(false, undefined), rows.map((r) => r[given])));
    if (!opts.skipConflicts || rows.length < OPTIMISTIC_ROWS) return run(!!opts.skipConflicts);
    // Many rows that should not clash: first as a plain insert, since `on conflict` makes PostgreSQL
    // check every unique index before each row as well as after it (a 200,000-row import's inserts
    // took 10-20% less of its server's time without). Should one clash after all, the savepoint
    // undoes the statement and the rows go again, skipping. (Each savepoint is a subtransaction: an
    // import's transaction makes at most three, far below the 64 a PostgreSQL backend keeps cached.)
    await tx.executeQuery(CompiledQuery.raw('savepoint pippin_insert'));
    try {
      const written = await runAll();
      await tx.executeQuery(CompiledQuery.raw('release savepoint pippin_insert'));
      return written;
    } catch (e) {
      if (!caps.isUniqueViolation(e)) throw e;
      await tx.executeQuery(CompiledQuery.raw('rollback to savepoint pippin_insert'));
      return run(true);
    }
  }
  if (!rows.length) return [];
  const text = cached(caps, `insert-row|${table}|${columns.join(',')}|${opts.skipConflicts ? 1 : 0}`, () =>
    `${head()} values (${placeholders(caps, 1, columns.length)})${opts.skipConflicts ? ' on conflict do nothing' : ''}`);
  const changes = await eachRow(tx, text, rows);
  if (!opts.returning) return [];
  // A row was written when its insert changed a row (a conflict skipped it).
  const given = columns.indexOf(opts.returning);
  if (given < 0) throw new Error(`${opts.returning} is not among the columns inserted`);
  const written: unknown[] = [];
  for (let i = 0; i < rows.length; i++) if (changes[i]) written.push(rows[i]![given]);
  return written;
}

/** The text of `update table set <set columns> where <key columns>`: the set values' parameters, then the key values'. */
const oneRowUpdate = (caps: Caps, table: string, set: readonly string[], where: readonly string[]) =>
  cached(caps, `update|${table}|${set.join(',')}|${where.join(',')}`, () => {
    let n = 1;
    const assign = set.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`).join(', ');
    const match = where.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`).join(' and ');
    return `update ${ident(table)} set ${assign} where ${match}`;
  });

/**
 * `update table set <set columns> where <key columns>` for one row: `values` holds the set values
 * then the key values. Returns the number of rows changed.
 */
export async function updateRow(tx: Tx, caps: Caps, table: string, set: readonly string[], where: readonly string[], values: readonly unknown[]): Promise<number> {
  const res = await tx.executeQuery(CompiledQuery.raw(oneRowUpdate(caps, table, set, where), [...values]));
  return Number(res.numAffectedRows ?? 0);
}

/**
 * Updates many rows, each setting the same columns to its own values: `rows` hold the set values
 * then the key values, in `set` and `where` order; a row's key names one row. SQLite: a prepared
 * one-row UPDATE run for each row, in one request; PostgreSQL: UPDATE … FROM unnest of one array
 * per column (as inserts do). The rows are one unit: when one breaks a unique index, none is changed
 * (the transaction then takes nothing but a rollback).
 * Returns how many rows matched their key (a key may include a version the row must still have).
 */
export async function updateRows(tx: Tx, caps: Caps, table: string, set: readonly string[], where: readonly string[], rows: readonly unknown[][]): Promise<number> {
  if (!rows.length) return 0;
  const all = [...set, ...where];
  const t = ident(table);
  if (caps.engine === 'postgres') {
    const source = await pgRowSource(tx, table, all, rows);
    const text = cached(caps, `updates|${table}|${set.join(',')}|${where.join(',')}|${source.shape}`, () =>
      `update ${t} set ${set.map((c, i) => `${ident(c)} = ${source.exprs[i]}`).join(', ')} from ${source.from} ` +
      `where ${where.map((c, i) => `${t}.${ident(c)} = ${source.exprs[set.length + i]}`).join(' and ')}`);
    return Number((await tx.executeQuery(CompiledQuery.raw(text, source.params))).numAffectedRows ?? 0);
  }
  let updated = 0;
  for (const c of await eachRow(tx, oneRowUpdate(caps, table, set, where), rows)) updated += c;
  return updated;
}

/** Deletes the rows whose `where` columns equal one of `keys` (each in `where` order), through the index on those columns. */
export async function deleteRows(tx: Tx, caps: Caps, table: string, where: readonly string[], keys: readonly unknown[][]): Promise<void> {
  if (!keys.length) return;
  const cols = `(${where.map(ident).join(', ')})`;
  if (caps.engine === 'postgres') {
    const source = await pgRowSource(tx, table, where, keys);
    const text = cached(caps, `deletes|${table}|${where.join(',')}|${source.shape}`, () => `delete from ${ident(table)} where ${cols} in (select ${source.exprs.join(', ')} from ${source.from})`);
    await tx.executeQuery(CompiledQuery.raw(text, source.params));
    return;
  }
  const text = cached(caps, `delete-row|${table}|${where.join(',')}`, () => `delete from ${ident(table)} where ${where.map((c) => `${ident(c)} = ?`).join(' and ')}`);
  await eachRow(tx, text, keys);
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
 * What a key look-up reads: every column, these columns, or these columns packed into one array a
 * row (`packed`, as query.ts' packedRow: read each row with `unpackRow`). Packed, a look-up of many
 * rows makes one value a row rather than an object of a property a column: a million users looked
 * up by username took ~3.4 s as JSON arrays and ~3.0 s as SQLite's arrays, against ~4.6 s as
 * objects (bench/NOTES.md).
 */
export type LookupColumns = readonly string[] | '*' | { packed: readonly string[] };

/**
 * The text of a key look-up. SQLite: an IN list of `size` keys, after the match's bound columns.
 * PostgreSQL: the keys as one array (after the bound columns), each probed through the key
 * column's index by a lateral subquery the planner may not flatten: with an IN list, a table an
 * import has grown since its last statistics looks small, and PostgreSQL then reads the whole
 * account through another index, filtering by the list (30 ms a look-up at 100,000 users).
 */
export function keyLookupText(caps: Caps, table: string, columns: LookupColumns, match: KeyMatch, keyColumn: string, size: number): string {
  const fixed = Object.keys(match.equal);
  const constants = Object.entries(match.constant ?? {}).map(([c, v]) => `${ident(c)} = ${literal(v)}`);
  const pg = caps.engine === 'postgres';
  const packed = columns !== '*' && 'packed' in columns;
  const names = columns === '*' ? '*' : (packed ? columns.packed : columns).map(ident).join(', ');
  // Packed as query.ts' packedRow does: into one JSON array on PostgreSQL; on SQLite the columns
  // themselves, the statement marked to answer its rows as arrays.
  const list = packed && pg ? `json_build_array(${names}) as packed` : names;
  const select = packed && !pg ? ROWS_AS_ARRAYS : 'select ';
  return cached(caps, `${select}|${table}|${list}|${fixed.join(',')}|${constants.join(',')}|${keyColumn}|${match.keyType ?? 'text'}|${pg ? 'array' : size}`, () => {
    let n = 1;
    const where = fixed.map((c) => `${ident(c)} = ${placeholders(caps, n++, 1)}`);
    where.push(...constants);
    if (pg) {
      const type = match.keyType === 'uuid' ? 'uuid' : 'text';
      where.push(`${ident(keyColumn)} = k.key`);
      return `select t.* from unnest($${n}::${type}[]) as k(key) cross join lateral (select ${list} from ${ident(table)} where ${where.join(' and ')} offset 0) as t`;
    }
    where.push(`${ident(keyColumn)} in (${placeholders(caps, n, size)})`);
    return `${select}${list} from ${ident(table)} where ${where.join(' and ')}`;
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
  columns: LookupColumns,
  match: KeyMatch,
  keyColumn: string,
  keys: readonly unknown[],
): Promise<R[]> {
  const unique = [...new Set(keys)];
  const bound = Object.values(match.equal);
  if (caps.engine === 'postgres') {
    if (!unique.length) return [];
    return (await tx.executeQuery<R>(CompiledQuery.raw(keyLookupText(caps, table, columns, match, keyColumn, unique.length), [...bound, pgArrayParam(unique)]))).rows;
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
