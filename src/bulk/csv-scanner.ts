import { AppError } from '../errors.js';
import type { FileRow } from './reader.js';

/**
 * The CSV state machine the pre-scan and the row reader share, so the rows the pre-scan counts are
 * the rows the job reads, with the same numbers. Its rules are csv-parse's strict ones (DESIGN.md
 * "File formats"): `"` opens a value only at its start, `""` inside quotes is a quote, a closing
 * quote is followed by the delimiter or the line's end; LF, CRLF and a lone CR each end a record;
 * blank lines are skipped and not numbered; rows may be ragged (the caller reports them).
 *
 * A line without quotes — nearly every line of a real file — is found with `indexOf` and split in
 * one call; only a line holding a quote (or a NUL, or one too long) goes character by character,
 * and even then a quoted value's text is taken a slice at a time.
 */

export type Delimiter = ',' | ';' | '\t';

export interface ScanLimits {
  /** Data rows (the header not counted). */
  maxRows: number;
  /** Longest record, in characters, its line ending included. */
  maxRecordChars: number;
}

export type ScanError = 'CSV_MALFORMED' | 'FILE_EMPTY' | 'FILE_ENCODING_INVALID' | 'IMPORT_TOO_MANY_ROWS' | 'FILE_TOO_LARGE';

export const refuse = (code: ScanError, message: string, line: number | null) => new AppError(code, message, { line });

const NO_CELLS: string[] = [];
const LF = 10;
const CR = 13;

export class CsvScanner {
  /** The line the next character is on. */
  line = 1;
  /** Non-blank records so far, the header included. */
  records = 0;
  header: string[] = [];
  private inQuotes = false;
  private quoteLine = 0;
  private pendingQuote = false; // a quote inside a quoted value, waiting for the next character
  private afterQuote = false;
  private fieldStart = true;
  private recordChars = 0;
  private recordBlank = true;
  private pendingCR = false;
  private field = '';
  private cells: string[] = [];

  /**
   * @param rows where each data row goes as it ends; null to count rows only (the header is always kept).
   */
  constructor(
    readonly delimiter: Delimiter,
    private readonly limits: ScanLimits,
    private readonly rows: FileRow[] | null = null,
  ) {}

  private get keeping(): boolean {
    return this.rows !== null || this.records === 0;
  }

  private endRecord(cells: string[]): void {
    if (this.records === 0) this.header = cells;
    this.records++;
    if (this.records - 1 > this.limits.maxRows) {
      throw refuse('IMPORT_TOO_MANY_ROWS', `The file has more than ${this.limits.maxRows.toLocaleString('en')} rows (the limit)`, this.line);
    }
    if (this.records > 1) this.rows?.push({ row: this.records, cells });
  }

  private endLine(): void {
    if (!this.recordBlank) {
      if (this.keeping) this.cells.push(this.field);
      this.endRecord(this.cells);
    }
    this.cells = [];
    this.field = '';
    this.fieldStart = true;
    this.afterQuote = false;
    this.recordChars = 0;
    this.recordBlank = true;
  }

  private endField(): void {
    if (this.keeping) this.cells.push(this.field);
    this.field = '';
    this.fieldStart = true;
    this.afterQuote = false;
  }

  feed(text: string): void {
    const n = text.length;
    const max = this.limits.maxRecordChars;
    // The next LF, CR, quote and NUL at or after i (n when there is none): each searched for once per pass.
    let lf = -1;
    let cr = -1;
    let quote = -1;
    let nul = -1;
    const next = (ch: string, from: number) => {
      const k = text.indexOf(ch, from);
      return k < 0 ? n : k;
    };
    let i = 0;
    while (i < n) {
      if (this.recordChars === 0) {
        // At a record's start: take a whole plain line at once.
        if (this.pendingCR) {
          this.pendingCR = false;
          if (text.charCodeAt(i) === LF) {
            i++; // CRLF: one line ending, counted at its CR
            continue;
          }
        }
        if (lf < i) lf = next('\n', i);
        if (cr < i) cr = next('\r', i);
        const end = lf < cr ? lf : cr;
        if (end < n) {
          if (quote < i) quote = next('"', i);
          if (nul < i) nul = next('\u0000', i);
          if (quote > end && nul > end && end - i < max) {
            // A counting scan keeps the header only.
            if (end > i) this.endRecord(this.keeping ? text.slice(i, end).split(this.delimiter) : NO_CELLS);
            this.line++;
            if (text.charCodeAt(end) === CR) this.pendingCR = true;
            i = end + 1;
            continue;
          }
        }
      }
      i = this.step(text, i);
    }
  }

  /** One character (or, inside quotes, a run of plain text); returns where to go on. */
  private step(text: string, i: number): number {
    const ch = text[i]!;
    if (this.inQuotes && !this.pendingQuote && ch !== '"') {
      // The run up to the next quote, when it holds no NUL and keeps the record within its limit.
      const q = text.indexOf('"', i);
      const end = q < 0 ? text.length : q;
      const run = text.slice(i, end);
      if (run.indexOf('\u0000') < 0 && this.recordChars + run.length <= this.limits.maxRecordChars) {
        this.recordChars += run.length;
        for (let k = run.indexOf('\n'); k >= 0; k = run.indexOf('\n', k + 1)) this.line++;
        if (this.keeping) this.field += run;
        return end;
      }
    }
    if (ch === '\u0000') throw refuse('FILE_ENCODING_INVALID', `The file holds a NUL character on line ${this.line}: it is not a text file`, this.line);
    if (this.pendingCR) {
      this.pendingCR = false;
      if (ch === '\n') return i + 1; // CRLF: one line ending, counted at its CR
    }
    if (++this.recordChars > this.limits.maxRecordChars) {
      const line = this.inQuotes ? this.quoteLine : this.line;
      throw refuse('CSV_MALFORMED', `Line ${line} holds a record longer than ${this.limits.maxRecordChars.toLocaleString('en')} characters${this.inQuotes ? ' (is a quote left open?)' : ''}`, line);
    }
    if (this.pendingQuote) {
      this.pendingQuote = false;
      if (ch === '"') {
        if (this.keeping) this.field += '"';
        return i + 1; // an escaped quote
      }
      this.inQuotes = false;
      this.afterQuote = true;
    }
    if (this.inQuotes) {
      if (ch === '"') this.pendingQuote = true;
      else {
        if (ch === '\n') this.line++;
        if (this.keeping) this.field += ch;
      }
      return i + 1;
    }
    if (ch === '\n' || ch === '\r') {
      this.endLine();
      this.line++;
      if (ch === '\r') this.pendingCR = true;
      return i + 1;
    }
    if (ch === this.delimiter) {
      this.recordBlank = false;
      this.endField();
      return i + 1;
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
      return i + 1;
    }
    this.fieldStart = false;
    this.recordBlank = false;
    if (this.keeping) this.field += ch;
    return i + 1;
  }

  /** The end of the text: a quote left open is refused; a last line without its ending is a record. */
  finish(): void {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuotes = false;
    }
    if (this.inQuotes) throw refuse('CSV_MALFORMED', `A quote opened on line ${this.quoteLine} is never closed`, this.quoteLine);
    this.endLine();
  }
}
