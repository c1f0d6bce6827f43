import fs from 'node:fs';
import { Transform } from 'node:stream';
import { parse } from 'csv-parse';
import { createDecoder } from './encoding.js';
import type { Prescan } from './prescan.js';
import { DEFAULT_MAX_RECORD_CHARS } from './prescan.js';

export interface FileRow {
  /** The row number a spreadsheet shows (the header is row 1). */
  row: number;
  cells: string[];
}

/**
 * The rows of a pre-scanned CSV/TXT file, streamed through csv-parse with the encoding and
 * delimiter the pre-scan found. Blank lines are skipped, ragged rows are passed on (the caller
 * reports them), the header row is not yielded.
 */
export async function* readRows(file: string, scan: Prescan): AsyncGenerator<FileRow> {
  const decode = createDecoder(scan.encoding);
  let first = true;
  const decoder = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = decode(first ? chunk.subarray(scan.bomLength) : chunk);
      first = false;
      done(null, text);
    },
    flush(done) {
      done(null, decode());
    },
  });
  const parser = fs
    .createReadStream(file, { highWaterMark: 1 << 20 })
    .pipe(decoder)
    .pipe(
      parse({
        delimiter: scan.delimiter,
        relax_column_count: true,
        skip_empty_lines: true,
        max_record_size: DEFAULT_MAX_RECORD_CHARS * 4,
        info: true,
      }),
    );
  for await (const rec of parser as AsyncIterable<{ record: string[]; info: { records: number } }>) {
    if (rec.info.records === 1) continue; // the header
    yield { row: rec.info.records, cells: rec.record };
  }
}
