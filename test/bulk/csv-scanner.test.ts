/**
 * The CSV scanner the pre-scan and the row reader share (`src/bulk/csv-scanner.ts`). Its fast path
 * takes a plain line whole; these properties hold it to the character-by-character state machine
 * (the same scanner fed one character at a time never takes a whole line) and to csv-parse, the
 * reference for the quoting rules, on any text and any chunking.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { CsvScanner, type Delimiter } from '../../src/bulk/csv-scanner.js';
import { DEFAULT_MAX_RECORD_CHARS, prescanText } from '../../src/bulk/prescan.js';
import { readRows, type FileRow } from '../../src/bulk/reader.js';
import { tempDir } from '../support/db.js';

const LIMITS = { maxRows: 1_000_000, maxRecordChars: DEFAULT_MAX_RECORD_CHARS };

type Scan = { header: string[]; rows: FileRow[]; line: number } | { code: string; message: string; line: unknown };

/** Scans text fed in the given pieces: the rows and header, or the error. */
function scan(pieces: string[], delimiter: Delimiter = ',', limits = LIMITS): Scan {
  const rows: FileRow[] = [];
  const s = new CsvScanner(delimiter, limits, rows);
  try {
    for (const p of pieces) s.feed(p);
    s.finish();
    return { header: s.header, rows, line: s.line };
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    return { code: e.code, message: e.message, line: e.details?.line };
  }
}

/** Text cut at the given offsets. */
const cut = (text: string, at: number[]) => {
  const points = [...new Set(at.map((a) => a % (text.length + 1)))].sort((a, b) => a - b);
  return [...points, text.length].map((p, i) => text.slice(i ? points[i - 1] : 0, p));
};

const oneByOne = (text: string) => [...text];

/** What csv-parse (the reference) reads, numbered as spreadsheet rows (blank lines skipped); null when it refuses the text. */
function reference(text: string, delimiter: Delimiter = ','): { header: string[]; rows: FileRow[] } | null {
  let records: string[][];
  try {
    records = parse(text, { delimiter, relax_column_count: true, skip_empty_lines: true, max_record_size: 10 * DEFAULT_MAX_RECORD_CHARS });
  } catch {
    return null;
  }
  return { header: records[0] ?? [], rows: records.slice(1).map((cells, i) => ({ row: i + 2, cells })) };
}

// Text built from the characters that matter to the state machine, and some that do not.
const piece = fc.constantFrom('a', 'bc', ' ', 'é', '😀', ',', ';', '\t', '"', '""', '\n', '\r', '\r\n', '\u0000', 'x,y');
const anyText = fc.array(piece, { maxLength: 60 }).map((p) => p.join(''));
const offsets = fc.array(fc.nat(), { maxLength: 6 });

