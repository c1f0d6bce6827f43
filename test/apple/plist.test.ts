import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { APPLE_PLIST_DOCTYPE, parsePlist, PlistError, plistReal, toPlist, type PlistDict, type PlistValue } from '../../src/apple/plist.js';

const HEAD = `<?xml version="1.0" encoding="UTF-8"?>\n${APPLE_PLIST_DOCTYPE}\n`;
const doc = (body: string, head = HEAD) => Buffer.from(`${head}<plist version="1.0">${body}</plist>`);

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PlistError);
    return (e as PlistError).reason;
  }
  throw new Error('expected a PlistError');
}

/** Python's plistlib reads bytes and prints them back as JSON (data as base64, dates as ISO). */
function pythonReads(bytes: Buffer): unknown {
  const script = [
    'import sys, plistlib, json, base64, datetime',
    'def conv(v):',
    '  if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}',
    '  if isinstance(v, list): return [conv(x) for x in v]',
    "  if isinstance(v, bytes): return {'data': base64.b64encode(v).decode()}",
    "  if isinstance(v, datetime.datetime): return {'date': v.strftime('%Y-%m-%dT%H:%M:%SZ')}",
    "  if isinstance(v, float): return {'real': repr(v)}",
    '  return v',
    'print(json.dumps(conv(plistlib.loads(sys.stdin.buffer.read()))))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script], { input: bytes }).toString());
}

describe('parsePlist', () => {
  it("reads a check-in plist with Apple's DOCTYPE", () => {
    const v = parsePlist(
      doc(
        '<dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>com.apple.mgmt.External.x</string>' +
          '<key>N</key><integer>-42</integer><key>R</key><real>1.5e3</real><key>T</key><true/><key>F</key><false/>' +
          '<key>D</key><date>2024-02-29T12:00:01Z</date><key>B</key><data>\n  AAEC\n  /w==\n</data>' +
          '<key>A</key><array><string>a &amp; b &#x41;<![CDATA[<c>]]></string><array/></array><key>E</key><dict/></dict>',
      ),
    ) as PlistDict;
    expect(v.MessageType).toBe('Authenticate');
    expect(v.N).toBe(-42);
    expect(v.R).toBe(1500);
    expect(v.T).toBe(true);
    expect(v.F).toBe(false);
    expect(v.D).toEqual(new Date('2024-02-29T12:00:01Z'));
    expect(v.B).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(v.A).toEqual(['a & b A<c>', []]);
    expect(Object.keys(v.E as PlistDict)).toEqual([]);
  });

  it('keeps integers beyond 2^53 exact as bigint and refuses ones beyond 64 bits', () => {
    expect(parsePlist(doc('<integer>18446744073709551615</integer>'))).toBe(18446744073709551615n);
    expect(reason(() => parsePlist(doc('<integer>18446744073709551616</integer>')))).toBe('malformed');
  });

  it('leaves __proto__ keys harmless: null-prototype dicts, Object.prototype unchanged', () => {
    const v = parsePlist(
      doc('<dict><key>__proto__</key><dict><key>polluted</key><true/></dict><key>constructor</key><string>x</string><key>hasOwnProperty</key><integer>1</integer></dict>'),
    ) as PlistDict;
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect(Object.keys(v)).toEqual(['__proto__', 'constructor', 'hasOwnProperty']);
    expect((v['__proto__'] as PlistDict).polluted).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(v.constructor).toBe('x');
  });

  it('refuses any DOCTYPE but Apple’s, internal subsets and entities', () => {
    expect(reason(() => parsePlist(doc('<string>&x;</string>', '<!DOCTYPE plist [<!ENTITY x "boom">]>')))).toBe('entity');
    expect(reason(() => parsePlist(doc('<string/>', '<!DOCTYPE plist SYSTEM "file:///etc/passwd">')))).toBe('doctype');
    expect(reason(() => parsePlist(doc('<string/>', '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd" [<!ATTLIST plist a CDATA "x">]>')))).toBe('doctype');
    expect(reason(() => parsePlist(doc('<string/>', `${HEAD}${APPLE_PLIST_DOCTYPE}`)))).toBe('doctype');
    expect(reason(() => parsePlist(doc('<string>&foo;</string>')))).toBe('malformed');
    const billion = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><plist><string>&lol2;</string></plist>';
    expect(reason(() => parsePlist(Buffer.from(billion)))).toBe('entity');
  });

  it('refuses malformed XML and malformed plist values', () => {
    const bad: Array<[string, string]> = [
      ['<dict><key>a</key><string>x</dict>', 'malformed'],
      ['<dict><key>a</key></dict>', 'malformed'],
      ['<dict><key>a</key><true/><key>a</key><false/></dict>', 'malformed'],
      ['<dict><string>a</string><true/></dict>', 'malformed'],
      ['<integer>12abc</integer>', 'malformed'],
      ['<integer></integer>', 'malformed'],
      ['<real>1.2.3</real>', 'malformed'],
      ['<date>2024-02-30T00:00:00Z</date>', 'malformed'],
      ['<date>yesterday</date>', 'malformed'],
      ['<data>@@@@</data>', 'malformed'],
      ['<true>x</true>', 'malformed'],
      ['<script/>', 'malformed'],
      ['<string>a</string><string>b</string>', 'malformed'],
      ['text<string>a</string>', 'malformed'],
      ['<string>\u0001</string>', 'malformed'],
    ];
    for (const [body, why] of bad) expect(reason(() => parsePlist(doc(body))), body).toBe(why);
    expect(reason(() => parsePlist(Buffer.from('not xml at all')))).toBe('malformed');
    expect(reason(() => parsePlist(Buffer.from('<dict/>')))).toBe('malformed');
    expect(reason(() => parsePlist(Buffer.from([0x3c, 0x70, 0xff, 0xfe])))).toBe('encoding');
    expect(reason(() => parsePlist(Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><plist><string/></plist>')))).toBe('encoding');
  });

  it('refuses oversized bodies before parsing, at 1 MB or the caller’s smaller limit', () => {
    const big = doc(`<string>${'a'.repeat(1024 * 1024)}</string>`);
    expect(reason(() => parsePlist(big))).toBe('too_large');
    expect(reason(() => parsePlist(big, { maxBytes: 10 * 1024 * 1024 }))).toBe('too_large');
    expect(reason(() => parsePlist(doc('<string>abc</string>'), { maxBytes: 20 }))).toBe('too_large');
  });

  it('refuses deep nesting quickly', () => {
    const n = 50_000;
    const t = Date.now();
    expect(reason(() => parsePlist(doc('<array>'.repeat(n) + '</array>'.repeat(n))))).toBe('too_deep');
    expect(Date.now() - t).toBeLessThan(200);
  });
});

describe('toPlist', () => {
  it('writes integer and real apart, and plistlib reads every type back', () => {
    const bytes = toPlist({
      s: 'a & <b> \r\n "q" é 🍎',
      i: 8191,
      big: 2n ** 63n,
      r: 1.5,
      forced: plistReal(2),
      neg0: -0,
      yes: true,
      no: false,
      when: new Date('2030-01-02T03:04:05.678Z'),
      bytes: Buffer.from('hello'),
      list: [1, 'x', []],
      empty: {},
      skipped: undefined,
    });
    expect(bytes.toString()).toContain('<integer>8191</integer>');
    expect(bytes.toString()).toContain('<real>2.0</real>');
    expect(pythonReads(bytes)).toEqual({
      s: 'a & <b> \r\n "q" é 🍎',
      i: 8191,
      big: 9223372036854775808,
      r: { real: '1.5' },
      forced: { real: '2.0' },
      neg0: { real: '-0.0' },
      yes: true,
      no: false,
      when: { date: '2030-01-02T03:04:05Z' },
      bytes: { data: Buffer.from('hello').toString('base64') },
      list: [1, 'x', []],
      empty: {},
    });
  });

  it('keeps the characters only XML 1.1 takes for line ends, written or read (XML 1.0: CR LF and CR only)', () => {
    const text = 'a\u0085b\u2028c\u2029d\re\r\nf';
    const bytes = toPlist(text).toString('utf8');
    expect(bytes).toContain('a&#133;b&#8232;c&#8233;d&#13;e&#13;\nf');
    expect(parsePlist(toPlist(text))).toBe(text);
    // As another writer may leave them: literal, and a literal CR LF or CR is one line feed.
    expect(parsePlist(doc('<string>a\u0085b\u2028c\u2029d\r\ne\rf</string>'))).toBe('a\u0085b\u2028c\u2029d\ne\nf');
  });

  it('refuses what XML cannot carry', () => {
    expect(reason(() => toPlist('\u0000'))).toBe('unrepresentable');
    expect(reason(() => toPlist('\uD800'))).toBe('unrepresentable');
    expect(reason(() => toPlist(new Date(NaN)))).toBe('unrepresentable');
  });
});

// Values that survive the round trip exactly: XML-safe strings, whole-second dates, no -0 (an integer 0 comes back as 0).
const xmlChar = fc.string({ unit: 'binary' }).map((s) => s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '').replace(/[\uD800-\uDFFF]/g, ''));
const plistValue: fc.Arbitrary<PlistValue> = fc.letrec<{ v: PlistValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    xmlChar,
    fc.integer(),
    fc.double({ noDefaultInfinity: false }).filter((d) => !Object.is(d, -0) && !Number.isSafeInteger(d)),
    fc.boolean(),
    fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(xmlChar, fc.constant('__proto__')), tie('v')), { maxLength: 4 }).map((pairs) => {
      const d = Object.create(null) as PlistDict;
      for (const [k, v] of pairs) d[k] = v;
      return d;
    }),
  ),
})).v;

describe('round trip', () => {
  it('parsePlist(toPlist(v)) equals v', () => {
    fc.assert(
      fc.property(plistValue, (v) => {
        expect(parsePlist(toPlist(v))).toStrictEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  it('plistlib parses what toPlist writes', () => {
    const samples = fc.sample(plistValue, { numRuns: 40, seed: 7 });
    const bytes = toPlist(samples);
    expect(Array.isArray(pythonReads(bytes))).toBe(true);
  });
});
