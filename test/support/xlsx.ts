/** Workbooks for tests: built with exceljs' in-memory writer into a file of their own. */
import path from 'node:path';
import ExcelJS from 'exceljs';
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
