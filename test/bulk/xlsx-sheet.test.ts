/**
 * Our streaming sheet reader (`src/bulk/xlsx-sheet.ts`, behind `readXlsxRows`) against the exceljs
 * reader it replaced, on workbooks written by exceljs; then the XLSX features exceljs does not write
 * (or read correctly), on sheet XML written by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { FileRow } from '../../src/bulk/reader.js';
import { readXlsxRows } from '../../src/bulk/xlsx.js';
import { excelDateText, isDateFormat, resolveTarget, sheetRowsOfXml } from '../../src/bulk/xlsx-sheet.js';
import { tempDir } from '../support/db.js';
import { workbook } from '../support/xlsx.js';

/** The old reader's cell text (the reference): formulas give their result, rich text its text, hyperlinks their text, dates an ISO date. */
function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString().replace(/T00:00:00\.000Z$/, '');
  if (typeof v === 'object') {
    const o = v as { richText?: { text: string }[]; text?: unknown; result?: unknown; formula?: unknown; sharedFormula?: unknown; error?: unknown };
    if (Array.isArray(o.richText)) return o.richText.map((r) => r.text ?? '').join('');
    if ('formula' in o || 'sharedFormula' in o) return cellText(o.result);
    if ('text' in o) return cellText(o.text);
    if ('error' in o) return '';
  }
  return '';
}

const dir = tempDir('pippin-xlsx-sheet-');
let n = 0;
type Row = FileRow & { header?: true };

/** The exceljs-based reader as it was before ours replaced it (the reference). */
async function* oldReadXlsxRows(file: string, sheet: string, maxRows: number): AsyncGenerator<Row> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, { sharedStrings: 'cache', hyperlinks: 'ignore', styles: 'cache', worksheets: 'emit', entries: 'ignore' });
  let data = 0;
  let width = 0;
  let stop: AppError | null = null;
  try {
    outer: for await (const ws of reader as unknown as AsyncIterable<AsyncIterable<ExcelJS.Row> & { name: string }>) {
      const wanted = ws.name === sheet;
      for await (const row of ws) {
        if (!wanted) continue;
        if (row.number > 1_048_576) {
          stop = new AppError('FILE_TYPE_INVALID', `The sheet has a row beyond Excel's last (${row.number})`, { line: null });
          break outer;
        }
        const values = (row.values as unknown[]).slice(1).map(cellText);
        while (values.length && values[values.length - 1] === '') values.pop();
        if (!values.length) continue;
        if (!width) {
          width = values.length;
          yield { row: row.number, cells: values, header: true };
          continue;
        }
        if (++data > maxRows) {
          stop = new AppError('IMPORT_TOO_MANY_ROWS', `The sheet has more than ${maxRows.toLocaleString('en')} rows (the limit)`, { line: null });
          break outer;
        }
        while (values.length < width) values.push('');
        yield { row: row.number, cells: values };
      }
      if (wanted) break;
    }
  } catch (e) {
    if (!stop) throw e;
  }
  if (stop) throw stop;
}

async function collect(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  // The old reader leaves holes for empty cells in the middle of a row (exceljs' sparse row.values): they read as ''.
  for await (const r of rows) out.push({ ...r, cells: Array.from(r.cells, (c) => c ?? '') });
  return out;
}

const readNew = (file: string, sheet = 'Users', maxRows = 1e6) => collect(readXlsxRows(file, sheet, maxRows));
/** The old reader, given the parts in Excel's order (see `inExcelOrder`). */
const readOld = async (file: string, sheet = 'Users', maxRows = 1e6) => collect(oldReadXlsxRows(await inExcelOrder(file), sheet, maxRows));

/**
 * The same workbook with the parts exceljs' streaming reader (the old one) must see first put first:
 * the workbook, its relationships, the shared strings and the styles. exceljs' writer does not
 * always write them so, and that reader then fails now and then: "Cannot read properties of
 * undefined (reading 'sheets')" when a sheet comes before xl/workbook.xml, or no rows for a sheet
 * it did not put a name to. Ours reads the parts in any order.
 */
