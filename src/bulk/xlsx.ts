/**
 * XLSX intake (DESIGN.md "File formats"; BAD-INPUTS.md §1.2): a zip pre-check that counts the bytes
 * each entry really inflates to (declared sizes are not trusted), then our own streaming reader
 * (`xlsx-sheet.ts`) on the chosen sheet, with every cell normalised to text. Templates and exports
 * are written by `xlsx-writer.ts`. (exceljs' streaming reader was 3–4 times slower, and failed now
 * and then on workbooks whose parts were in an unusual order; its writer held a whole sheet.)
 */
import fs from 'node:fs';
import yauzl from 'yauzl';
import { AppError } from '../errors.js';
import type { FileRow } from './reader.js';
import { readSheetRows } from './xlsx-sheet.js';

export interface XlsxLimits {
  maxRows: number;
  maxInflatedBytes: number;
  maxEntries: number;
}

export const XLSX_MAX_ENTRIES = 100;
/** Excel's own limits. */
const EXCEL_ROWS = 1_048_576;
const RATIO_FLOOR_BYTES = 1024 * 1024;
const MAX_RATIO = 100;

const refuse = (code: 'FILE_TYPE_INVALID' | 'FILE_TOO_LARGE' | 'IMPORT_TOO_MANY_ROWS' | 'FILE_EMPTY', message: string) => new AppError(code, message, { line: null });

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: false }, (e, z) => (e ? reject(e) : resolve(z!))));
}

/**
 * Checks the container before any parsing: zip magic (an old .xls or an encrypted workbook is a
 * CFB file), entry count, paths, encryption, macros, inflated bytes per entry and in total, the
 * inflation ratio of large entries, and no DOCTYPE in any XML part. Returns the sheet names in order.
 */
export async function xlsxPrecheck(file: string, limits: Pick<XlsxLimits, 'maxInflatedBytes' | 'maxEntries'>): Promise<string[]> {
  const fh = await fs.promises.open(file, 'r');
  const magic = Buffer.alloc(4);
  try {
    await fh.read(magic, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (magic.equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0]))) throw refuse('FILE_TYPE_INVALID', 'This is an encrypted workbook or an old .xls file: save it as an unprotected .xlsx (Excel Workbook)');
  if (!magic.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) throw refuse('FILE_TYPE_INVALID', 'This is not an Excel workbook (.xlsx)');
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(file);
  } catch (e) {
    throw refuse('FILE_TYPE_INVALID', `This .xlsx file is damaged: ${(e as Error).message}`);
  }
  let total = 0;
  let entries = 0;
  let workbookXml = '';
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => {
      zip.close();
      reject(e);
    };
    zip.on('error', (e) => fail(e instanceof AppError ? e : refuse('FILE_TYPE_INVALID', `This .xlsx file is damaged: ${e.message}`)));
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      if (++entries > limits.maxEntries) return fail(refuse('FILE_TYPE_INVALID', `The workbook has more than ${limits.maxEntries} parts`));
      const name = entry.fileName;
      if (name.startsWith('/') || name.split(/[\\/]/).includes('..')) return fail(refuse('FILE_TYPE_INVALID', `The workbook holds a part with an unsafe path (${name})`));
      if (/vbaProject\.bin$/i.test(name)) return fail(refuse('FILE_TYPE_INVALID', 'The workbook holds macros: save it as a plain .xlsx without macros'));
      if ((entry.generalPurposeBitFlag & 1) !== 0) return fail(refuse('FILE_TYPE_INVALID', 'The workbook is encrypted: save it without a password'));
      if (name.endsWith('/')) return zip.readEntry();
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return fail(refuse('FILE_TYPE_INVALID', `This .xlsx file is damaged: ${err?.message ?? 'unreadable part'}`));
        let inflated = 0;
        let tail = '';
        const isXml = /\.(xml|rels)$/i.test(name);
        const keep = name === 'xl/workbook.xml';
        stream.on('data', (chunk: Buffer) => {
          inflated += chunk.length;
          total += chunk.length;
          if (total > limits.maxInflatedBytes) {
            stream.destroy();
            return fail(refuse('FILE_TOO_LARGE', `The workbook inflates to more than ${limits.maxInflatedBytes.toLocaleString('en')} bytes (the limit)`));
          }
          if (inflated > RATIO_FLOOR_BYTES && inflated / Math.max(1, entry.compressedSize) > MAX_RATIO) {
            stream.destroy();
            return fail(refuse('FILE_TOO_LARGE', `The workbook part ${name} inflates more than ${MAX_RATIO} times: refused as a zip bomb`));
          }
          if (isXml) {
            const text = tail + chunk.toString('latin1');
            if (/<!DOCTYPE/i.test(text)) {
              stream.destroy();
              return fail(refuse('FILE_TYPE_INVALID', `The workbook part ${name} declares a DOCTYPE, which Excel never writes`));
            }
            tail = text.slice(-16);
            if (keep) workbookXml += chunk.toString('utf8');
          }
        });
        stream.on('error', (e) => fail(refuse('FILE_TYPE_INVALID', `This .xlsx file is damaged: ${e.message}`)));
        stream.on('end', () => zip.readEntry());
      });
    });
    zip.readEntry();
  });
  const sheets = [...workbookXml.matchAll(/<sheet\b[^>]*\bname="([^"]*)"/g)].map((m) =>
    m[1]!.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
  );
  if (!sheets.length) throw refuse('FILE_TYPE_INVALID', 'This is not an Excel workbook (no sheets)');
  return sheets;
}

/** The sheet to read: `Users` if there is one, else the first not named `Instructions`. */
export function chooseSheet(names: string[]): string {
  const users = names.find((n) => n.toLowerCase() === 'users');
  const pick = users ?? names.find((n) => n.toLowerCase() !== 'instructions');
  if (!pick) throw refuse('FILE_EMPTY', 'The workbook has no sheet to import (only "Instructions")');
  return pick;
}

/** The rows of the chosen sheet, as text, with the row numbers Excel shows; the first non-empty row is the header. */
export async function* readXlsxRows(file: string, sheet: string, maxRows: number): AsyncGenerator<FileRow & { header?: true }> {
  let data = 0;
  let width = 0;
  // Throwing here closes the sheet reader (and its file) through the loop's return.
  for await (const batch of readSheetRows(file, sheet)) {
    for (const { row, cells: values } of batch) {
      if (row > EXCEL_ROWS) throw refuse('FILE_TYPE_INVALID', `The sheet has a row beyond Excel's last (${row})`);
      while (values.length && values[values.length - 1] === '') values.pop();
      if (!values.length) continue;
      if (!width) {
        width = values.length;
        yield { row, cells: values, header: true };
        continue;
      }
      if (++data > maxRows) throw refuse('IMPORT_TOO_MANY_ROWS', `The sheet has more than ${maxRows.toLocaleString('en')} rows (the limit)`);
      // Excel leaves trailing empty cells out: a short row is padded, a long one stays long (ragged).
      while (values.length < width) values.push('');
      yield { row, cells: values };
    }
  }
}
