/** Workbooks for tests: built with exceljs' in-memory writer into a file of their own, and read back as an import reads them. */
import path from 'node:path';
import ExcelJS from 'exceljs';
import { chooseSheet, readXlsxRows, xlsxPrecheck } from '../../src/bulk/xlsx.js';
import { tempDir } from './db.js';

const dir = tempDir('pippin-workbooks-');
let n = 0;

/** Writes the workbook `build` fills to a new .xlsx file; returns its path. */
export async function workbook(build: (wb: ExcelJS.Workbook) => void): Promise<string> {
  const wb = new ExcelJS.Workbook();
  build(wb);
  const file = path.join(dir, `wb${n++}.xlsx`);
  await wb.xlsx.writeFile(file);
  return file;
}

/** A workbook's rows as the import reads them, header first: the pre-check, then the sheet (by default the one an import chooses). */
export async function workbookRows(file: string, sheet?: string): Promise<string[][]> {
  const names = await xlsxPrecheck(file, { maxInflatedBytes: 1 << 30, maxEntries: 100 });
  const rows: string[][] = [];
  for await (const r of readXlsxRows(file, sheet ?? chooseSheet(names), 1_048_575)) rows.push(r.cells);
  return rows;
}
