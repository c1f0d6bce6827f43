import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { createDecoder } from './encoding.js';
import type { Prescan } from './prescan.js';
import { DEFAULT_MAX_RECORD_CHARS } from './prescan.js';

export interface FileRow {
  /** The row number a spreadsheet shows (the header is row 1). */
  row: number;
  cells: string[];
}

/** The file's text after any BOM: UTF-8 bytes as they are (csv-parse decodes them), other encodings decoded here. */
function textOf(file: string, scan: Prescan): Readable {
  const bytes = fs.createReadStream(file, { highWaterMark: 1 << 20, start: scan.bomLength });
  if (scan.encoding === 'utf-8') return bytes;
  const decode = createDecoder(scan.encoding);
  return bytes.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        done(null, decode(chunk));
      },
      flush(done) {
        done(null, decode());
      },
    }),
  );
}

/**
 * The rows of a pre-scanned CSV/TXT file, streamed through csv-parse with the encoding and
 * delimiter the pre-scan found. Blank lines are skipped (and not numbered), ragged rows are passed
 * on (the caller reports them), the header row is not yielded.
 */
export async function* readRows(file: string, scan: Prescan): AsyncGenerator<FileRow> {
  const parser = textOf(file, scan).pipe(
    parse({
      delimiter: scan.delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: DEFAULT_MAX_RECORD_CHARS * 4,
    }),
  );
  let records = 0;
  for await (const cells of parser as AsyncIterable<string[]>) {
    if (++records === 1) continue; // the header
    yield { row: records, cells };
  }
}
