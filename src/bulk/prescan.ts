import fs from 'node:fs';
import { AppError } from '../errors.js';
import { createDecoder, isUndefinedCp1252, sniffBom, type TextEncoding } from './encoding.js';

/**
 * The cheap pass over a spooled CSV/TXT upload before any row is applied (DESIGN.md "File formats"):
 * byte limit, encoding, delimiter (from the header line), quoting (the rules csv-parse enforces),
 * record size and row count. Any problem refuses the whole file with an AppError carrying `line`.
 */
export interface PrescanLimits {
  maxBytes: number;
  maxRows: number;
  /** Longest record, in characters. */
  maxRecordChars: number;
}

export const DEFAULT_MAX_RECORD_CHARS = 65_536;

export type Delimiter = ',' | ';' | '\t';

export interface Prescan {
  encoding: TextEncoding;
  bomLength: number;
  delimiter: Delimiter;
  /** The header row's cells, unquoted. */
  header: string[];
  /** Data rows (records after the header, blank lines not counted). */
  rows: number;
  warnings: string[];
}

const refuse = (code: 'CSV_MALFORMED' | 'FILE_EMPTY' | 'FILE_ENCODING_INVALID' | 'IMPORT_TOO_MANY_ROWS' | 'FILE_TOO_LARGE', message: string, line: number | null) =>
  new AppError(code, message, { line });

/** Picks the delimiter from the header line: the most frequent of comma, semicolon and tab outside quotes. */
export function detectDelimiter(firstLine: string): Delimiter {
  const counts: Record<Delimiter, number> = { ',': 0, ';': 0, '\t': 0 };
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === ',' || ch === ';' || ch === '\t')) counts[ch]++;
  }
  const best = (Object.entries(counts) as [Delimiter, number][]).sort((a, b) => b[1] - a[1])[0]!;
  return best[1] > 0 ? best[0] : ',';
}

/** The character state machine: quoting as csv-parse enforces it, records, lines. */
class Scanner {
  line = 1;
  records = 0; // non-blank records, header included
  private inQuotes = false;
  private quoteLine = 0;
  private pendingQuote = false; // a quote inside a quoted field, waiting for the next char
  private afterQuote = false;
  private fieldStart = true;
  private recordChars = 0;
  private recordBlank = true;
  private pendingCR = false;
  header: string[] = [];
  private field = '';

  constructor(readonly delimiter: Delimiter, private readonly limits: PrescanLimits) {}

  private endRecord(): void {
    if (!this.recordBlank) {
      if (this.records === 0) this.header.push(this.field);
      this.records++;
      if (this.records - 1 > this.limits.maxRows) {
        throw refuse('IMPORT_TOO_MANY_ROWS', `The file has more than ${this.limits.maxRows.toLocaleString('en')} rows (the limit)`, this.line);
      }
    }
    this.field = '';
    this.fieldStart = true;
    this.afterQuote = false;
    this.recordChars = 0;
    this.recordBlank = true;
  }

  private endField(): void {
    if (this.records === 0) this.header.push(this.field);
    this.field = '';
    this.fieldStart = true;
    this.afterQuote = false;
  }

  feed(text: string): void {
    const d = this.delimiter;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '\u0000') throw refuse('FILE_ENCODING_INVALID', `The file holds a NUL character on line ${this.line}: it is not a text file`, this.line);
      if (this.pendingCR) {
        this.pendingCR = false;
        if (ch === '\n') {
          this.line++;
          continue;
        }
      }
      if (++this.recordChars > this.limits.maxRecordChars) {
        throw refuse('CSV_MALFORMED', `Line ${this.inQuotes ? this.quoteLine : this.line} holds a record longer than ${this.limits.maxRecordChars.toLocaleString('en')} characters${this.inQuotes ? ' (is a quote left open?)' : ''}`, this.inQuotes ? this.quoteLine : this.line);
      }
      if (this.pendingQuote) {
        this.pendingQuote = false;
        if (ch === '"') {
          if (this.records === 0) this.field += '"';
          continue; // an escaped quote
        }
        this.inQuotes = false;
        this.afterQuote = true;
      }
      if (this.inQuotes) {
        if (ch === '"') this.pendingQuote = true;
        else {
          if (ch === '\n') this.line++;
          if (this.records === 0) this.field += ch;
        }
        continue;
      }
      if (ch === '\n' || ch === '\r') {
        this.endRecord();
        if (ch === '\r') this.pendingCR = true;
        else this.line++;
        if (ch === '\r') this.line++;
        continue;
      }
      if (ch === d) {
        this.recordBlank = false;
        this.endField();
        continue;
      }
      if (this.afterQuote) {
        throw refuse('CSV_MALFORMED', `Line ${this.line}: a closing quote must be followed by the delimiter or the end of the line`, this.line);
      }
      if (ch === '"') {
        if (!this.fieldStart) throw refuse('CSV_MALFORMED', `Line ${this.line}: a quote inside an unquoted value (write it as "" inside a quoted value)`, this.line);
        this.inQuotes = true;
        this.quoteLine = this.line;
        this.fieldStart = false;
        this.recordBlank = false;
        continue;
      }
      this.fieldStart = false;
      this.recordBlank = false;
      if (this.records === 0) this.field += ch;
    }
  }

  finish(): void {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuotes = false;
    }
    if (this.inQuotes) throw refuse('CSV_MALFORMED', `A quote opened on line ${this.quoteLine} is never closed`, this.quoteLine);
    this.endRecord();
  }
}

