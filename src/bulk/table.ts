import { AppError } from '../errors.js';
import { DEFAULT_MAX_RECORD_CHARS, prescanText } from './prescan.js';
import { readRows, type FileRow } from './reader.js';
import { chooseSheet, readXlsxRows, xlsxPrecheck, XLSX_MAX_ENTRIES } from './xlsx.js';

export interface TableLimits {
  maxBytes: number;
  maxRows: number;
  xlsxMaxRows: number;
  xlsxMaxInflatedBytes: number;
}

/** An uploaded table, pre-scanned: its header, its row count, warnings, and a way to read its rows (header excluded), some at a time, in order. */
export interface Table {
  header: string[];
  rows: number;
  warnings: string[];
  read(): AsyncGenerator<FileRow[]>;
}

/** How many workbook rows `read` hands over at a time. */
const XLSX_ROWS_AT_A_TIME = 1000;

export const isXlsx = (fileName: string) => /\.xlsx$/i.test(fileName);

/**
 * Pre-scans a CSV/TXT or XLSX file before any row is applied; a file-level problem throws an
 * AppError with `line` (null where a line means nothing, as in a workbook).
 */
export async function openTable(file: string, fileName: string, limits: TableLimits): Promise<Table> {
  if (!isXlsx(fileName)) {
    const scan = await prescanText(file, { maxBytes: limits.maxBytes, maxRows: limits.maxRows, maxRecordChars: DEFAULT_MAX_RECORD_CHARS });
    return { header: scan.header, rows: scan.rows, warnings: scan.warnings, read: () => readRows(file, scan) };
  }
  const sheets = await xlsxPrecheck(file, { maxInflatedBytes: limits.xlsxMaxInflatedBytes, maxEntries: XLSX_MAX_ENTRIES });
  const sheet = chooseSheet(sheets);
  let header: string[] | null = null;
  let rows = 0;
  try {
    for await (const r of readXlsxRows(file, sheet, limits.xlsxMaxRows)) {
      if ('header' in r) header = r.cells;
      else rows++;
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError('FILE_TYPE_INVALID', `The workbook cannot be read: ${(e as Error).message}`, { line: null });
  }
  if (!header) throw new AppError('FILE_EMPTY', `The sheet "${sheet}" is empty`, { line: null });
  if (!rows) throw new AppError('FILE_EMPTY', `The sheet "${sheet}" has a header but no rows`, { line: null });
  const warnings = sheets.length > 1 ? [`Read the sheet "${sheet}" of ${sheets.length}`] : [];
  return {
    header,
    rows,
    warnings,
    read: async function* () {
      let rows: FileRow[] = [];
      for await (const r of readXlsxRows(file, sheet, limits.xlsxMaxRows)) {
        if ('header' in r) continue;
        rows.push(r);
        if (rows.length === XLSX_ROWS_AT_A_TIME) {
          yield rows;
          rows = [];
        }
      }
      if (rows.length) yield rows;
    },
  };
}
