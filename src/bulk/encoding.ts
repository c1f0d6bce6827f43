/**
 * Text encodings of uploaded files (DESIGN.md "File formats"): a BOM decides (UTF-8, UTF-16 LE,
 * UTF-16 BE); without one, valid UTF-8 is UTF-8 and anything else is Windows-1252, unless it holds
 * bytes Windows-1252 leaves undefined. Windows-1252 is decoded by table: Node 20's one-shot
 * TextDecoder('windows-1252') maps 0x80–0x9F wrongly.
 */

export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'windows-1252';

/** Windows-1252 0x80–0x9F; null where the code page defines nothing. */
const CP1252_HIGH: (number | null)[] = [
  0x20ac, null, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, null, 0x017d, null,
  null, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, null, 0x017e, 0x0178,
];

/** The bytes 0x81 0x8D 0x8F 0x90 0x9D. */
export function isUndefinedCp1252(byte: number): boolean {
  return byte >= 0x80 && byte <= 0x9f && CP1252_HIGH[byte - 0x80] === null;
}

const CP1252_TABLE: string[] = Array.from({ length: 256 }, (_, b) =>
  b >= 0x80 && b <= 0x9f ? String.fromCharCode(CP1252_HIGH[b - 0x80] ?? 0xfffd) : String.fromCharCode(b),
);

export function decodeCp1252(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    const end = Math.min(bytes.length, i + 8192);
    const parts = new Array<string>(end - i);
    for (let j = i; j < end; j++) parts[j - i] = CP1252_TABLE[bytes[j]!]!;
    out += parts.join('');
  }
  return out;
}

export interface Bom {
  encoding: TextEncoding;
  length: number;
}

export function sniffBom(head: Uint8Array): Bom | null {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return null;
}

/** A streaming decoder: feed byte chunks in order, then call with no chunk to flush. Throws on invalid input for UTF-8/UTF-16. */
export function createDecoder(encoding: TextEncoding): (chunk?: Uint8Array) => string {
  if (encoding === 'windows-1252') return (chunk) => (chunk ? decodeCp1252(chunk) : '');
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  return (chunk) => (chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode());
}
