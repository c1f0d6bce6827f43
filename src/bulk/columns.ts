import { AppError } from '../errors.js';
import { unescapeFormula } from './formula.js';

/** A column of an import file: matched case-insensitively, ignoring surrounding spaces, by header or alias. */
export interface ColumnSpec<K extends string = string> {
  key: K;
  header: string;
  aliases?: readonly string[];
  required?: boolean;
}

export interface HeaderMap<K extends string = string> {
  /** Column index of each known key present in the file. */
  index: Map<K, number>;
  /** Headers that matched no column, in file order (reported once as a warning). */
  unknown: string[];
  /** The file's header cells as written. */
  headers: string[];
}

const norm = (h: string) => h.replace(/^\uFEFF/, '').trim().toLowerCase().replace(/\s+/g, ' ');

/**
 * Maps a header row to columns. A missing required column or a duplicated header refuses the file
 * (IMPORT_HEADER_MISSING, IMPORT_HEADER_DUPLICATE on line 1). Keys are looked up in a Map, so a
 * header such as `__proto__` is just an unknown column.
 */
export function mapHeader<K extends string>(cells: string[], spec: readonly ColumnSpec<K>[]): HeaderMap<K> {
  const byName = new Map<string, ColumnSpec<K>>();
  for (const col of spec) for (const name of [col.header, ...(col.aliases ?? [])]) byName.set(norm(name), col);
  const index = new Map<K, number>();
  const seen = new Map<string, number>();
  const unknown: string[] = [];
  cells.forEach((cell, i) => {
    const name = norm(cell);
    if (name === '') return;
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new AppError('IMPORT_HEADER_DUPLICATE', `The header "${cell.trim()}" appears twice (columns ${earlier + 1} and ${i + 1})`, { line: 1 });
    }
    seen.set(name, i);
    const col = byName.get(name);
    if (!col) {
      unknown.push(cell.trim());
      return;
    }
    if (index.has(col.key)) {
      throw new AppError('IMPORT_HEADER_DUPLICATE', `The columns "${cells[index.get(col.key)!]!.trim()}" and "${cell.trim()}" are the same column (${col.header})`, { line: 1 });
    }
    index.set(col.key, i);
  });
  const missing = spec.filter((c) => c.required && !index.has(c.key)).map((c) => c.header);
  if (missing.length) {
    throw new AppError('IMPORT_HEADER_MISSING', `The required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing from the header`, { line: 1 });
  }
  return { index, unknown, headers: cells };
}

/**
 * Whether a file row is one of its template's example rows, left in the file: every column of the
 * template present, and each cell, as import reads it (one formula `'` removed, trimmed), the
 * example's. Import refuses such a row (`TEMPLATE_EXAMPLE_ISSUE`) rather than create the example's
 * user; the examples use example.com, a reserved domain (RFC 2606), so no real row is one.
 */
export function isTemplateExample<K extends string>(cells: readonly string[], header: HeaderMap<K>, spec: readonly ColumnSpec<K>[], examples: readonly (readonly string[])[]): boolean {
  if (header.index.size !== spec.length) return false;
  return examples.some((example) => spec.every((c, i) => unescapeFormula(cells[header.index.get(c.key)!] ?? '').trim() === example[i]));
}

export const TEMPLATE_EXAMPLE_ISSUE = { code: 'TEMPLATE_EXAMPLE', message: "The template's example row, left in the file: delete it or replace it with your own" } as const;
