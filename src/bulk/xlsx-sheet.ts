/**
 * A streaming reader for one worksheet of an .xlsx file (DESIGN.md "File formats"; BAD-INPUTS.md
 * §1.2): the zip is opened with yauzl, the workbook, its relationships, the shared strings and the
 * styles are read whole (they are small next to the sheet, and the pre-check has bounded them), then
 * the sheet's XML is inflated and scanned chunk by chunk, and the rows of each chunk are yielded as
 * text while the next chunk waits. Only what row reading needs is understood: cell values, their types, and which
 * styles are dates. The caller (`readXlsxRows`) decides what a header, a limit or an empty row means.
 *
 * The XML scanner is hand-written rather than a general SAX parser because the sheet is the hot path:
 * it finds tags with `indexOf`, reads only the attributes it needs, and decodes text only inside the
 * elements it keeps. It decodes the five predefined entities and character references, normalises
 * line ends as XML requires, and refuses a DOCTYPE (the pre-check already has).
 */
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { AppError } from '../errors.js';

export interface SheetRow {
  /** The row number a spreadsheet shows. */
  row: number;
  /**
   * The cells by column (A is 0), as text; missing cells are '', except that a gap of more than
   * 1,024 missing cells is left as holes (as exceljs' rows had them: read them as `cells[i] ?? ''`).
   * The last cell is never ''.
   */
  cells: string[];
}

export interface SheetReadOptions {
  /** The most characters of shared strings held in memory (the pre-check's inflated-bytes cap bounds them first). */
  maxSharedStringChars?: number;
}

/** Excel's last column, XFD. */
const EXCEL_COLUMNS = 16_384;
const DEFAULT_MAX_SHARED_CHARS = 256 * 1024 * 1024;
/** The workbook, its relationships and the styles are read whole; each is far smaller than this. */
const MAX_SMALL_PART_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 10_000;
const INFLATE_CHUNK = 128 * 1024;
/** Wider gaps between cells are left as holes (see `SheetRow`). */
const MAX_FILLED_GAP = 1024;
const WORKBOOK = 'xl/workbook.xml';
const WORKBOOK_RELS = 'xl/_rels/workbook.xml.rels';

const damaged = (why: string) => new AppError('FILE_TYPE_INVALID', `This .xlsx file is damaged: ${why}`, { line: null });
const malformed = (part: string, why: string) => damaged(`${part} is not well-formed XML (${why})`);

// ---------------------------------------------------------------------------------------------
// XML text

function entity(name: string, part: string): string {
  switch (name) {
    case 'lt':
      return '<';
    case 'gt':
      return '>';
    case 'amp':
      return '&';
    case 'quot':
      return '"';
    case 'apos':
      return "'";
  }
  let code = NaN;
  if (/^#x[0-9a-fA-F]{1,6}$/.test(name)) code = parseInt(name.slice(2), 16);
  else if (/^#[0-9]{1,7}$/.test(name)) code = parseInt(name.slice(1), 10);
  const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
  if (!allowed) throw malformed(part, `unknown entity &${name.slice(0, 12)};`);
  return String.fromCodePoint(code);
}

/** Decodes entities and character references; `\r\n` and a lone `\r` become `\n` first, as in any XML parser. */
function decodeXml(raw: string, part: string): string {
  let s = raw;
  if (s.indexOf('\r') >= 0) s = s.replace(/\r\n?/g, '\n');
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 12) throw malformed(part, 'a bare "&"');
    out += s.slice(from, amp) + entity(s.slice(amp + 1, semi), part);
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

/** An attribute value: whitespace characters become spaces (XML attribute-value normalisation), then entities are decoded. */
function decodeAttr(raw: string, part: string): string {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 38 || c === 9 || c === 10 || c === 13) return decodeXml(raw.replace(/\r\n?|[\t\n]/g, ' '), part);
  }
  return raw;
}

/** Excel writes characters XML cannot hold (and a literal `_x`) as `_xHHHH_` in strings (ECMA-376 ST_Xstring). */
function unescapeXstring(s: string): string {
  if (s.indexOf('_x') < 0) return s;
  return s.replace(/_x([0-9A-Fa-f]{4})_/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const isLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
/** Letters, digits, `:`, `_`, `-` and `.` (enough for the attribute names of a cell). */
const isNameChar = (c: number) => isLetter(c) || (c >= 48 && c <= 58) || c === 95 || c === 45 || c === 46;

interface AttrAt {
  nameStart: number;
  nameEnd: number;
  /** The value, between its quotes, not decoded. */
  from: number;
  to: number;
}

/**
 * Finds the attribute at or after `i` in a start tag's attribute text (which ends at `n`), writes
 * where its name and value are into `at`, and returns where to look for the next one; -1 when there
 * is none (scanning stops quietly at anything that is not `name="value"` or `name='value'`).
 */
function nextAttr(a: string, i: number, n: number, at: AttrAt): number {
  while (i < n && isSpace(a.charCodeAt(i))) i++;
  if (i >= n) return -1;
  let eq = i;
  while (eq < n && a.charCodeAt(eq) !== 61) eq++;
  if (eq >= n) return -1;
  let nameEnd = eq;
  while (nameEnd > i && isSpace(a.charCodeAt(nameEnd - 1))) nameEnd--;
  let q = eq + 1;
  while (q < n && isSpace(a.charCodeAt(q))) q++;
  const quote = a.charCodeAt(q);
  if (quote !== 34 && quote !== 39) return -1;
  const close = a.indexOf(quote === 34 ? '"' : "'", q + 1);
  if (close < 0 || close >= n) return -1;
  at.nameStart = i;
  at.nameEnd = nameEnd;
  at.from = q + 1;
  at.to = close;
  return close + 1;
}

/** Whether s[from, to) holds an `&` (indexOf would look past `to`). */
function hasAmp(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (s.charCodeAt(k) === 38) return true;
  return false;
}

/** Whether text needs no decoding: no entity or character reference, no carriage return. */
function isVerbatim(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 38 || c === 13) return false;
  }
  return true;
}

