/**
 * A streaming XLSX writer: the workbook's zip is written here, entry by entry, each deflated as it
 * goes (a data descriptor after it carries its CRC and sizes), so a sheet of a million rows is held
 * a batch at a time and the download sets the pace: the rows are asked for only as fast as the
 * client takes the bytes. (exceljs' streaming writer buffered the whole sheet: 900 MB for a million
 * users.) Cells are inline strings, never formulas; a header row can be bold on a coloured fill and
 * frozen, a title line bold and larger, and columns have widths.
 *
 * The zip is the plain format (no ZIP64): an entry stops at 4 GiB, far past what Excel opens.
 */
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { escapeXmlText } from '../core/xml.js';

export interface XlsxSheet {
  name: string;
  /** Column widths in characters, from column A. */
  widths: number[];
  /** Row 1's style: a header (bold, white on the brand colour, frozen in place) or a title (bold, larger). */
  first?: 'header' | 'title';
  rows: AsyncIterable<readonly (readonly string[])[]>;
}

const MAIN_NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const REL_NS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const DOC_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const MAX_ENTRY_BYTES = 0xffff_ffff;
/** zlib's level 3: as small as its default (6) on a sheet of users, in 60% of the time. */
const DEFLATE_LEVEL = 3;

/** Style ids of styles.xml's cellXfs: 0 plain, 1 header, 2 title. */
const STYLE = { header: 1, title: 2 } as const;

const STYLES =
  `${XML_HEAD}<styleSheet xmlns="${MAIN_NS}">` +
  '<fonts count="3"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>' +
  '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/><family val="2"/></font>' +
  '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font></fonts>' +
  '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>' +
  '<fill><patternFill patternType="solid"><fgColor rgb="FF0B7A6E"/><bgColor indexed="64"/></patternFill></fill></fills>' +
  '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
  '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
  '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
  '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>' +
  '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>' +
  '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>';

/** The column's letters: 0 → A, 26 → AA. */
export function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

// Characters XML 1.0 cannot hold, written as Excel writes them (`_xHHHH_`, ECMA-376 ST_Xstring),
// and a literal `_xHHHH_` escaped so that it reads back as itself; lone surrogates likewise.
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|_(?=x[0-9A-Fa-f]{4}_)/g;
const hex4 = (c: string) => `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`;

/** Text for an XML element (`escapeXmlText`), and what XML cannot hold as Excel escapes it. */
export function xmlText(s: string): string {
  const out = escapeXmlText(s);
  NOT_XML.lastIndex = 0;
  return NOT_XML.test(out) ? out.replace(NOT_XML, hex4) : out;
}

const attr = (s: string) => xmlText(s).replaceAll('"', '&quot;');

function rowXml(r: number, cells: readonly string[], letters: string[], style: number): string {
  let xml = `<row r="${r}">`;
  const s = style ? ` s="${style}"` : '';
  for (let c = 0; c < cells.length; c++) {
    const v = cells[c]!;
    if (v === '' && !style) continue; // an empty cell is no cell
    letters[c] ??= columnName(c);
    const space = v !== v.trim() || v.includes('\n') ? ' xml:space="preserve"' : '';
    xml += `<c r="${letters[c]}${r}" t="inlineStr"${s}><is><t${space}>${xmlText(v)}</t></is></c>`;
  }
  return xml + '</row>';
}

async function* sheetXml(sheet: XlsxSheet): AsyncGenerator<string> {
  const frozen = sheet.first === 'header' ? '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>' : '';
  const cols = sheet.widths.length ? `<cols>${sheet.widths.map((w, i) => `<col min="${i + 1}" max="${i + 1}" width="${w}" customWidth="1"/>`).join('')}</cols>` : '';
  yield `${XML_HEAD}<worksheet xmlns="${MAIN_NS}">${frozen}<sheetFormatPr defaultRowHeight="15"/>${cols}<sheetData>`;
  const letters: string[] = [];
  let r = 0;
  for await (const batch of sheet.rows) {
    let xml = '';
    for (const cells of batch) {
      r++;
      xml += rowXml(r, cells, letters, r === 1 && sheet.first ? STYLE[sheet.first] : 0);
      // Handed on in pieces of ~64 KB: a batch's text in one string is a large object to collect.
      if (xml.length >= 65536) {
        yield xml;
        xml = '';
      }
    }
    if (xml) yield xml;
  }
  yield '</sheetData></worksheet>';
}

/** The MS-DOS time and date of a zip header. */
function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

interface Entry {
  name: Buffer;
  offset: number;
  crc: number;
  compressed: number;
  size: number;
}

/** Writes zip entries to `out`, each deflated while its text arrives, with backpressure from `out`. */
class ZipWriter {
  private offset = 0;
  private readonly entries: Entry[] = [];
  private readonly stamp = dosTime(new Date());
  private readonly closed = new AbortController();

