import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { AppError } from '../errors.js';
import { createDecoder, isUndefinedCp1252, sniffBom, type TextEncoding } from './encoding.js';
import { CsvScanner, refuse, type Delimiter } from './csv-scanner.js';

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

/**
 * The size of each read of an uploaded file. Below glibc's 128 KiB mmap threshold on purpose: once a
 * larger block is freed, glibc raises that threshold and serves later large blocks from its heap
 * arenas, which keep the memory. With 1 MiB reads the server's peak RSS during a million-row import
 * was 20–25 MB higher; the import is no slower with 64 KiB.
 */
const READ_CHUNK_BYTES = 64 * 1024;

/** An uploaded file's bytes from `start`, a read at a time (the pre-scan's passes and the row reader). */
export async function* chunks(file: string, start = 0): AsyncGenerator<Buffer> {
  for await (const c of fs.createReadStream(file, { highWaterMark: READ_CHUNK_BYTES, start })) yield c as Buffer;
}

/**
 * How many bytes at the end of `bytes` begin a UTF-8 sequence they do not finish (0 to 3): a read
 * may end inside a character.
 */
export function unfinishedUtf8(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

/**
 * Whether a stream of bytes is valid UTF-8, checked a read at a time without decoding it (Node's
 * validator, far faster than a decoder making strings that are thrown away: those took 0.6 s of a
 * million-row import's job worker), a character split between reads carried to the next.
 */
export async function isUtf8Stream(reads: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<boolean> {
  let carried: Buffer | null = null;
  for await (const c of reads) {
    const bytes: Buffer = carried ? Buffer.concat([carried, c]) : c;
    const end = bytes.length - unfinishedUtf8(bytes);
    if (!isUtf8(bytes.subarray(0, end))) return false;
    carried = end < bytes.length ? Buffer.from(bytes.subarray(end)) : null;
  }
  return carried === null;
}

/** Whether the bytes (after any BOM) are valid UTF-8; else the first Windows-1252 problem, if any. */
async function chooseEncoding(file: string, bomLength: number): Promise<{ encoding: TextEncoding; warning?: string }> {
  if (await isUtf8Stream(chunks(file, bomLength))) return { encoding: 'utf-8' };
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
  let scanner: CsvScanner | null = null;
  let held = '';
  const feed = (text: string) => {
    if (scanner) return scanner.feed(text);
    held += text;
    const nl = held.search(/[\r\n]/);
    if (nl < 0 && held.length <= limits.maxRecordChars) return;
    scanner = new CsvScanner(detectDelimiter(nl < 0 ? held : held.slice(0, nl)), limits);
    scanner.feed(held);
    held = '';
  };
  try {
    for await (const c of chunks(file, bomLength)) feed(decode(c));
    feed(decode());
    if (!scanner) {
      scanner = new CsvScanner(detectDelimiter(held), limits);
      scanner.feed(held);
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw refuse('FILE_ENCODING_INVALID', `The file is not valid ${encoding.toUpperCase()} text`, null);
  }
  const done = scanner as CsvScanner;
  done.finish();
  scanner = done;
  if (done.records === 0) throw refuse('FILE_EMPTY', 'The file is empty', null);
  if (done.records === 1) throw refuse('FILE_EMPTY', 'The file has a header but no rows', 2);
  return { encoding, bomLength, delimiter: done.delimiter, header: done.header, rows: done.records - 1, warnings };
}