/** The attributes of a start tag (the text between its name and `>`), by qualified name, decoded. */
function attributes(a: string, part: string): Map<string, string> {
  const out = new Map<string, string>();
  const at: AttrAt = { nameStart: 0, nameEnd: 0, from: 0, to: 0 };
  for (let i = nextAttr(a, 0, a.length, at); i >= 0; i = nextAttr(a, i, a.length, at)) out.set(a.slice(at.nameStart, at.nameEnd), decodeAttr(a.slice(at.from, at.to), part));
  return out;
}

/** The value of the attribute whose local name is `local` and which has a namespace prefix (as `r:id`). */
function prefixedAttr(attrs: Map<string, string>, local: string): string | undefined {
  for (const [k, v] of attrs) if (k.endsWith(`:${local}`)) return v;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The scanner

/**
 * A forgiving, streaming XML tokenizer: start tags, end tags, and the text of the elements a
 * subclass asks for by setting `capture`. Tags are reported as places in the current buffer (no
 * strings are made for them), with the element name's namespace prefix left out. Comments and
 * processing instructions are skipped; CDATA is text.
 */
abstract class XmlScanner {
  /** While true, text is decoded and passed to `text`. */
  protected capture = false;
  private carry = '';
  private pending: string[] = [];
  private pendingChars = 0;
  private retryAt = 0;
  private decoder: TextDecoder | null = null;

  constructor(readonly part: string) {}

  /**
   * A start tag: its local name is s[name, nameEnd), its attribute text s[attrs, attrsEnd), and its
   * content starts at `content` (-1 for a self-closing tag, which is then closed). A subclass may
   * read the content and the end tag itself and return where scanning goes on; else it returns -1.
   */
  protected abstract openAt(s: string, name: number, nameEnd: number, attrs: number, attrsEnd: number, content: number): number;
  protected abstract closeAt(s: string, name: number, nameEnd: number): void;
  protected abstract text(t: string): void;

  writeBytes(chunk: Buffer): void {
    if (!this.decoder) {
      const enc = chunk[0] === 0xff && chunk[1] === 0xfe ? 'utf-16le' : chunk[0] === 0xfe && chunk[1] === 0xff ? 'utf-16be' : 'utf-8';
      this.decoder = new TextDecoder(enc);
    }
    this.write(this.decoder.decode(chunk, { stream: true }));
  }

  write(chunk: string): void {
    if (this.carry) {
      // An unfinished construct waits until the text after it has at least doubled, so a long one is
      // rescanned a logarithmic number of times, not once per chunk.
      this.pending.push(chunk);
      this.pendingChars += chunk.length;
      if (this.carry.length + this.pendingChars < this.retryAt) return;
      // join() makes one flat string; `carry + chunk` would make a rope, slower to read char by char.
      this.pending.unshift(this.carry);
      chunk = this.pending.join('');
      this.carry = '';
      this.pending = [];
      this.pendingChars = 0;
    }
    this.scan(chunk, false);
  }

  end(): void {
    const rest = this.carry + this.pending.join('') + (this.decoder ? this.decoder.decode() : '');
    this.carry = '';
    this.pending = [];
    if (rest) this.scan(rest, true);
  }

  /** An unfinished construct at the end of the text: refused at the end of the part, else -1 (wait for more). */
  protected unfinished(final: boolean, what: string): number {
    if (final) throw malformed(this.part, `it ends inside ${what}`);
    return -1;
  }

  /** Where a name's local part starts (after any `prefix:`). */
  private localStart(s: string, from: number, to: number): number {
    for (let k = to - 1; k >= from; k--) if (s.charCodeAt(k) === 58) return k + 1;
    return from;
  }

  private scan(s: string, final: boolean): void {
    const n = s.length;
    let i = 0;
    while (i < n) {
      const lt = s.indexOf('<', i);
      if (lt < 0) {
        if (this.capture) {
          // Keep an entity or a `\r` cut by the chunk's end for the next chunk.
          let cut = n;
          if (!final) {
            let amp = -1;
            for (let k = n - 1; k >= i && k >= n - 12; k--) {
              if (s.charCodeAt(k) === 38) {
                amp = k;
                break;
              }
            }
            if (amp >= 0 && s.indexOf(';', amp) < 0) cut = amp;
            else if (s.charCodeAt(n - 1) === 13) cut = n - 1;
          }
          if (cut > i) this.text(decodeXml(s.slice(i, cut), this.part));
          if (cut < n) {
            this.carry = s.slice(cut);
            this.retryAt = 0;
          }
        }
        return;
      }
      if (lt > i && this.capture) this.text(decodeXml(s.slice(i, lt), this.part));
      const next = this.markup(s, lt, final);
      if (next < 0) {
        this.carry = s.slice(lt);
        this.retryAt = 2 * this.carry.length;
        return;
      }
      i = next;
    }
  }

  /** Reads the markup starting at s[lt] (a `<`); returns where the text after it starts, or -1 when it is unfinished. */
  protected markup(s: string, lt: number, final: boolean): number {
    const n = s.length;
    if (lt + 1 >= n) return this.unfinished(final, 'a tag');
    const next = s.charCodeAt(lt + 1);
    if (next === 47) {
      // </name>
      const gt = s.indexOf('>', lt + 2);
      if (gt < 0) return this.unfinished(final, 'a tag');
      let e = gt;
      while (e > lt + 2 && isSpace(s.charCodeAt(e - 1))) e--;
      this.closeAt(s, this.localStart(s, lt + 2, e), e);
      return gt + 1;
    }
    if (next === 63) {
      // <?pi ?>
      const e = s.indexOf('?>', lt + 2);
      return e < 0 ? this.unfinished(final, 'a processing instruction') : e + 2;
    }
    if (next === 33) {
      if (s.startsWith('<!--', lt)) {
        const e = s.indexOf('-->', lt + 4);
        return e < 0 ? this.unfinished(final, 'a comment') : e + 3;
      }
      if (s.startsWith('<![CDATA[', lt)) {
        const e = s.indexOf(']]>', lt + 9);
        if (e < 0) return this.unfinished(final, 'a CDATA section');
        if (this.capture) this.text(s.slice(lt + 9, e).replace(/\r\n?/g, '\n'));
        return e + 3;
      }
      if (n - lt < 9) return this.unfinished(final, 'a declaration');
      throw malformed(this.part, /^<!DOCTYPE/i.test(s.slice(lt, lt + 9)) ? 'it declares a DOCTYPE' : 'an unknown "<!" declaration');
    }
    // <name attrs> or <name attrs/>; a '>' inside a quoted attribute value does not end the tag.
    let j = lt + 1;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === 62 || c === 47 || isSpace(c)) break;
      j++;
    }
    let k = j;
    let quote = 0;
    for (; k < n; k++) {
      const c = s.charCodeAt(k);
      if (quote) {
        if (c === quote) quote = 0;
      } else if (c === 62) break;
      else if (c === 34 || c === 39) quote = c;
    }
    if (k >= n) return this.unfinished(final, 'a tag');
    if (j === lt + 1) throw malformed(this.part, 'a tag without a name');
    const selfClosing = s.charCodeAt(k - 1) === 47;
    const name = this.localStart(s, lt + 1, j);
    const resume = this.openAt(s, name, j, j, selfClosing ? k - 1 : k, selfClosing ? -1 : k + 1);
    if (selfClosing) this.closeAt(s, name, j);
    return resume >= 0 ? resume : k + 1;
  }
}

