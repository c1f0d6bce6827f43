import { PassThrough, Readable } from 'node:stream';
import { escapeFormula } from './formula.js';

/** The most data rows one XLSX sheet holds (Excel's 1,048,576 rows, less the header). */
export const XLSX_MAX_ROWS = 1_048_575;

export interface SheetColumn {
  header: string;
  /** Width in characters (XLSX). */
  width?: number;
}

const NEEDS_QUOTES = { ',': /[",\r\n]/, '\t': /["\t\r\n]/ } as const;

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
      const v = cell(row[i]!);
      if (i) out += delimiter;
      out += special.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
    }
    out += '\r\n';
  }
  return out;
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
 * An XLSX download: one sheet with a bold, frozen header, column widths and plain string cells
 * (never formulas or hyperlinks), formula-neutralised like CSV; optional extra sheets (e.g.
 * Instructions) follow. Streamed through exceljs' WorkbookWriter.
 */
export function xlsxStream(
  sheetName: string,
  columns: SheetColumn[],
  batches: AsyncIterable<string[][]>,
  extraSheets: { name: string; lines: string[][]; widths?: number[] }[] = [],
): Readable {
  const out = new PassThrough();
  (async () => {
    try {
      // exceljs is large: loaded when the first workbook is written, not with the server.
      const { default: ExcelJS } = await import('exceljs');
      const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: true, useSharedStrings: false });
      const ws = wb.addWorksheet(sheetName, { views: [{ state: 'frozen', ySplit: 1 }] });
      ws.columns = columns.map((c) => ({ header: escapeFormula(c.header), width: c.width ?? 20 }));
      const head = ws.getRow(1);
      head.font = { bold: true, color: { argb: 'FFFFFFFF' } };
      head.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FF0B7A6E' } };
      head.commit();
      for await (const batch of batches) for (const row of batch) ws.addRow(row.map(escapeFormula)).commit();
      ws.commit();
      for (const extra of extraSheets) {
        const s = wb.addWorksheet(extra.name);
        s.columns = (extra.widths ?? [100]).map((w) => ({ width: w }));
        extra.lines.forEach((line, i) => {
          const r = s.addRow(line.map(escapeFormula));
          if (i === 0) r.font = { bold: true, size: 14 };
          r.commit();
        });
        s.commit();
      }
      await wb.commit();
    } catch (e) {
      out.destroy(e as Error);
    }
  })();
  return out;
}

export async function* fromArray<T>(items: T[]): AsyncIterable<T> {
  for (const i of items) yield i;
}