async function inExcelOrder(file: string): Promise<string> {
  const zip = await JSZip.loadAsync(fs.readFileSync(file));
  const first = ['[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml', 'xl/_rels/workbook.xml.rels', 'xl/sharedStrings.xml', 'xl/styles.xml'];
  const names = Object.keys(zip.files).filter((f) => !zip.files[f]!.dir);
  const out = new JSZip();
  for (const name of [...first.filter((f) => names.includes(f)), ...names.filter((f) => !first.includes(f))]) out.file(name, await zip.file(name)!.async('nodebuffer'));
  const ordered = path.join(dir, `ordered${n++}.xlsx`);
  fs.writeFileSync(ordered, await out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
  return ordered;
}

/** Reads with both readers, checks they agree, and returns the rows. */
async function agreed(file: string, sheet = 'Users'): Promise<Row[]> {
  const now = await readNew(file, sheet);
  expect(now).toEqual(await readOld(file, sheet));
  return now;
}

/** exceljs' streaming writer: no shared strings, so strings are `t="str"` cells and rich text is inline (`t="inlineStr"`). */
async function streamed(rows: unknown[][], opts: { useSharedStrings?: boolean; useStyles?: boolean; sheet?: string } = {}): Promise<string> {
  const file = path.join(dir, `st${n++}.xlsx`);
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: opts.useSharedStrings ?? false, useStyles: opts.useStyles ?? true });
  const ws = wb.addWorksheet(opts.sheet ?? 'Users');
  for (const r of rows) ws.addRow(r).commit();
  ws.commit();
  await wb.commit();
  return file;
}