/** Whether s[from, to) is `name`. */
const named = (s: string, from: number, to: number, name: string) => to - from === name.length && s.startsWith(name, from);

/** A scanner for the small parts, given names and attribute text as strings. */
abstract class SimpleScanner extends XmlScanner {
  protected abstract open(name: string, attrs: string): void;
  protected abstract close(name: string): void;
  protected openAt(s: string, name: number, nameEnd: number, attrs: number, attrsEnd: number): number {
    this.open(s.slice(name, nameEnd), s.slice(attrs, attrsEnd));
    return -1;
  }
  protected closeAt(s: string, name: number, nameEnd: number): void {
    this.close(s.slice(name, nameEnd));
  }
}

// ---------------------------------------------------------------------------------------------
// The small parts

class WorkbookScanner extends SimpleScanner {
  date1904 = false;
  /** Sheet name → relationship id. */
  readonly sheets = new Map<string, string>();
  protected open(name: string, a: string): void {
    if (name === 'workbookPr') {
      const v = attributes(a, this.part).get('date1904');
      this.date1904 = v === '1' || v === 'true';
    } else if (name === 'sheet') {
      const attrs = attributes(a, this.part);
      const sheetName = attrs.get('name');
      const id = prefixedAttr(attrs, 'id');
      if (sheetName !== undefined && id !== undefined && !this.sheets.has(sheetName)) this.sheets.set(sheetName, id);
    }
  }
  protected close(): void {}
  protected text(): void {}
}

interface Relationship {
  type: string;
  target: string;
}