async function* chunks(file: string): AsyncGenerator<Buffer> {
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) yield c as Buffer;
}

/** Whether the bytes (after any BOM) are valid UTF-8; else the first Windows-1252 problem, if any. */
async function chooseEncoding(file: string, bomLength: number): Promise<{ encoding: TextEncoding; warning?: string }> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let valid = true;
  let first = true;
  try {
    for await (const c of chunks(file)) {
      utf8.decode(first ? c.subarray(bomLength) : c, { stream: true });
      first = false;
    }
    utf8.decode();
  } catch {
    valid = false;
  }
  if (valid) return { encoding: 'utf-8' };
  let offset = 0;
  for await (const c of chunks(file)) {
    for (let i = 0; i < c.length; i++) {
      const b = c[i]!;
      if (b === 0x00 || isUndefinedCp1252(b)) {
        throw refuse(
          'FILE_ENCODING_INVALID',
          `The file is neither UTF-8 nor Windows-1252 text: byte 0x${b.toString(16).padStart(2, '0').toUpperCase()} at offset ${(offset + i).toLocaleString('en')}. Save it as "CSV UTF-8".`,
          null,
        );
      }
    }
    offset += c.length;
  }
  return { encoding: 'windows-1252', warning: 'The file is not UTF-8; it was read as Windows-1252 (Western European). Save it as "CSV UTF-8" to be sure every character survives.' };
}

export async function prescanText(file: string, limits: PrescanLimits): Promise<Prescan> {
  const size = (await fs.promises.stat(file)).size;
  if (size > limits.maxBytes) throw refuse('FILE_TOO_LARGE', `The file is ${size.toLocaleString('en')} bytes; the limit is ${limits.maxBytes.toLocaleString('en')}`, null);
  if (size === 0) throw refuse('FILE_EMPTY', 'The file is empty', null);
  const head = Buffer.alloc(Math.min(4, size));
  const fh = await fs.promises.open(file, 'r');
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const bom = sniffBom(head);
  const warnings: string[] = [];
  let encoding: TextEncoding;
  if (bom) encoding = bom.encoding;
  else {
    const chosen = await chooseEncoding(file, 0);
    encoding = chosen.encoding;
    if (chosen.warning) warnings.push(chosen.warning);
  }
  const bomLength = bom?.length ?? 0;
  const decode = createDecoder(encoding);
  // The delimiter comes from the header line, so text is held back until its end is seen.
  let scanner: Scanner | null = null;
  let held = '';
  const feed = (text: string) => {
    if (scanner) return scanner.feed(text);
    held += text;
    const nl = held.search(/[\r\n]/);
    if (nl < 0 && held.length <= limits.maxRecordChars) return;
    scanner = new Scanner(detectDelimiter(nl < 0 ? held : held.slice(0, nl)), limits);
    scanner.feed(held);
    held = '';
  };
  let first = true;
  try {
    for await (const c of chunks(file)) {
      feed(decode(first ? c.subarray(bomLength) : c));
      first = false;
    }
    feed(decode());
    if (!scanner) {
      scanner = new Scanner(detectDelimiter(held), limits);
      scanner.feed(held);
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw refuse('FILE_ENCODING_INVALID', `The file is not valid ${encoding.toUpperCase()} text`, null);
  }
  const done = scanner as Scanner;
  done.finish();
  scanner = done;
  if (done.records === 0) throw refuse('FILE_EMPTY', 'The file is empty', null);
  if (done.records === 1) throw refuse('FILE_EMPTY', 'The file has a header but no rows', 2);
  return { encoding, bomLength, delimiter: done.delimiter, header: done.header, rows: done.records - 1, warnings };
}