/** Rewrites parts of a workbook. */
async function patched(file: string, parts: Record<string, string | ((old: string) => string)>): Promise<string> {
  const zip = await JSZip.loadAsync(fs.readFileSync(file));
  for (const [part, content] of Object.entries(parts)) {
    if (typeof content === 'string') zip.file(part, content);
    else zip.file(part, content(await zip.file(part)!.async('string')));
  }
  const out = path.join(dir, `patched${n++}.xlsx`);
  fs.writeFileSync(out, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
  return out;
}

const SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';
const sheetXml = (body: string) => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet ${SHEET_NS}><sheetData>${body}</sheetData></worksheet>`;

/** A one-sheet workbook (sheet "Users") whose sheet XML is `body`, optionally with shared strings and styles of our own. */
async function handWritten(body: string, extra: Record<string, string> = {}): Promise<string> {
  const base = await workbook((wb) => wb.addWorksheet('Users').addRow(['x']));
  return patched(base, { 'xl/worksheets/sheet1.xml': sheetXml(body), ...extra });
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
};

describe('our sheet reader agrees with the exceljs reader it replaced', () => {
  it('strings (shared), numbers, booleans, errors, formulas, hyperlinks, rich text and dates', async () => {
    const file = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Text', 'Number', 'Bool', 'Error', 'Formula', 'Link', 'Rich', 'Date']);
      ws.addRow([
        'plain  spaced ',
        42,
        true,
        { error: '#N/A' },
        { formula: '"a"&"b"', result: 'ab' },
        { text: 'ada@corp.example', hyperlink: 'mailto:ada@corp.example' },
        { richText: [{ text: 'Ada ' }, { font: { bold: true }, text: 'Lovelace' }] },
        new Date(Date.UTC(2024, 0, 31)),
      ]);
      ws.addRow(['<&>"\'', 0.1 + 0.2, false, { error: '#DIV/0!' }, { formula: '1+1', result: 2 }, { text: 'x', hyperlink: 'https://x.example/?a=1&b=2' }, '日本語 😀', new Date(Date.UTC(2024, 1, 29, 10, 15, 30, 250))]);
      ws.addRow(['negatives', -17, null, null, { formula: 'A1' }, null, '', new Date(Date.UTC(1900, 2, 1))]);
      ws.addRow(['large', 123456789012345680000, null, null, { formula: 'B2*1.5', result: 63 }, null, null, new Date(Date.UTC(9999, 11, 31, 23, 59, 59))]);
      ws.addRow(['small', 1e-7]);
      ws.addRow(['float', 1.1 + 2.2, null, null, null, null, null, new Date(Date.UTC(1970, 0, 1, 12))]);
      ws.addRow(['big int', 2 ** 53, null, null, null, null, null, null]);
    });
    const rows = await agreed(file);
    expect(rows[1]!.cells).toEqual(['plain  spaced ', '42', 'TRUE', '', 'ab', 'ada@corp.example', 'Ada Lovelace', '2024-01-31']);
    expect(rows[2]!.cells).toEqual(['<&>"\'', '0.3', 'FALSE', '', '2', 'x', '日本語 😀', '2024-02-29T10:15:30.250Z']);
    expect(rows[3]!.cells).toEqual(['negatives', '-17', '', '', '', '', '', '1900-03-01']);
    expect(rows[4]!.cells).toEqual(['large', '123456789012345680000', '', '', '63', '', '', '9999-12-31T23:59:59.000Z']);
    expect(rows[5]!.cells).toEqual(['small', '1e-7', '', '', '', '', '', '']);
    expect(rows[6]!.cells[1]).toBe('3.3');
    expect(rows[6]!.cells[7]).toBe('1970-01-01T12:00:00.000Z');
    expect(rows[7]!.cells[1]).toBe('9007199254740992');
  });

  it('dates in the 1904 system, and custom date and number formats', async () => {
    for (const date1904 of [false, true]) {
      const file = await workbook((wb) => {
        wb.properties.date1904 = date1904;
        const ws = wb.addWorksheet('Users');
        ws.addRow(['Date', 'Custom date', 'Percent', 'Money', 'Elapsed', 'Time']);
        const r = ws.addRow([new Date(Date.UTC(2024, 6, 4)), new Date(Date.UTC(2001, 8, 9, 1, 46, 40)), 0.125, 1234.5, 1.5, 0.75]);
        r.getCell(2).numFmt = 'yyyy-mm-dd hh:mm';
        r.getCell(3).numFmt = '0.00%';
        r.getCell(4).numFmt = '[$€-2] #,##0.00;[Red]-[$€-2] #,##0.00';
        r.getCell(5).numFmt = '[h]:mm';
        r.getCell(6).numFmt = 'h:mm AM/PM';
      });
      const rows = await readNew(file);
      expect(rows[1]!.cells.slice(0, 4)).toEqual(['2024-07-04', '2001-09-09T01:46:40.000Z', '0.125', '1234.5']);
      // Times alone are dates on Excel's day 0 (31 December 1899, or 1 January 1904).
      expect(rows[1]!.cells.slice(4)).toEqual(date1904 ? ['1904-01-02T12:00:00.000Z', '1904-01-01T18:00:00.000Z'] : ['1900-01-01T12:00:00.000Z', '1899-12-31T18:00:00.000Z']);
      // exceljs read times alone from 30 December 1899; every date from March 1900 on agrees.
      const old = await readOld(file);
      expect(rows[1]!.cells.slice(0, 4)).toEqual(old[1]!.cells.slice(0, 4));
    }
  });

  it('empty cells in the middle, missing trailing cells, long rows, empty rows, a header below empty rows', async () => {
    const file = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.getCell('B3').value = 'Username';
      ws.getCell('C3').value = 'Email';
      ws.getCell('E3').value = 'Groups';
      ws.getCell('B4').value = 'a';
      ws.getCell('E4').value = 'g';
      ws.getCell('B5').value = 'short';
      ws.getCell('B7').value = 'long';
      ws.getCell('H7').value = 'far';
      ws.getCell('C8').style = { font: { bold: true } }; // a styled empty cell is no value
    });
    const rows = await agreed(file);
    expect(rows).toEqual([
      { row: 3, cells: ['', 'Username', 'Email', '', 'Groups'], header: true },
      { row: 4, cells: ['', 'a', '', '', 'g'] },
      { row: 5, cells: ['', 'short', '', '', ''] },
      { row: 7, cells: ['', 'long', '', '', '', '', '', 'far'] },
    ]);
  });

  it('picks the sheet by name among several', async () => {
    const file = await workbook((wb) => {
      wb.addWorksheet('Instructions').addRow(['Read me']);
      wb.addWorksheet('Other').addRow(['other', 1]);
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Username']);
      ws.addRow(['u1']);
      wb.addWorksheet('After').addRow(['after']);
    });
    expect(await agreed(file)).toEqual([
      { row: 1, cells: ['Username'], header: true },
      { row: 2, cells: ['u1'] },
    ]);
    expect((await agreed(file, 'Other'))[0]!.cells).toEqual(['other', '1']);
    expect((await agreed(file, 'After'))[0]!.cells).toEqual(['after']);
  });

  it('reads the parts in any order (the exceljs reader failed when a sheet came before the workbook)', async () => {
    const file = await workbook((wb) => {
      wb.addWorksheet('Other').addRow(['other']);
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Username', 'Email']);
      ws.addRow(['u1', 'u1@corp.example']);
    });
    const zip = await JSZip.loadAsync(fs.readFileSync(file));
    const names = Object.keys(zip.files).filter((f) => !zip.files[f]!.dir);
    const last = ['xl/styles.xml', 'xl/sharedStrings.xml', 'xl/_rels/workbook.xml.rels', 'xl/workbook.xml'];
    const out = new JSZip();
    for (const name of [...names.filter((f) => !last.includes(f)), ...last]) out.file(name, await zip.file(name)!.async('nodebuffer'));
    const reversed = path.join(dir, `reversed${n++}.xlsx`);
    fs.writeFileSync(reversed, await out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
    expect(await readNew(reversed)).toEqual(await readOld(file));
    expect((await readNew(reversed))[1]!.cells).toEqual(['u1', 'u1@corp.example']);
  });

  it('finds a sheet through a relationship with an absolute target, or a relative one with ..', async () => {
    const base = await workbook((wb) => {
      wb.addWorksheet('First').addRow(['first']);
      wb.addWorksheet('Users').addRow(['second']);
    });
    const rels = await (await JSZip.loadAsync(fs.readFileSync(base))).file('xl/_rels/workbook.xml.rels')!.async('string');
    expect(rels).toContain('Target="worksheets/sheet2.xml"');
    const absolute = await patched(base, { 'xl/_rels/workbook.xml.rels': rels.replace('Target="worksheets/sheet2.xml"', 'Target="/xl/worksheets/sheet2.xml"') });
    expect(await readNew(absolute)).toEqual([{ row: 1, cells: ['second'], header: true }]);
    const dotted = await patched(base, { 'xl/_rels/workbook.xml.rels': rels.replace('Target="worksheets/sheet2.xml"', 'Target="../xl/./worksheets/sheet2.xml"') });
    expect(await readNew(dotted)).toEqual([{ row: 1, cells: ['second'], header: true }]);
    expect(resolveTarget('worksheets/sheet1.xml')).toBe('xl/worksheets/sheet1.xml');
    expect(resolveTarget('/xl/worksheets/sheet1.xml')).toBe('xl/worksheets/sheet1.xml');
  });

  it("exceljs' streaming writer: t=\"str\" cells, with and without shared strings, with and without styles", async () => {
    const rows = [['Username', 'Email Address', 'Full Name'], ['a', 'a@b.example', ' Ada  '], ['b', '', 'x < y & "z"'], [1, 2.5, true]];
    for (const useSharedStrings of [false, true]) {
      for (const useStyles of [false, true]) {
        const file = await streamed(rows, { useSharedStrings, useStyles });
        const got = await agreed(file);
        expect(got.map((r) => r.cells)).toEqual([
          ['Username', 'Email Address', 'Full Name'],
          ['a', 'a@b.example', ' Ada  '],
          ['b', '', 'x < y & "z"'],
          ['1', '2.5', 'TRUE'],
        ]);
      }
    }
  });

  it('inline rich text in full (the exceljs reader kept only the last run)', async () => {
    const file = await streamed([['Username', 'Full Name'], ['a', { richText: [{ text: 'Ada ' }, { font: { italic: true }, text: 'Lovelace' }] }]]);
    const xml = await (await JSZip.loadAsync(fs.readFileSync(file))).file('xl/worksheets/sheet1.xml')!.async('string');
    expect(xml).toContain('t="inlineStr"');
    expect((await readNew(file))[1]!.cells).toEqual(['a', 'Ada Lovelace']);
    expect((await readOld(file))[1]!.cells).toEqual(['a', 'Lovelace']);
  });

  it('100 rows × 30 columns of mixed values, over many inflated chunks', async () => {
    const file = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.addRow(Array.from({ length: 30 }, (_, i) => `Column ${i}`));
      for (let r = 0; r < 100; r++) {
        ws.addRow(Array.from({ length: 30 }, (_, c) => ((r + c) % 5 === 0 ? r * c + 0.5 : (r + c) % 7 === 0 ? null : `v${r}:${c} & <${'x'.repeat((r * c) % 40)}>`)));
      }
    });
    const rows = await agreed(file);
    expect(rows).toHaveLength(101);
  });
});

describe('strings read back exactly as exceljs wrote them (property)', () => {
  // What XML 1.0 can carry (exceljs drops the rest) and what survives its line-end rule (a bare CR
  // becomes LF in any XML parser); `_xHHHH_` is how Excel escapes characters, so it is read as one.
  const piece = fc.oneof(
    fc.constantFrom('<', '>', '&', '"', "'", '&amp;', '&#60;', ']]>', ' ', '  ', '\n', '\t', 'é', '日本', '😀', 'ﬀ', '\u00a0', '_x', '=1+2', '-', '0', '1e5', ''),
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
  );
  const text = fc
    .array(piece, { maxLength: 5 })
    .map((p) => p.join(''))
    .map((s) => s.replace(/[^\t\n\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, ''))
    .filter((s) => !/_x[0-9a-fA-F]{4}_/.test(s));
  const table = fc.array(fc.array(text, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 });

  /** What readXlsxRows must give for a table of strings. */
  function expected(rows: string[][]): { row: number; cells: string[] }[] {
    const out: { row: number; cells: string[] }[] = [];
    let width = 0;
    rows.forEach((r, i) => {
      const cells = [...r];
      while (cells.length && cells[cells.length - 1] === '') cells.pop();
      if (!cells.length) return;
      if (!width) width = cells.length;
      while (cells.length < width) cells.push('');
      out.push({ row: i + 1, cells });
    });
    return out;
  }
  const strip = (rows: Row[]) => rows.map(({ row, cells }) => ({ row, cells }));

  it('shared strings (exceljs.Workbook) and t="str" cells (the streaming writer)', async () => {
    await fc.assert(
      fc.asyncProperty(table, fc.boolean(), async (rows, viaStream) => {
        const file = viaStream
          ? await streamed(rows)
          : await workbook((wb) => {
              const ws = wb.addWorksheet('Users');
              for (const r of rows) ws.addRow(r);
            });
        expect(strip(await readNew(file))).toEqual(expected(rows));
      }),
      { numRuns: 60 },
    );
  });
});

describe('sheet XML exceljs does not write', () => {
  it('phonetic runs, _xHHHH_ escapes, entities, character references, CDATA, comments and namespace prefixes', async () => {
    const sst =
      `<?xml version="1.0" encoding="UTF-8"?><sst ${SHEET_NS} count="4" uniqueCount="4">` +
      '<si><t>漢字</t><rPh sb="0" eb="2"><t>カンジ</t></rPh><phoneticPr fontId="1"/></si>' +
      '<si><r><rPr><b/></rPr><t xml:space="preserve">Line_x000D_</t></r><r><t>two &amp; _x005F_x0041_</t></r></si>' +
      '<si><t/></si>' +
      '<si>\n  <t>after whitespace</t>\n</si>' +
      '</sst>';
    const file = await handWritten(
      '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>' +
        '<!-- a comment with <c r="A2"><v>9</v></c> in it -->' +
        '<row r="2"><c r="A2" t="inlineStr"><is><t>&lt;tag attr=&quot;v&quot;&gt; &#x41;&#66;&#128512;</t></is></c>' +
        '<c r="B2" t="str"><f>"x"</f><v><![CDATA[<not a tag> & raw]]></v></c>' +
        '<c r="C2" t="inlineStr"><is><r><t>rich </t></r><r><rPr><i/></rPr><t>inline</t></r><rPh><t>ignored</t></rPh></is></c></row>' +
        '<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="3"><x:c r="A3" t="inlineStr"><x:is><x:t>prefixed</x:t></x:is></x:c></x:row>' +
        '<row r="4" spans="1:2"><c r="A4" t="b"><v>1</v></c><c r="B4" t="b"><v>0</v></c><c r="C4" t="e"><v>#REF!</v></c><c r="D4" t="n"><v>1.5E3</v></c></row>' +
        '<row r="5"><c r="A5" t="str"><v>line1\r\nline2&#13;</v></c><c r=\'B5\' t = "inlineStr" ><is><t>single &apos;quotes&apos; and a > in <![CDATA[]]>text</t></is></c></row>',
      { 'xl/sharedStrings.xml': sst },
    );
    expect(await readNew(file)).toEqual([
      { row: 1, cells: ['漢字', 'Line\rtwo & _x0041_', '', 'after whitespace'], header: true },
      { row: 2, cells: ['<tag attr="v"> AB😀', '<not a tag> & raw', 'rich inline', ''] },
      { row: 3, cells: ['prefixed', '', '', ''] },
      { row: 4, cells: ['TRUE', 'FALSE', '', '1500'] },
      { row: 5, cells: ['line1\nline2\r', "single 'quotes' and a > in text", '', ''] },
    ]);
  });

  it('cells and rows without r take the next column and row; formulas without a value are empty', async () => {
    const file = await handWritten(
      '<row><c t="inlineStr"><is><t>A</t></is></c><c t="inlineStr"><is><t>B</t></is></c><c r="D1"><v>4</v></c><c><v>5</v></c></row>' +
        '<row r="5"><c><f>SUM(A1:A2)</f></c><c><v>2</v></c></row>' +
        '<row><c r="C6"><v>3</v></c></row>' +
        '<row r="8"/>' +
        '<row><c><v>9</v></c></row>',
    );
    expect(await readNew(file)).toEqual([
      { row: 1, cells: ['A', 'B', '', '4', '5'], header: true },
      { row: 5, cells: ['', '2', '', '', ''] },
      { row: 6, cells: ['', '', '3', '', ''] },
      { row: 9, cells: ['9', '', '', '', ''] },
    ]);
  });

  it('t="d" cells, serial dates around the 1900 leap-year bug, and date styles from styles.xml', async () => {
    const styles =
      `<?xml version="1.0" encoding="UTF-8"?><styleSheet ${SHEET_NS}>` +
      '<numFmts count="3"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/><numFmt numFmtId="165" formatCode="&quot;day&quot;\\ 0.00"/><numFmt numFmtId="166" formatCode="[Red]0.0;[Blue]\\-0.0"/></numFmts>' +
      '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>' +
      '<cellXfs count="6"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/><xf numFmtId="22"><alignment/></xf></cellXfs>' +
      '</styleSheet>';
    const file = await handWritten(
      '<row r="1"><c t="inlineStr"><is><t>h</t></is></c></row>' +
        '<row r="2"><c s="1"><v>1</v></c><c s="1"><v>59</v></c><c s="1"><v>60</v></c><c s="1"><v>61</v></c><c s="1"><v>45322</v></c></row>' +
        '<row r="3"><c s="2"><v>45322.75</v></c><c s="3"><v>45322.75</v></c><c s="4"><v>45322</v></c><c s="5"><v>45322.5</v></c><c s="0"><v>45322</v></c><c s="9"><v>45322</v></c></row>' +
        '<row r="4"><c t="d"><v>2024-01-31T00:00:00</v></c><c t="d"><v>2024-01-31T10:00:00</v></c><c t="d"><v>2024-01-31</v></c><c t="d"><v>2024-01-31T10:00:00+02:00</v></c><c t="d"><v>not a date</v></c></row>' +
        '<row r="5"><c s="1"><v>-1</v></c><c s="1"><v>60.5</v></c><c s="1"><v>3000000</v></c></row>',
      { 'xl/styles.xml': styles },
    );
    const rows = await readNew(file);
    expect(rows[1]!.cells).toEqual(['1900-01-01', '1900-02-28', '1900-02-29', '1900-03-01', '2024-01-31']);
    expect(rows[2]!.cells).toEqual(['2024-01-31T18:00:00.000Z', '45322.75', '45322', '2024-01-31T12:00:00.000Z', '45322', '45322']);
    expect(rows[3]!.cells).toEqual(['2024-01-31', '2024-01-31T10:00:00.000Z', '2024-01-31', '2024-01-31T08:00:00.000Z', 'not a date']);
    expect(rows[4]!.cells).toEqual(['-1', '1900-02-29T12:00:00.000Z', '3000000']);
  });

  it('knows date formats from number formats', () => {
    for (const f of ['yyyy-mm-dd', 'd/m/yy', 'mmm-yy', 'h:mm AM/PM', '[h]:mm:ss', '[$-409]mmmm d, yyyy;@', 'dd"."mm', 'ss.0', '[mm]:ss']) expect(isDateFormat(f), f).toBe(true);
    for (const f of ['General', '0.00', '#,##0.00 "days"', '0%', '0.00E+00', '[Red]0.0', '\\d0', '_(* #,##0_)', '@', '# ?/?', '0;[Red]"m"0']) expect(isDateFormat(f), f).toBe(false);
    expect(excelDateText(1, false)).toBe('1900-01-01');
    expect(excelDateText(0, true)).toBe('1904-01-01');
    expect(excelDateText(45322, true)).toBe('2028-02-01');
  });

  it('refuses a cell beyond column XFD without building a row for it; reads one in XFD', async () => {
    const beyond = await handWritten('<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c><c r="XFE1"><v>1</v></c></row>');
    const e = await refusal(readNew(beyond));
    expect(e.code).toBe('FILE_TYPE_INVALID');
    expect(e.message).toBe("The sheet has a cell beyond Excel's last column (XFE1)");
    const huge = await handWritten(`<row r="1"><c r="${'Z'.repeat(5000)}1"><v>1</v></c></row>`);
    expect((await refusal(readNew(huge))).message).toMatch(/^The sheet has a cell beyond Excel's last column \(Z{24}\)$/);
    const next = await handWritten(`<row r="1"><c r="XFD1"><v>1</v></c><c><v>2</v></c></row>`);
    expect((await refusal(readNew(next))).message).toBe("The sheet has a cell beyond Excel's last column (row 1, column 16385)");
    // A cell in XFD on every row: the gap before it is holes, not 16,383 strings a row.
    const xfd = await handWritten(Array.from({ length: 5000 }, (_, i) => `<row r="${i + 1}"><c r="B${i + 1}"><v>${i}</v></c><c r="XFD${i + 1}"><v>1</v></c></row>`).join(''));
    const t0 = Date.now();
    const rows = [];
    for await (const r of readXlsxRows(xfd, 'Users', 1e6)) rows.push(r);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(rows).toHaveLength(5000);
    expect(rows[7]!.cells).toHaveLength(16_384);
    expect(rows[7]!.cells[1]).toBe('7');
    expect(rows[7]!.cells[16_383]).toBe('1');
    expect(rows[7]!.cells[0]).toBe('');
    expect(rows[7]!.cells[500]).toBeUndefined();
    // A narrow gap is filled.
    const near = await handWritten('<row r="1"><c r="A1"><v>1</v></c><c r="AA1"><v>2</v></c></row>');
    expect((await readNew(near))[0]!.cells).toEqual(['1', ...Array(25).fill(''), '2']);
  });

  it('refuses a row beyond Excel\'s last, and more rows than the limit, with the messages it always gave', async () => {
    const far = await handWritten('<row r="1"><c><v>1</v></c></row><row r="1048577"><c><v>2</v></c></row>');
    const e = await refusal(readNew(far));
    expect(e.code).toBe('FILE_TYPE_INVALID');
    expect(e.message).toBe("The sheet has a row beyond Excel's last (1048577)");
    const many = await streamed([['Username'], ...Array.from({ length: 11 }, (_, i) => [`u${i}`])]);
    const tooMany = await refusal(readNew(many, 'Users', 10));
    expect(tooMany.code).toBe('IMPORT_TOO_MANY_ROWS');
    expect(tooMany.message).toBe('The sheet has more than 10 rows (the limit)');
    expect((await refusal(readOld(many, 'Users', 10))).message).toBe(tooMany.message);
    expect(await readNew(many, 'Users', 11)).toHaveLength(12);
  });

  it('refuses damaged XML, a DOCTYPE and a missing sheet part with FILE_TYPE_INVALID', async () => {
    for (const body of ['<row><c><v>1 &bogus; 2</v></c></row>', '<row><c t="str"><v>a & b</v></c></row>', '<row><c t="str"><v>&#0;</v></c></row>']) {
      const e = await refusal(readNew(await handWritten(body)));
      expect(e.code).toBe('FILE_TYPE_INVALID');
      expect(e.message).toMatch(/xl\/worksheets\/sheet1\.xml is not well-formed XML/);
    }
    const base = await workbook((wb) => wb.addWorksheet('Users').addRow(['x']));
    const doctype = await patched(base, { 'xl/worksheets/sheet1.xml': '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><worksheet><sheetData/></worksheet>' });
    expect((await refusal(readNew(doctype))).message).toMatch(/DOCTYPE/);
    const truncated = await patched(base, { 'xl/worksheets/sheet1.xml': sheetXml('<row r="1"><c r="A1" t="str"><v>x</v></c></row>').slice(0, -40) + '<row r="2"><c r="A2"' });
    expect((await refusal(readNew(truncated))).message).toMatch(/ends inside a tag/);
    const missing = await patched(base, { 'xl/_rels/workbook.xml.rels': (rels) => rels.replace('worksheets/sheet1.xml', 'worksheets/nowhere.xml') });
    expect((await refusal(readNew(missing))).message).toMatch(/xl\/worksheets\/nowhere\.xml of the sheet "Users" is missing/);
  });
});

describe('the scanner across chunk boundaries', () => {
  it('gives the same rows however the bytes are cut (entities, CR LF, multi-byte UTF-8, tags, CDATA, comments)', () => {
    const xml = Buffer.from(
      sheetXml(
        '<row r="1" spans="1:3"><c r="A1" t="inlineStr"><is><t xml:space="preserve"> a &amp; b &lt;c&gt; &#x1F600; é日本\r\n </t></is></c>' +
          '<c r="B1" t="str"><v><![CDATA[x]]>&quot;y&quot;<!-- no -->z</v></c><c r="C1" s="1"><v>45322.25</v></c></row>' +
          '<?pi here?><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="b"><v>1</v></c><c r="C2"><v>0.30000000000000004</v></c></row>',
      ),
    );
    const opts = { shared: ['zero', 'one'], dateStyles: [false, true] };
    const whole = sheetRowsOfXml([xml], opts);
    expect(whole).toEqual([
      { row: 1, cells: [' a & b <c> 😀 é日本\n ', 'x"y"z', '2024-01-31T06:00:00.000Z'] },
      { row: 2, cells: ['one', 'TRUE', '0.3'] },
    ]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: xml.length - 1 }), { maxLength: 40 }), (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), xml.length];
        const chunks = at.slice(1).map((end, i) => xml.subarray(at[i]!, end));
        expect(sheetRowsOfXml(chunks, opts)).toEqual(whole);
      }),
      { numRuns: 300 },
    );
    // Every single byte apart.
    expect(sheetRowsOfXml([...xml].map((b) => Uint8Array.of(b)), opts)).toEqual(whole);
  });

  it('reads UTF-16 parts', () => {
    const xml = sheetXml('<row r="1"><c t="inlineStr"><is><t>ünï 😀</t></is></c></row>');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
    expect(sheetRowsOfXml([le.subarray(0, 101), le.subarray(101)])).toEqual([{ row: 1, cells: ['ünï 😀'] }]);
  });
});

describe('closing early', () => {
  const openFds = () => fs.readdirSync('/proc/self/fd').length;

  it('closes the file when the reader stops after a few rows, is refused, or runs to the end', async () => {
    const file = await streamed([['Username'], ...Array.from({ length: 3000 }, (_, i) => [`user${i}`, `user${i}@corp.example`, 'x'.repeat(i % 50)])]);
    const far = await handWritten('<row r="1"><c><v>1</v></c></row><row r="2000000"><c><v>2</v></c></row>');
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      for await (const r of readXlsxRows(file, 'Users', 1e6)) if (r.row > 2) break;
      await refusal(readNew(file, 'Users', 5));
      await refusal(readNew(far));
      expect(await readNew(file)).toHaveLength(3001);
    }
    // Files are closed asynchronously: wait for the count to come back (it never would after a leak).
    for (let waited = 0; openFds() > before && waited < 3000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBeLessThanOrEqual(before);
  });
});