class RelsScanner extends SimpleScanner {
  readonly rels = new Map<string, Relationship>();
  protected open(name: string, a: string): void {
    if (name !== 'Relationship') return;
    const attrs = attributes(a, this.part);
    const id = attrs.get('Id');
    const target = attrs.get('Target');
    if (id === undefined || target === undefined || attrs.get('TargetMode') === 'External') return;
    this.rels.set(id, { type: attrs.get('Type') ?? '', target });
  }
  protected close(): void {}
  protected text(): void {}
}

/** Built-in number formats that show a date or a time (14–22, 45–47; 27–36 and 50–58 in East Asian locales). */
function builtInDate(id: number): boolean {
  return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) || (id >= 50 && id <= 58);
}

/** Whether a custom number format shows a date or a time: y, m, d, h or s outside quotes, brackets and escapes. */
export function isDateFormat(code: string): boolean {
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (c === '"') {
      const e = code.indexOf('"', i + 1);
      if (e < 0) return false;
      i = e;
    } else if (c === '[') {
      // [h], [mm] and [ss] are elapsed times; [Red], [$-409] and [>100] are not.
      const e = code.indexOf(']', i + 1);
      if (e < 0) return false;
      if (/^\[(h+|m+|s+)\]$/i.test(code.slice(i, e + 1))) return true;
      i = e;
    } else if (c === '\\' || c === '_' || c === '*') {
      i++; // the next character is literal, or padding
    } else if (c === ';') {
      return false; // the first section decides (the one for positive numbers)
    } else if ('yYmMdDhHsS'.includes(c)) {
      return true;
    }
  }
  return false;
}

class StylesScanner extends SimpleScanner {
  private readonly formats = new Map<number, string>();
  private readonly xfs: number[] = [];
  private inNumFmts = false;
  private inCellXfs = false;
  protected open(name: string, a: string): void {
    if (name === 'numFmts') this.inNumFmts = true;
    else if (name === 'cellXfs') this.inCellXfs = true;
    else if (name === 'numFmt' && this.inNumFmts) {
      const attrs = attributes(a, this.part);
      const id = Number(attrs.get('numFmtId'));
      const code = attrs.get('formatCode');
      if (Number.isInteger(id) && code !== undefined) this.formats.set(id, code);
    } else if (name === 'xf' && this.inCellXfs) {
      const id = Number(attributes(a, this.part).get('numFmtId') ?? 0);
      this.xfs.push(Number.isInteger(id) ? id : 0);
    }
  }
  protected close(name: string): void {
    if (name === 'numFmts') this.inNumFmts = false;
    else if (name === 'cellXfs') this.inCellXfs = false;
  }
  protected text(): void {}
  /** Per style index (a cell's `s`), whether the style shows a date. */
  dateStyles(): boolean[] {
    return this.xfs.map((id) => {
      const custom = this.formats.get(id);
      return custom !== undefined ? isDateFormat(custom) : builtInDate(id);
    });
  }
}

const PRESERVE = '<t xml:space="preserve">';

class SharedStringsScanner extends XmlScanner {
  readonly strings: string[] = [];
  private chars = 0;
  private inSi = false;
  private inRPh = false;
  private current = '';
  constructor(
    part: string,
    private readonly maxChars: number,
  ) {
    super(part);
  }
  protected openAt(s: string, name: number, nameEnd: number, _attrs: number, _attrsEnd: number, content: number): number {
    if (named(s, name, nameEnd, 't')) {
      this.capture = this.inSi && !this.inRPh;
    } else if (named(s, name, nameEnd, 'si')) {
      this.inSi = true;
      this.inRPh = false;
      this.current = '';
      if (content >= 0) return this.simpleSi(s, content);
    } else if (named(s, name, nameEnd, 'rPh')) {
      // Phonetic hints (furigana) are not part of the cell's text.
      this.inRPh = true;
      this.capture = false;
    }
    return -1;
  }
  /**
   * The common string, read at once: `<t>text</t></si>` (or `<t xml:space="preserve">`) with plain
   * text right after `<si>`. Returns where scanning goes on, or -1 to read it tag by tag.
   */
  private simpleSi(s: string, content: number): number {
    let from: number;
    if (s.startsWith('<t>', content)) from = content + 3;
    else if (s.startsWith(PRESERVE, content)) from = content + PRESERVE.length;
    else return -1;
    const lt = s.indexOf('<', from);
    if (lt < 0 || !s.startsWith('</t></si>', lt)) return -1;
    if (!isVerbatim(s, from, lt)) return -1;
    this.current = s.slice(from, lt);
    this.endSi();
    return lt + 9;
  }
  private endSi(): void {
    this.inSi = false;
    this.chars += this.current.length;
    if (this.chars > this.maxChars) throw new AppError('FILE_TOO_LARGE', `The workbook's shared strings hold more than ${this.maxChars.toLocaleString('en')} characters (the limit)`, { line: null });
    this.strings.push(unescapeXstring(this.current));
    this.current = '';
  }
  protected closeAt(s: string, name: number, nameEnd: number): void {
    if (named(s, name, nameEnd, 't')) this.capture = false;
    else if (named(s, name, nameEnd, 'rPh')) this.inRPh = false;
    else if (named(s, name, nameEnd, 'si')) this.endSi();
  }
  protected text(t: string): void {
    this.current += t;
  }
}

