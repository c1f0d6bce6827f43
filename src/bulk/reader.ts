import { CsvScanner } from './csv-scanner.js';
import { createDecoder } from './encoding.js';
import { chunks, DEFAULT_MAX_RECORD_CHARS, type Prescan } from './prescan.js';

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
  for await (const chunk of chunks(file, scan.bomLength)) {
    scanner.feed(decode(chunk));
    if (rows.length) yield rows.splice(0);
  }
  scanner.feed(decode());
  scanner.finish();
  if (rows.length) yield rows.splice(0);
}
