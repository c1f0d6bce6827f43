import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { xlsxPrecheck } from '../../src/bulk/xlsx.js';
import { openTable } from '../../src/bulk/table.js';
import { createTestPippin, uploadUsers, waitForJob, type TestPippin } from '../support/app.js';
import { tempDir } from '../support/db.js';
import { workbook } from '../support/xlsx.js';

const dir = tempDir('pippin-xlsx-');
let n = 0;
const LIMITS = { maxBytes: 1e8, maxRows: 1e6, xlsxMaxRows: 1000, xlsxMaxInflatedBytes: 20 * 1024 * 1024 };

/** Rewrites one part of a real workbook (or adds one). */
async function patched(file: string, part: string, content: string | Buffer): Promise<string> {
  const zip = await JSZip.loadAsync(fs.readFileSync(file));
  zip.file(part, content);
  const out = path.join(dir, `patched${n++}.xlsx`);
  fs.writeFileSync(out, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } }));
  return out;
}

const refusedWith = async (file: string, code: string, limits = LIMITS) => {
  const e = await openTable(file, 'x.xlsx', limits).then(() => null, (err) => err);
  expect(e, 'refused').toBeInstanceOf(AppError);
  expect((e as AppError).code).toBe(code);
  return e as AppError;
};

const simple = () =>
  workbook((wb) => {
    const ws = wb.addWorksheet('Users');
    ws.addRow(['Username', 'Email Address']);
    ws.addRow(['a', 'a@b.example']);
  });

describe('XLSX intake', () => {
  it('reads the sheet named Users (not the first), normalising formula, rich-text, hyperlink and date cells (BAD-INPUTS 28, 29)', async () => {
    const file = await workbook((wb) => {
      wb.addWorksheet('Instructions').addRow(['Read me']);
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Username', 'Full Name', 'Email Address', 'Phone Number', 'Groups']);
      ws.addRow([
        'rich',
        { richText: [{ text: 'Ada ' }, { font: { bold: true }, text: 'Lovelace' }] },
        { text: 'ada@corp.example', hyperlink: 'mailto:ada@corp.example' },
        { formula: '"+1 555 "&"0100"', result: '+1 555 0100' },
        new Date(Date.UTC(2024, 0, 31)),
      ]);
      ws.addRow(['short']);
    });
    const table = await openTable(file, 'users.xlsx', LIMITS);
    expect(table.header).toEqual(['Username', 'Full Name', 'Email Address', 'Phone Number', 'Groups']);
    expect(table.rows).toBe(2);
    const rows = [];
    for await (const some of table.read()) rows.push(...some);
    expect(rows[0]).toEqual({ row: 2, cells: ['rich', 'Ada Lovelace', 'ada@corp.example', '+1 555 0100', '2024-01-31'] });
    expect(rows[1]).toEqual({ row: 3, cells: ['short', '', '', '', ''] });
    expect(table.warnings[0]).toContain('"Users"');
  });

  it('never yields [object Object]: every cell shape becomes text', async () => {
    const file = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.addRow(['A', 'B', 'C', 'D', 'E', 'F', 'G']);
      ws.addRow([{ formula: 'B2' }, { error: '#N/A' }, { formula: '1+2', result: 3 }, { richText: [{ text: 'x' }, { text: 'y' }] }, 1.1 + 2.2, true, null]);
    });
    const rows = [];
    for await (const some of (await openTable(file, 'x.xlsx', LIMITS)).read()) rows.push(...some);
    expect(rows).toEqual([{ row: 2, cells: ['', '', '3', 'xy', '3.3', 'TRUE', ''] }]);
  });

  it('refuses a zip bomb while inflating, before parsing (BAD-INPUTS 23)', async () => {
    const bomb = await patched(await simple(), 'xl/worksheets/sheet2.xml', Buffer.alloc(30 * 1024 * 1024, 0x20));
    expect(fs.statSync(bomb).size).toBeLessThan(200_000);
    const t0 = Date.now();
    const e = await refusedWith(bomb, 'FILE_TOO_LARGE');
    expect(e.message).toMatch(/inflates/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('counts inflated bytes itself: a part whose declared size lies is refused at the cap (BAD-INPUTS 24)', async () => {
    // 3 MiB of base64 text: it compresses only ~25%, so the ratio check stays quiet and the byte cap must trip.
    const noise = randomBytes(2.25 * 1024 * 1024).toString('base64');
    const zip = fs.readFileSync(await patched(await simple(), 'xl/worksheets/sheet2.xml', noise));
    // Declare 1,000 bytes in the part's local header (offset 22) and central-directory entry (offset 24).
    const name = Buffer.from('xl/worksheets/sheet2.xml');
    let lies = 0;
    for (let at = 0; at < zip.length - 46; at++) {
      const sig = zip.readUInt32LE(at);
      if (sig === 0x04034b50 && zip.subarray(at + 30, at + 30 + name.length).equals(name)) (zip.writeUInt32LE(1000, at + 22), lies++);
      if (sig === 0x02014b50 && zip.subarray(at + 46, at + 46 + name.length).equals(name)) (zip.writeUInt32LE(1000, at + 24), lies++);
    }
    expect(lies).toBe(2);
    const liar = path.join(dir, `liar${n++}.xlsx`);
    fs.writeFileSync(liar, zip);
    const e = await refusedWith(liar, 'FILE_TOO_LARGE', { ...LIMITS, xlsxMaxInflatedBytes: 2 * 1024 * 1024 });
    expect(e.message).toMatch(/inflates to more than 2,097,152 bytes/);
    // The lying file under a cap above what it really inflates to passes the container check.
    expect(await xlsxPrecheck(liar, { maxInflatedBytes: 4 * 1024 * 1024, maxEntries: 100 })).toEqual(['Users']);
  });

  it('refuses a DOCTYPE with entities, macros, unsafe paths, too many parts, non-XLSX bytes and encrypted workbooks (BAD-INPUTS 25, 26, 30)', async () => {
    const base = await simple();
    const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><worksheet>&lol2;</worksheet>';
    expect((await refusedWith(await patched(base, 'xl/worksheets/sheet1.xml', laughs), 'FILE_TYPE_INVALID')).message).toMatch(/DOCTYPE/);
    expect((await refusedWith(await patched(base, 'xl/vbaProject.bin', 'macro'), 'FILE_TYPE_INVALID')).message).toMatch(/macros/);
    expect((await refusedWith(await patched(base, '../evil.xml', '<x/>'), 'FILE_TYPE_INVALID')).message).toMatch(/unsafe path|invalid relative path/);
    let many = base;
    const zip = await JSZip.loadAsync(fs.readFileSync(base));
    for (let i = 0; i < 120; i++) zip.file(`xl/media/pad${i}.bin`, 'x');
    many = path.join(dir, 'many.xlsx');
    fs.writeFileSync(many, await zip.generateAsync({ type: 'nodebuffer' }));
    expect((await refusedWith(many, 'FILE_TYPE_INVALID')).message).toMatch(/more than 100 parts/);
    const csv = path.join(dir, 'csv.xlsx');
    fs.writeFileSync(csv, 'Username,Email\na,b\n');
    expect((await refusedWith(csv, 'FILE_TYPE_INVALID')).message).toMatch(/not an Excel workbook/);
    const cfb = path.join(dir, 'cfb.xlsx');
    fs.writeFileSync(cfb, Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(512)]));
    expect((await refusedWith(cfb, 'FILE_TYPE_INVALID')).message).toMatch(/encrypted workbook or an old .xls/);
  });

  it('does not walk a million empty rows for one far-away cell (BAD-INPUTS 27)', async () => {
    const file = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Username', 'Email Address']);
      ws.addRow(['a', 'a@b.example']);
      ws.getCell('XFD1048576').value = 'far';
    });
    const t0 = Date.now();
    const table = await openTable(file, 'x.xlsx', LIMITS);
    expect(table.rows).toBe(2);
    const rows = [];
    for await (const some of table.read()) rows.push(...some.map((r) => r.row));
    expect(rows).toEqual([2, 1048576]);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses more rows than the XLSX limit, and an empty sheet', async () => {
    const big = await workbook((wb) => {
      const ws = wb.addWorksheet('Users');
      ws.addRow(['Username']);
      for (let i = 0; i < 11; i++) ws.addRow([`u${i}`]);
    });
    await refusedWith(big, 'IMPORT_TOO_MANY_ROWS', { ...LIMITS, xlsxMaxRows: 10 });
    const empty = await workbook((wb) => wb.addWorksheet('Users').addRow(['Username']));
    await refusedWith(empty, 'FILE_EMPTY');
  });

  it('only ever refuses random bytes with a typed error (BAD-INPUTS 31)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.from(b)]))), async (bytes) => {
        const f = path.join(dir, `fuzz${n++}.xlsx`);
        fs.writeFileSync(f, bytes);
        const e = await xlsxPrecheck(f, { maxInflatedBytes: 1e7, maxEntries: 100 }).then(() => null, (err) => err);
        expect(e).toBeInstanceOf(AppError);
      }),
      { numRuns: 150 },
    );
  });
});