// ---------------------------------------------------------------------------------------------
// Cell values

const DAY_MS = 86_400_000;

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/T00:00:00\.000Z$/, '');
}

/**
 * An Excel date serial as ISO text: `2024-01-31`, or the full instant (`toISOString`)
 * when there is a time. The 1900 system keeps Lotus' leap-year bug: serial 60 is 29 February 1900,
 * a day that never was (given as that text), and serials before it are one day later than the count
 * from 30 December 1899 says. A serial Excel cannot show as a date stays a number.
 */
export function excelDateText(serial: number, date1904: boolean): string {
  if (!Number.isFinite(serial) || serial < 0 || serial >= 2_958_466) return numberText(serial);
  if (date1904) return isoOf(Math.round((serial - 24_107) * DAY_MS));
  if (serial >= 61) return isoOf(Math.round((serial - 25_569) * DAY_MS));
  if (serial >= 60) return isoOf(Math.round((serial + 1 - 25_569) * DAY_MS)).replace(/^1900-03-01/, '1900-02-29');
  return isoOf(Math.round((serial - 25_568) * DAY_MS));
}

/** A number as text: integers as they are, others to 15 significant digits (what Excel shows). */
function numberText(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(15)));
}

/** A `t="d"` cell: ISO 8601 text; a date and time without a zone is taken as UTC, as Excel has no zones. */
function isoCellText(v: string): string {
  const s = v.trim();
  const m = /^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(s);
  if (!m) return s;
  const ms = Date.parse(m[2] && !m[3] ? `${s}Z` : s);
  return Number.isNaN(ms) ? s : isoOf(ms);
}

// ---------------------------------------------------------------------------------------------
// The sheet

const NO_TYPE = 0;
const T_SHARED = 1;
const T_INLINE = 2;
const T_STR = 3;
const T_BOOL = 4;
const T_ERROR = 5;
const T_DATE = 6;

function cellType(v: string, from: number, to: number): number {
  const len = to - from;
  if (len === 1) {
    switch (v.charCodeAt(from)) {
      case 115: // s
        return T_SHARED;
      case 98: // b
        return T_BOOL;
      case 101: // e
        return T_ERROR;
      case 100: // d
        return T_DATE;
    }
    return NO_TYPE;
  }
  if (len === 3 && v.startsWith('str', from)) return T_STR;
  if (len === 9 && v.startsWith('inlineStr', from)) return T_INLINE;
  return NO_TYPE;
}

class SheetScanner extends XmlScanner {
  /** Rows finished since the caller last took them. */
  rows: SheetRow[] = [];
  private inSheetData = false;
  private lastRow = 0;
  private cells: string[] | null = null;
  private rowNumber = 0;
  private nextCol = 0;
  // The cell being read.
  private inCell = false;
  private col = 0;
  private type = NO_TYPE;
  private style = 0;
  private v: string | null = null;
  private inV = false;
  private inlineText: string | null = null;
  private inIs = false;
  private inRPh = false;
  private readonly at: AttrAt = { nameStart: 0, nameEnd: 0, from: 0, to: 0 };

  constructor(
    part: string,
    private readonly shared: string[],
    private readonly dateStyles: boolean[],
    private readonly date1904: boolean,
  ) {
    super(part);
  }

  protected openAt(s: string, name: number, nameEnd: number, attrs: number, attrsEnd: number, content: number): number {
    const len = nameEnd - name;
    const c0 = s.charCodeAt(name);
    if (len === 1) {
      if (c0 === 99) {
        // c
        if (this.cells) {
          this.openCell(s, attrs, attrsEnd);
          if (content >= 0) return this.simpleCell(s, content);
        }
      } else if (c0 === 118) {
        // v
        if (this.inCell) {
          this.inV = true;
          this.v = '';
          this.capture = true;
        }
      } else if (c0 === 116) {
        // t
        if (this.inIs && !this.inRPh) this.capture = true;
      }
    } else if (len === 3 && c0 === 114 && s.startsWith('row', name)) {
      if (this.inSheetData) this.openRow(s, attrs, attrsEnd);
    } else if (len === 2 && c0 === 105 && s.charCodeAt(name + 1) === 115) {
      // is
      if (this.inCell) {
        this.inIs = true;
        this.inRPh = false;
        this.inlineText = '';
      }
    } else if (named(s, name, nameEnd, 'rPh')) {
      this.inRPh = true;
      this.capture = false;
    } else if (named(s, name, nameEnd, 'sheetData')) {
      this.inSheetData = true;
    }
    return -1;
  }

