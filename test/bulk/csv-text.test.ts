/**
 * Pippin's CSV writer against csv-stringify (the library it replaced, kept here as the reference):
 * the same bytes for any cells, commas and tabs, and what it writes reads back through csv-parse and
 * through the import's own scanner as the same rows. The reference is asked to quote line breaks: given a CRLF record
 * delimiter, csv-stringify by default left a lone LF or CR in a cell unquoted, which split the row.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse/sync';
import { csvLine, csvText, TextBuffer } from '../../src/bulk/writers.js';
import { CsvScanner } from '../../src/bulk/csv-scanner.js';
import type { FileRow } from '../../src/bulk/reader.js';

const cell = fc.oneof(fc.string(), fc.constantFrom('', ',', '"', '""', '\r', '\n', '\r\n', '\t', ' a ', '=1+2', 'a"b,c\nd'), fc.string({ unit: 'grapheme' }));
const rows = fc.array(fc.array(cell, { minLength: 1, maxLength: 8 }), { maxLength: 20 });

describe('csvText', () => {
  it('writes what csv-stringify writes, with commas', () => {
    fc.assert(fc.property(rows, (r) => {
      expect(csvText(r)).toBe(stringify(r, { record_delimiter: '\r\n', quote_record_delimiter: true }));
    }), { numRuns: 500 });
  });

  it('writes what csv-stringify writes, with tabs', () => {
    fc.assert(fc.property(rows, (r) => {
      expect(csvText(r, '\t')).toBe(stringify(r, { delimiter: '\t', record_delimiter: '\r\n', quote_record_delimiter: true }));
    }), { numRuns: 500 });
  });

  it('reads back as the same rows', () => {
    // A row of one empty cell is an empty line, which readers skip: every row here has a non-empty cell.
    const readable = fc.array(fc.array(cell, { minLength: 1, maxLength: 8 }).filter((r) => r.some((c) => c !== '')), { maxLength: 20 });
    fc.assert(fc.property(readable, (r) => {
      const text = csvText(r);
      expect(parse(text, { relax_column_count: true })).toEqual(r);
      const rows: FileRow[] = [];
      const scanner = new CsvScanner(',', { maxRows: 100, maxRecordChars: 1e6 }, rows);
      scanner.feed(text);
      scanner.finish();
      expect(r.length ? [scanner.header, ...rows.map((x) => x.cells)] : []).toEqual(r);
    }), { numRuns: 500 });
  });

  it('quotes only the cells that need it', () => {
    expect(csvText([['plain', 'a,b', 'say "hi"', 'two\nlines', ''], ['x']])).toBe('plain,"a,b","say ""hi""","two\nlines",\r\nx\r\n');
    expect(csvText([['a,b', 'c\td']], '\t')).toBe('a,b\t"c\td"\r\n');
    expect(csvText([['lone\rreturn', 'lone\nfeed']])).toBe('"lone\rreturn","lone\nfeed"\r\n');
  });
});

describe('csvLine', () => {
  it('writes a row cut or padded to the width, then the tail, as csvText writes the same cells', () => {
    fc.assert(fc.property(fc.array(cell, { maxLength: 8 }), fc.nat(10), fc.array(cell, { maxLength: 5 }), (cells, width, tail) => {
      const padded = Array.from({ length: width }, (_, i) => cells[i] ?? '');
      const all = [...padded, ...tail];
      expect(csvLine(cells, width, tail)).toBe(all.length ? csvText([all]) : '\r\n');
    }), { numRuns: 500 });
  });
});

describe('TextBuffer', () => {
  const gathered = (pieces: string[]) => {
    const b = new TextBuffer();
    for (const p of pieces) b.append(p);
    return b.text();
  };

  it('gives back the pieces appended, in order, whatever their characters', () => {
    const piece = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', minLength: 20_000, maxLength: 40_000 }));
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
      expect(gathered(pieces)).toBe(pieces.join(''));
    }), { numRuns: 200 });
  });

  it('grows past its first size many times over, two-, three- and four-byte characters intact', () => {
    const pieces = Array.from({ length: 50_000 }, (_, i) => `${i},é€😀\r\n`);
    const text = gathered(pieces);
    expect(Buffer.byteLength(text)).toBeGreaterThan(1 << 19);
    expect(text).toBe(pieces.join(''));
  });

  it('is empty when nothing was appended', () => {
    expect(gathered([])).toBe('');
    expect(gathered(['', ''])).toBe('');
  });
});