  constructor(private readonly out: PassThrough) {
    out.once('close', () => this.closed.abort());
  }

  private async put(b: Buffer): Promise<void> {
    this.offset += b.length;
    if (!this.out.write(b)) await once(this.out, 'drain', { signal: this.closed.signal });
  }

  async entry(path: string, text: AsyncIterable<string> | string): Promise<void> {
    const name = Buffer.from(path, 'utf8');
    const e: Entry = { name, offset: this.offset, crc: 0, compressed: 0, size: 0 };
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    head.writeUInt16LE(0x0808, 6); // sizes in a data descriptor; UTF-8 names
    head.writeUInt16LE(8, 8); // deflate
    head.writeUInt16LE(this.stamp.time, 10);
    head.writeUInt16LE(this.stamp.date, 12);
    head.writeUInt16LE(name.length, 26);
    await this.put(Buffer.concat([head, name]));

    const deflate = zlib.createDeflateRaw({ level: DEFLATE_LEVEL });
    deflate.on('data', (b: Buffer) => (e.compressed += b.length));
    deflate.pipe(this.out, { end: false });
    try {
      for await (const chunk of typeof text === 'string' ? [text] : text) {
        const b = Buffer.from(chunk, 'utf8');
        e.crc = zlib.crc32(b, e.crc);
        e.size += b.length;
        if (e.size > MAX_ENTRY_BYTES) throw new Error(`${path} passes the 4 GiB a zip entry can hold`);
        if (!deflate.write(b)) await once(deflate, 'drain', { signal: this.closed.signal });
      }
      const ended = once(deflate, 'end', { signal: this.closed.signal });
      deflate.end();
      await ended;
    } finally {
      deflate.unpipe(this.out);
      deflate.destroy();
    }
    this.offset += e.compressed;

    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(e.crc >>> 0, 4);
    descriptor.writeUInt32LE(e.compressed, 8);
    descriptor.writeUInt32LE(e.size, 12);
    await this.put(descriptor);
    this.entries.push(e);
  }

  async finish(): Promise<void> {
    const start = this.offset;
    for (const e of this.entries) {
      const h = Buffer.alloc(46);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(20, 4); // made by: 2.0
      h.writeUInt16LE(20, 6);
      h.writeUInt16LE(0x0808, 8);
      h.writeUInt16LE(8, 10);
      h.writeUInt16LE(this.stamp.time, 12);
      h.writeUInt16LE(this.stamp.date, 14);
      h.writeUInt32LE(e.crc >>> 0, 16);
      h.writeUInt32LE(e.compressed, 20);
      h.writeUInt32LE(e.size, 24);
      h.writeUInt16LE(e.name.length, 28);
      h.writeUInt32LE(e.offset, 42);
      await this.put(Buffer.concat([h, e.name]));
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(this.offset - start, 12);
    end.writeUInt32LE(start, 16);
    await this.put(end);
    if (this.offset > MAX_ENTRY_BYTES) throw new Error('The workbook passes the 4 GiB a zip can hold');
    this.out.end();
  }
}

/** A workbook of the given sheets, written as the returned stream is read. */
export function writeXlsx(sheets: XlsxSheet[]): Readable {
  const out = new PassThrough();
  (async () => {
    const zip = new ZipWriter(out);
    const n = sheets.length;
    const sheetParts = sheets.map((_, i) => `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`).join('');
    await zip.entry(
      '[Content_Types].xml',
      `${XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
        `<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>${sheetParts}</Types>`,
    );
    await zip.entry('_rels/.rels', `${XML_HEAD}<Relationships xmlns="${REL_NS}"><Relationship Id="rId1" Type="${DOC_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>`);
    await zip.entry(
      'xl/workbook.xml',
      `${XML_HEAD}<workbook xmlns="${MAIN_NS}" xmlns:r="${DOC_REL}"><sheets>${sheets.map((s, i) => `<sheet name="${attr(s.name)}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('')}</sheets></workbook>`,
    );
    await zip.entry(
      'xl/_rels/workbook.xml.rels',
      `${XML_HEAD}<Relationships xmlns="${REL_NS}">${sheets.map((_, i) => `<Relationship Id="rId${i + 1}" Type="${DOC_REL}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`).join('')}` +
        `<Relationship Id="rId${n + 1}" Type="${DOC_REL}/styles" Target="styles.xml"/></Relationships>`,
    );
    await zip.entry('xl/styles.xml', STYLES);
    for (const [i, sheet] of sheets.entries()) await zip.entry(`xl/worksheets/sheet${i + 1}.xml`, sheetXml(sheet));
    await zip.finish();
  })().catch((e: Error) => out.destroy(e));
  return out;
}