  /**
   * The common cell, read at once: `<v>text</v></c>` with plain text (no markup, entity or CR) right
   * after the start tag. Returns where scanning goes on, or -1 to read the cell tag by tag.
   */
  private simpleCell(s: string, content: number): number {
    if (!s.startsWith('<v>', content)) return -1;
    const from = content + 3;
    const lt = s.indexOf('<', from);
    if (lt < 0 || !s.startsWith('</v></c>', lt)) return -1;
    if (this.type === T_SHARED) {
      // The index is read in place.
      const i = this.digits(s, from, lt);
      if (i < 0) return -1;
      this.inCell = false;
      if (i < this.shared.length) this.store(this.shared[i]!);
      return lt + 8;
    }
    if (!isVerbatim(s, from, lt)) return -1;
    this.v = s.slice(from, lt);
    this.closeCell();
    return lt + 8;
  }

  protected closeAt(s: string, name: number, nameEnd: number): void {
    const len = nameEnd - name;
    const c0 = s.charCodeAt(name);
    if (len === 1) {
      if (c0 === 118) {
        this.inV = false;
        this.capture = false;
      } else if (c0 === 99) {
        if (this.inCell) this.closeCell();
      } else if (c0 === 116) {
        if (!this.inV) this.capture = false;
      }
    } else if (len === 3 && c0 === 114 && s.startsWith('row', name)) {
      if (this.cells) {
        this.rows.push({ row: this.rowNumber, cells: this.cells });
        this.cells = null;
      }
    } else if (len === 2 && c0 === 105 && s.charCodeAt(name + 1) === 115) {
      this.inIs = false;
    } else if (named(s, name, nameEnd, 'rPh')) {
      this.inRPh = false;
    } else if (named(s, name, nameEnd, 'sheetData')) {
      this.inSheetData = false;
    }
  }

  protected text(t: string): void {
    if (this.inV) this.v += t;
    else this.inlineText += t;
  }

  private openRow(a: string, start: number, end: number): void {
    let r = -1;
    const at = this.at;
    for (let i = nextAttr(a, start, end, at); i >= 0; i = nextAttr(a, i, end, at)) {
      if (at.nameEnd - at.nameStart === 1 && a.charCodeAt(at.nameStart) === 114) r = this.digits(a, at.from, at.to);
    }
    this.rowNumber = r >= 1 ? r : this.lastRow + 1;
    this.lastRow = this.rowNumber;
    this.cells = [];
    this.nextCol = 0;
  }

  private openCell(a: string, start: number, end: number): void {
    // The attributes r, t and s, read in place: this runs for every cell.
    let col = -1;
    let type = NO_TYPE;
    let style = 0;
    const at = this.at;
    for (let i = nextAttr(a, start, end, at); i >= 0; i = nextAttr(a, i, end, at)) {
      if (at.nameEnd - at.nameStart !== 1) continue;
      let v = a;
      let from = at.from;
      let to = at.to;
      if (hasAmp(a, from, to)) {
        v = decodeAttr(a.slice(from, to), this.part);
        from = 0;
        to = v.length;
      }
      const name = a.charCodeAt(at.nameStart);
      if (name === 114) col = this.column(v, from, to);
      else if (name === 116) type = cellType(v, from, to);
      else if (name === 115) style = Math.max(0, this.digits(v, from, to));
    }
    this.beginCell(col, type, style);
  }

  /** A cell starts: in column `col` (-1: the one after the last). */
  private beginCell(col: number, type: number, style: number): void {
    if (col < 0) {
      col = this.nextCol;
      if (col >= EXCEL_COLUMNS) throw new AppError('FILE_TYPE_INVALID', `The sheet has a cell beyond Excel's last column (row ${this.rowNumber}, column ${col + 1})`, { line: null });
    }
    this.nextCol = col + 1;
    this.col = col;
    this.type = type;
    this.style = style;
    this.v = null;
    this.inlineText = null;
    this.inIs = false;
    this.inRPh = false;
    this.inV = false;
    this.inCell = true;
  }

  /**
   * The cell start tag as Excel and most writers put it, `<c r="B2" s="1" t="s">`, read in one pass
   * (attributes in double quotes, no entities); anything else is read by the general path.
   */
  protected markup(s: string, lt: number, final: boolean): number {
    if (this.cells !== null && s.charCodeAt(lt + 1) === 99 && s.charCodeAt(lt + 2) === 32) {
      const next = this.cellTag(s, lt + 3);
      if (next >= 0) return next;
    }
    return super.markup(s, lt, final);
  }

  private cellTag(s: string, k: number): number {
    const n = s.length;
    let col = -1;
    let type = NO_TYPE;
    let style = 0;
    for (;;) {
      while (k < n && s.charCodeAt(k) === 32) k++;
      if (k + 2 >= n) return -1;
      const name = s.charCodeAt(k);
      if (name === 62) break;
      // name="value"; r, t and s are read, others (cm, vm, ph, x14ac:…) skipped.
      if (!isLetter(name)) return -1;
      let eq = k + 1;
      while (eq < n && isNameChar(s.charCodeAt(eq))) eq++;
      if (s.charCodeAt(eq) !== 61 || s.charCodeAt(eq + 1) !== 34) return -1;
      const from = eq + 2;
      const to = s.indexOf('"', from);
      if (to < 0 || hasAmp(s, from, to)) return -1;
      if (eq === k + 1) {
        if (name === 114) col = this.column(s, from, to);
        else if (name === 116) type = cellType(s, from, to);
        else if (name === 115) {
          style = this.digits(s, from, to);
          if (style < 0) return -1;
        }
      }
      k = to + 1;
    }
    // A self-closing `<c .../>` ends with '/', which is not an attribute: it took the general path.
    this.beginCell(col, type, style);
    const content = k + 1;
    const after = this.simpleCell(s, content);
    return after >= 0 ? after : content;
  }

