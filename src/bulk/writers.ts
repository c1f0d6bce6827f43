import { PassThrough, Readable } from 'node:stream';
import { escapeFormula } from './formula.js';
import { writeXlsx } from './xlsx-writer.js';

/** The most data rows one XLSX sheet holds (Excel's 1,048,576 rows, less the header). */
export const XLSX_MAX_ROWS = 1_048_575;

export interface SheetColumn {
  header: string;
  /** Width in characters (XLSX). */
  width?: number;
}

const NEEDS_QUOTES = { ',': /[",\r\n]/, '\t': /["\t\r\n]/ } as const;

/** A cell as CSV writes it: quoted, its quotes doubled, when it holds the delimiter, a quote or a line break. */
const csvCell = (v: string, special: RegExp) => (special.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/**
 * Rows as CSV text (or tab-separated with `'\t'`), each line ended by CRLF: a cell is quoted, its
 * quotes doubled, when it holds the delimiter, a quote or a line break; other cells go as they are.
 * Every file Pippin writes goes through here, the results of a million-row import included, so it
 * is a plain loop rather than a general CSV library's per-cell machinery (seven times faster).
 * `cell` rewrites each value first (an export neutralises formulas with it).
 */
export function csvText(rows: readonly (readonly string[])[], delimiter: ',' | '\t' = ',', cell: (value: string) => string = (v) => v): string {
  const special = NEEDS_QUOTES[delimiter];
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      if (i) out += delimiter;
      out += csvCell(cell(row[i]!), special);
    }
    out += '\r\n';
  }
  return out;
}

/**
 * One CSV line (CRLF-ended) of a row's first `width` cells (a missing cell is empty) followed by
 * `tail`: a results line written straight from the file's row, without copying its cells first.
 */
export function csvLine(cells: readonly (string | undefined)[], width: number, tail: readonly string[]): string {
  const special = NEEDS_QUOTES[','];
  let out = '';
  for (let i = 0; i < width; i++) {
    if (i) out += ',';
    out += csvCell(cells[i] ?? '', special);
  }
  for (let i = 0; i < tail.length; i++) {
    if (width || i) out += ',';
    out += csvCell(tail[i]!, special);
  }
  return out + '\r\n';
}

/**
 * Text gathered a piece at a time as UTF-8 bytes, outside V8's heap, and read back as one flat
 * string. A million-row import's results lines went into a string by `+=`: each batch's 10,000
 * lines, and the cons-string nodes joining them, lived until the batch's commit, so every young
 * collection in the batch copied them, and promoted them to the old generation.
 */
export class TextBuffer {
  private bytes = Buffer.allocUnsafe(1 << 16);
  private length = 0;

  append(text: string): void {
    // A UTF-16 code unit is at most three bytes of UTF-8.
    const room = this.length + text.length * 3;
    if (room > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(room, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    this.length += this.bytes.write(text, this.length);
  }

  text(): string {
    return this.bytes.toString('utf8', 0, this.length);
  }
}

/**
 * A CSV download: UTF-8 with a BOM (so Excel reads it as UTF-8), every cell formula-neutralised,
 * streamed batch by batch in constant memory.
 */
export function csvStream(columns: SheetColumn[], batches: AsyncIterable<string[][]>): Readable {
  const out = new PassThrough();
  const csv = (rows: string[][]) => csvText(rows, ',', escapeFormula);
  (async () => {
    try {
      out.write('\uFEFF' + csv([columns.map((c) => c.header)]));
      for await (const batch of batches) {
        if (batch.length && !out.write(csv(batch))) await new Promise((r) => out.once('drain', r));
      }
      out.end();
    } catch (e) {
      out.destroy(e as Error);
    }
  })();
  return out;
}

/**
 * An XLSX download: one sheet with a bold, frozen header on the brand colour, column widths and
 * plain string cells (never formulas or hyperlinks), formula-neutralised like CSV; optional extra
 * sheets (e.g. Instructions, their first line a title) follow. Streamed in constant memory by
 * `xlsx-writer.ts`, as fast as the client reads it.
 */
export function xlsxStream(
  sheetName: string,
  columns: SheetColumn[],
  batches: AsyncIterable<string[][]>,
  extraSheets: { name: string; lines: string[][]; widths?: number[] }[] = [],
): Readable {
  const neutral = (rows: readonly string[][]) => rows.map((r) => r.map(escapeFormula));
  const rows = async function* () {
    yield [columns.map((c) => escapeFormula(c.header))];
    for await (const batch of batches) yield neutral(batch);
  };
  return writeXlsx([
    { name: sheetName, widths: columns.map((c) => c.width ?? 20), first: 'header', rows: rows() },
    ...extraSheets.map((x) => ({ name: x.name, widths: x.widths ?? [100], first: 'title' as const, rows: fromArray([neutral(x.lines)]) })),
  ]);
}

export async function* fromArray<T>(items: T[]): AsyncIterable<T> {
  for (const i of items) yield i;
}