describe('CsvScanner', () => {
  it('reads any text in any pieces exactly as it does one character at a time (rows, numbers, lines, errors)', () => {
    fc.assert(
      fc.property(anyText, offsets, fc.constantFrom<Delimiter>(',', ';', '\t'), (text, at, delimiter) => {
        expect(scan(cut(text, at), delimiter)).toEqual(scan(oneByOne(text), delimiter));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the record-length limit and the row limit exactly, whole lines or not', () => {
    const limits = { maxRows: 3, maxRecordChars: 6 };
    fc.assert(
      fc.property(anyText, offsets, (text, at) => {
        expect(scan(cut(text, at), ',', limits)).toEqual(scan(oneByOne(text), ',', limits));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts and reads what csv-parse does, and refuses what it refuses, given one kind of line ending', () => {
    const within = (ending: string) =>
      fc.array(fc.constantFrom('a', 'bc', ' ', 'é', ',', '"', '""', 'NEWLINE'), { maxLength: 50 }).map((p) => p.join('').replaceAll('NEWLINE', ending));
    fc.assert(
      fc.property(fc.oneof(within('\n'), within('\r\n')), offsets, (text, at) => {
        const ours = scan(cut(text, at));
        const theirs = reference(text);
        if (theirs === null) expect(ours).toHaveProperty('code', 'CSV_MALFORMED');
        else expect(ours).toMatchObject(theirs);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back any table csv-stringify writes, blank lines between rows skipped and not numbered', () => {
    const cell = fc.oneof(fc.string(), fc.constantFrom('', ',', '"', '\r', '\n', '\r\n', ' a ', '=1+2', 'a"b,c\nd'), fc.string({ unit: 'grapheme' }));
    const row = fc.array(cell, { minLength: 1, maxLength: 6 }).filter((r) => r.some((c) => c !== ''));
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 15 }), fc.array(fc.nat(3), { maxLength: 15 }), offsets, (table, blanks, at) => {
        const text = table.map((r, i) => stringify([r], { quote_record_delimiter: true }) + '\n'.repeat(blanks[i] ?? 0)).join('');
        const ours = scan(cut(text, at));
        expect(ours).toMatchObject({ header: table[0], rows: table.slice(1).map((cells, i) => ({ row: i + 2, cells })) });
      }),
      { numRuns: 500 },
    );
  });

  it('counts lines as an editor shows them: LF, CRLF and a lone CR each end one', () => {
    expect(scan(['h\na\r\nb\rc\n"d\ne",f\n'])).toMatchObject({ rows: [
      { row: 2, cells: ['a'] },
      { row: 3, cells: ['b'] },
      { row: 4, cells: ['c'] },
      { row: 5, cells: ['d\ne', 'f'] },
    ], line: 7 });
    expect(scan(['h\na,"b\n\nc"x\n'])).toMatchObject({ code: 'CSV_MALFORMED', line: 4 });
  });
});

describe('readRows', () => {
  const dir = tempDir('pippin-reader-');

  it('reads a file of several megabytes, values spanning its chunks, as csv-parse does, in order and numbered', async () => {
    const lines = ['Username,Note,Email Address'];
    for (let i = 0; i < 60_000; i++) {
      const note = i % 7 === 0 ? `"line ${i}\nwith ""quotes"", and commas"` : i % 11 === 0 ? '' : `plain note ${i} ${'x'.repeat(i % 40)}`;
      lines.push(`user${i},${note},user${i}@corp.example.com`);
      if (i % 1000 === 0) lines.push('');
    }
    const text = lines.join('\r\n');
    const file = path.join(dir, 'big.csv');
    fs.writeFileSync(file, text);
    expect(fs.statSync(file).size).toBeGreaterThan(3 * 2 ** 20);
    const pre = await prescanText(file, { maxBytes: 2 ** 30, ...LIMITS });
    const got: FileRow[] = [];
    let pieces = 0;
    for await (const some of readRows(file, pre)) {
      pieces++;
      got.push(...some);
    }
    expect(pieces).toBeGreaterThan(2);
    expect(got.length).toBe(pre.rows);
    expect(got).toEqual(reference(text)!.rows);
  });

  it('reads Windows-1252 and UTF-16 files through the encoding the pre-scan found', async () => {
    const text = 'Username,Full Name\r\nzoe,Zoë “Z” Œuvre\r\n';
    const cp1252 = path.join(dir, 'cp.csv');
    fs.writeFileSync(cp1252, Buffer.from([...'Username,Full Name\r\nzoe,Zo', 0xeb, ' ', 0x93, 'Z', 0x94, ' ', 0x8c, 'uvre\r\n'].flatMap((x) => (typeof x === 'number' ? [x] : [...Buffer.from(x)]))));
    const utf16 = path.join(dir, 'u16.csv');
    fs.writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    for (const file of [cp1252, utf16]) {
      const pre = await prescanText(file, { maxBytes: 2 ** 30, ...LIMITS });
      const got: FileRow[] = [];
      for await (const some of readRows(file, pre)) got.push(...some);
      expect(got).toEqual([{ row: 2, cells: ['zoe', 'Zoë “Z” Œuvre'] }]);
    }
  });
});