  /** The column index of a cell reference (`B7` → 1), or -1 when it has no letters. */
  private column(v: string, from: number, to: number): number {
    let acc = 0;
    let k = from;
    for (; k < to; k++) {
      let c = v.charCodeAt(k);
      if (c >= 97 && c <= 122) c -= 32;
      if (c < 65 || c > 90) break;
      acc = acc * 26 + (c - 64);
      if (acc > EXCEL_COLUMNS) throw new AppError('FILE_TYPE_INVALID', `The sheet has a cell beyond Excel's last column (${v.slice(from, Math.min(to, from + 24))})`, { line: null });
    }
    return k > from ? acc - 1 : -1;
  }

  /** A non-negative integer, or -1 when the text is not one. */
  private digits(v: string, from: number, to: number): number {
    if (to <= from) return -1;
    let n = 0;
    for (let k = from; k < to; k++) {
      const c = v.charCodeAt(k);
      if (c < 48 || c > 57) return -1;
      n = n * 10 + (c - 48);
    }
    return n;
  }

  private closeCell(): void {
    this.inCell = false;
    this.capture = false;
    this.store(this.value());
  }

  private store(value: string): void {
    if (value === '') return;
    const cells = this.cells!;
    const col = this.col;
    const had = cells.length;
    if (col < had) cells[col] = value;
    else {
      // A wide gap (a cell far to the right, as far as XFD) is left as holes, which cost nothing
      // (readers of rows take a hole as ''); a narrow one is filled.
      if (col - had <= MAX_FILLED_GAP) for (let c = had; c < col; c++) cells.push('');
      cells[col] = value;
    }
  }

  private value(): string {
    const v = this.v;
    switch (this.type) {
      case T_SHARED: {
        if (v === null) return '';
        const i = Number(v);
        return Number.isInteger(i) && i >= 0 && i < this.shared.length ? this.shared[i]! : '';
      }
      case T_INLINE:
        if (this.inlineText !== null) return unescapeXstring(this.inlineText);
        return v === null ? '' : unescapeXstring(v);
      case T_STR:
        return v === null ? '' : unescapeXstring(v);
      case T_BOOL: {
        if (v === null) return '';
        const b = v.trim();
        return b === '' ? '' : b === '0' || b.toLowerCase() === 'false' ? 'FALSE' : 'TRUE';
      }
      case T_ERROR:
        return '';
      case T_DATE:
        return v === null ? '' : isoCellText(v);
    }
    if (v === null) return this.inlineText === null ? '' : unescapeXstring(this.inlineText);
    const n = parseFloat(v);
    if (Number.isNaN(n)) return v.trim();
    return this.dateStyles[this.style] ? excelDateText(n, this.date1904) : numberText(n);
  }
}

// ---------------------------------------------------------------------------------------------
// The zip

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: false }, (e, z) => (e ? reject(damaged(e.message)) : resolve(z!))),
  );
}

function listEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, yauzl.Entry>();
    zip.on('error', (e: Error) => reject(damaged(e.message)));
    zip.on('end', () => resolve(entries));
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entries.size >= MAX_ENTRIES) return reject(damaged('too many parts'));
      if (!entry.fileName.endsWith('/')) entries.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.readEntry();
  });
}

/** A part's bytes, inflated here rather than by yauzl: its 16 KiB steps cost more than the inflating. */
function openStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, { decompress: false }, (e, raw) => {
      if (e || !raw) return reject(damaged(e?.message ?? `unreadable part ${entry.fileName}`));
      if (entry.compressionMethod === 0) return resolve(raw);
      if (entry.compressionMethod !== 8) {
        raw.destroy();
        return reject(damaged(`the part ${entry.fileName} uses compression method ${entry.compressionMethod}`));
      }
      const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK });
      raw.on('error', (err) => inflate.destroy(err));
      inflate.on('close', () => raw.destroy());
      resolve(raw.pipe(inflate));
    }),
  );
}

/** Finds a part by name; OPC part names are case-insensitive. */
function findEntry(entries: Map<string, yauzl.Entry>, name: string): yauzl.Entry | undefined {
  const exact = entries.get(name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  for (const [k, e] of entries) if (k.toLowerCase() === lower) return e;
  return undefined;
}

/** Feeds a whole part to a scanner. */
async function scanPart(zip: yauzl.ZipFile, entry: yauzl.Entry, scanner: XmlScanner, maxBytes: number): Promise<void> {
  const stream = await openStream(zip, entry);
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new AppError('FILE_TOO_LARGE', `The workbook part ${entry.fileName} inflates to more than ${maxBytes.toLocaleString('en')} bytes`, { line: null });
      scanner.writeBytes(chunk);
    }
    scanner.end();
  } finally {
    stream.destroy();
  }
}

