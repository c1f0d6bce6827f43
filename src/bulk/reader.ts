import fs from 'node:fs';
import { CsvScanner } from './csv-scanner.js';
import { createDecoder } from './encoding.js';
import { DEFAULT_MAX_RECORD_CHARS, READ_CHUNK_BYTES, type Prescan } from './prescan.js';

export interface FileRow {
  /** The row number a spreadsheet shows (the header is row 1). */
  row: number;
  cells: string[];
}

/**
 * The rows of a pre-scanned CSV/TXT file, read by the pre-scan's own scanner with the encoding and
 * delimiter it found, so they are the rows it counted, numbered alike: blank lines skipped (and not
 * numbered), ragged rows passed on (the caller reports them), the header row not yielded. Rows
 * come a read of the file at a time, in order.
 */
export async function* readRows(file: string, scan: Prescan): AsyncGenerator<FileRow[]> {
  const rows: FileRow[] = [];
  const scanner = new CsvScanner(scan.delimiter, { maxRows: Infinity, maxRecordChars: DEFAULT_MAX_RECORD_CHARS }, rows);
  const decode = createDecoder(scan.encoding);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: READ_CHUNK_BYTES, start: scan.bomLength })) {
    scanner.feed(decode(chunk as Buffer));
    if (rows.length) yield rows.splice(0);
  }
  scanner.feed(decode());
  scanner.finish();
  if (rows.length) yield rows.splice(0);
}
