/**
 * The streaming XLSX writer (`src/bulk/xlsx-writer.ts`): what it writes reads back exactly through
 * Pippin's own reader and through exceljs (styles, widths, frozen header), every entry's CRC and
 * sizes hold, and it writes only as fast as its reader reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import zlib from 'node:zlib';
import ExcelJS from 'exceljs';
import fc from 'fast-check';
import yauzl from 'yauzl';
import { describe, expect, it } from 'vitest';
import { columnName, writeXlsx, type XlsxSheet } from '../../src/bulk/xlsx-writer.js';
import { xlsxStream } from '../../src/bulk/writers.js';
import { tempDir } from '../support/db.js';
import { workbookRows } from '../support/xlsx.js';

async function* batches(rows: string[][], size = 1000): AsyncGenerator<string[][]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

async function save(sheets: XlsxSheet[]): Promise<string> {
  const file = path.join(tempDir('xlsx-writer-'), 'book.xlsx');
  fs.writeFileSync(file, await buffer(writeXlsx(sheets)));
  return file;
}


/** Each zip entry's stored CRC-32 and size against its inflated bytes. */
async function checkEntries(file: string): Promise<string[]> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.open(file, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, async (e, s) => {
        if (e) return reject(e);
        const bytes = await buffer(s!);
        expect(zlib.crc32(bytes) >>> 0, entry.fileName).toBe(entry.crc32);
        expect(bytes.length, entry.fileName).toBe(entry.uncompressedSize);
        names.push(entry.fileName);
        zip.readEntry();
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return names;
}

describe('the streaming XLSX writer', () => {
  it('names columns as Excel does', () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702, 16383].map(columnName)).toEqual(['A', 'B', 'Z', 'AA', 'AB', 'AZ', 'BA', 'ZZ', 'AAA', 'XFD']);
  });

  it("writes a workbook whose entries' CRCs and sizes hold, read back exactly by Pippin's reader, odd text included", async () => {
    const odd = ['a & b < c > d', '"quoted" \'single\'', 'line\nbreak', '  padded  ', '_x0041_ stays literal', 'ctl\u0001\u001f', 'emoji 😀 Ørsted', 'lone \ud800 surrogate', '=1+2', 'ok'];
    const rows = [['Head 1', 'Head 2', ...Array.from({ length: 28 }, (_, i) => `H${i + 3}`)], ...odd.map((v, i) => [v, `row ${i}`, ...Array.from({ length: 28 }, (_, c) => (c % 3 ? `${v}-${c}` : ''))])];
    const file = await save([{ name: 'Users & <more>', widths: [30, 12], first: 'header', rows: batches(rows, 3) }]);
    expect(await checkEntries(file)).toEqual(['[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml', 'xl/_rels/workbook.xml.rels', 'xl/styles.xml', 'xl/worksheets/sheet1.xml']);
    const back = await workbookRows(file, 'Users & <more>');
    // The reader pads a row to the header's width; an empty cell is written as no cell.
    expect(back).toEqual(rows);
  });

  it('reads back any text through our reader (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 })), { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 8 }), async (cells) => {
        const rows = [['A', 'B', 'C', 'D'], ...cells.map((r) => [...r, '', '', ''].slice(0, 4).map((v) => (v.trim() === '' ? 'x' + v : v)))];
        expect(await workbookRows(await save([{ name: 'Users', widths: [], rows: batches(rows, 2) }]))).toEqual(rows);
      }),
      { numRuns: 60 },
    );
  });

  it('styles as exceljs reads it: a bold white header on the brand colour, frozen; widths; a title on an extra sheet', async () => {
    const body = await buffer(xlsxStream('Users', [{ header: 'Username', width: 18 }, { header: 'Managed Apple ID', width: 40 }], batches([['alice', '=cmd']]), [{ name: 'Instructions', lines: [['How to'], ['Step one']], widths: [90] }]));
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(body as unknown as ArrayBuffer);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Users', 'Instructions']);
    const users = wb.getWorksheet('Users')!;
    const head = users.getRow(1).getCell(2);
    expect(head.value).toBe('Managed Apple ID');
    expect(head.font).toMatchObject({ bold: true, color: { argb: 'FFFFFFFF' } });
    expect(head.fill).toMatchObject({ type: 'pattern', pattern: 'solid', fgColor: { argb: 'FF0B7A6E' } });
    expect(users.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect([users.getColumn(1).width, users.getColumn(2).width]).toEqual([18, 40]);
    expect(users.getRow(2).getCell(2).value).toBe("'=cmd"); // neutralised as in CSV, a plain string
    expect(users.getRow(2).getCell(2).type).toBe(ExcelJS.ValueType.String);
    const how = wb.getWorksheet('Instructions')!;
    expect(how.getRow(1).getCell(1).font).toMatchObject({ bold: true, size: 14 });
    expect(how.getColumn(1).width).toBe(90);
    expect(how.getRow(2).getCell(1).value).toBe('Step one');
  });

  it('asks for rows only as fast as its reader takes the bytes, and stops asking when the reader goes', async () => {
    let pulled = 0;
    let finished = false;
    async function* endless(): AsyncGenerator<string[][]> {
      try {
        for (;;) {
          pulled++;
          yield Array.from({ length: 1000 }, (_, i) => [`user${pulled}-${i}`, `user${pulled}-${i}@corp.example.com`, 'First Last', `${Math.random()}`]);
        }
      } finally {
        finished = true;
      }
    }
    const stream = writeXlsx([{ name: 'Users', widths: [], rows: endless() }]);
    await new Promise((r) => setTimeout(r, 300)); // nobody reads: the writer waits
    const idle = pulled;
    expect(idle).toBeLessThan(20);
    let bytes = 0;
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      if (bytes > 2_000_000) break; // the reader goes away
    }
    expect(pulled).toBeGreaterThan(idle);
    await new Promise((r) => setTimeout(r, 50));
    expect(finished).toBe(true);
    const after = pulled;
    await new Promise((r) => setTimeout(r, 100));
    expect(pulled).toBe(after);
  });
});