/** A relationship's target as a part name: relative to `xl/`, or absolute from the package root. */
export function resolveTarget(target: string, baseDir = 'xl'): string {
  const t = target.replace(/\\/g, '/');
  const parts = t.startsWith('/') ? [] : baseDir.split('/').filter(Boolean);
  for (const seg of t.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

const relOfType = (rels: Map<string, Relationship>, suffix: string) => [...rels.values()].find((r) => r.type.endsWith(suffix));

const asDamaged = (e: unknown) => (e instanceof AppError ? e : damaged((e as Error)?.message ?? String(e)));

/**
 * The rows of the named sheet, in the order the sheet holds them, as text (see `SheetRow`), in
 * batches: the rows finished by each inflated chunk of the sheet (never an empty batch), which
 * saves an async step per row. Closing the generator early closes the file.
 */
export async function* readSheetRows(file: string, sheet: string, opts: SheetReadOptions = {}): AsyncGenerator<SheetRow[]> {
  const zip = await openZip(file);
  let stream: Readable | null = null;
  try {
    let scanner: SheetScanner;
    try {
      const entries = await listEntries(zip);
      const workbookEntry = findEntry(entries, WORKBOOK);
      if (!workbookEntry) throw damaged(`it has no ${WORKBOOK}`);
      const workbook = new WorkbookScanner(WORKBOOK);
      await scanPart(zip, workbookEntry, workbook, MAX_SMALL_PART_BYTES);
      const relsEntry = findEntry(entries, WORKBOOK_RELS);
      const rels = new RelsScanner(WORKBOOK_RELS);
      if (relsEntry) await scanPart(zip, relsEntry, rels, MAX_SMALL_PART_BYTES);

      const rId = workbook.sheets.get(sheet);
      if (rId === undefined) throw damaged(`it has no sheet named "${sheet}"`);
      const rel = rels.rels.get(rId);
      if (!rel) throw damaged(`the sheet "${sheet}" has no part (relationship ${rId})`);
      const sheetPart = resolveTarget(rel.target);
      const sheetEntry = findEntry(entries, sheetPart) ?? findEntry(entries, safeDecodeUri(sheetPart));
      if (!sheetEntry) throw damaged(`the part ${sheetPart} of the sheet "${sheet}" is missing`);

      let shared: string[] = [];
      const sstPart = relOfType(rels.rels, '/sharedStrings');
      const sstEntry = sstPart ? findEntry(entries, resolveTarget(sstPart.target)) : findEntry(entries, 'xl/sharedStrings.xml');
      if (sstEntry) {
        const sst = new SharedStringsScanner(sstEntry.fileName, opts.maxSharedStringChars ?? DEFAULT_MAX_SHARED_CHARS);
        await scanPart(zip, sstEntry, sst, Number.MAX_SAFE_INTEGER);
        shared = sst.strings;
      }
      let dateStyles: boolean[] = [];
      const stylesPart = relOfType(rels.rels, '/styles');
      const stylesEntry = stylesPart ? findEntry(entries, resolveTarget(stylesPart.target)) : findEntry(entries, 'xl/styles.xml');
      if (stylesEntry) {
        const styles = new StylesScanner(stylesEntry.fileName);
        await scanPart(zip, stylesEntry, styles, MAX_SMALL_PART_BYTES);
        dateStyles = styles.dateStyles();
      }
      scanner = new SheetScanner(sheetEntry.fileName, shared, dateStyles, workbook.date1904);
      stream = await openStream(zip, sheetEntry);
    } catch (e) {
      throw asDamaged(e);
    }

    // Rows are handed on chunk by chunk: the next inflated chunk is read only when the caller has
    // taken the rows of this one, so a sheet is never held whole.
    const chunks = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let done: boolean | undefined;
      try {
        const next = await chunks.next();
        done = next.done;
        if (done) scanner.end();
        else scanner.writeBytes(next.value);
      } catch (e) {
        throw asDamaged(e);
      }
      if (scanner.rows.length) {
        const rows = scanner.rows;
        scanner.rows = [];
        yield rows;
      }
      if (done) break;
    }
  } finally {
    try {
      stream?.destroy();
    } catch {
      // closing must not mask why reading stopped
    }
    zip.close();
  }
}

function safeDecodeUri(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The rows of a sheet's XML given in chunks, with the shared strings and styles given (for tests of the scanner). */
export function sheetRowsOfXml(chunks: Uint8Array[], opts: { shared?: string[]; dateStyles?: boolean[]; date1904?: boolean } = {}): SheetRow[] {
  const scanner = new SheetScanner('sheet.xml', opts.shared ?? [], opts.dateStyles ?? [], opts.date1904 ?? false);
  for (const c of chunks) scanner.writeBytes(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  scanner.end();
  return scanner.rows;
}