describe('Bulk Import Users from Excel', () => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin('sqlite');
  });
  afterAll(() => t?.close());

  it('imports the template filled in, from its Users sheet', async () => {
    const template = await t.call(t.owner, 'GET', '/api/v1/users/template?format=xlsx');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(template.rawPayload as unknown as ArrayBuffer);
    const ws = wb.getWorksheet('Users')!;
    ws.addRow(['xl1', '', 'xl1@corp.example', 'Excel One', '', 'A;B', 'Local', 'xl1@appleid.example.com']);
    ws.addRow(['xl2', '', 'xl2@corp.example', { richText: [{ text: 'Excel ' }, { text: 'Two' }] }, '', '', '', 'not valid']);
    const buf = Buffer.from(await wb.xlsx.writeBuffer());
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'filled.xlsx', buf)).json().id);
    expect(job).toMatchObject({ status: 'succeeded', counts: { created: 1, failed: 2 } }); // xl1; the example row and xl2 fail
    const codes = (await t.call(t.owner, 'GET', `/api/v1/jobs/${job.id}/results?failed=true`)).body;
    expect(codes).toContain('TEMPLATE_EXAMPLE');
    const xl1 = (await t.call(t.owner, 'GET', '/api/v1/users?q=xl1')).json().items[0];
    expect(xl1).toMatchObject({ fullName: 'Excel One', groups: ['A', 'B'], managedAppleId: 'xl1@appleid.example.com' });
  });

  it('fails a job whose .xlsx is not a workbook, changing nothing (BAD-INPUTS 30)', async () => {
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'fake.xlsx', 'Username\nx\n')).json().id);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'FILE_TYPE_INVALID' } });
  });
});
