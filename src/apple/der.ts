/**
 * ASN.1 for CMS and SCEP: a small DER/BER reader and a few DER builders.
 *
 * Reading: asn1js was measured at ~2 ms to parse one 1.5 KB check-in signature (it tries to decode
 * every OCTET and BIT STRING as nested ASN.1), which alone would cap check-ins below 500/s; this
 * reader walks tag-length-value with bounds, depth and node limits, keeps every element's exact
 * bytes (signatures and hashes need them) and parses the same signature in microseconds.
 * Writing: what Pippin emits is small and fixed in shape; building it from bytes also avoids pkijs'
 * BER re-wrapping and attribute-order pitfalls (APPLE.md §9).
 */

/** Malformed or unexpected ASN.1; `message` says where. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

// ---- reading ----

/** One element: its class (0 universal, 1 application, 2 context, 3 private), tag number, exact bytes and content. */
export interface Block {
  cls: number;
  tagNumber: number;
  constructed: boolean;
  /** The whole element, tag and length included. */
  raw: Buffer;
  /** The content octets of a primitive element. */
  content: Buffer;
  children: Block[];
}

const MAX_DEPTH = 40;
const MAX_NODES = 20_000;

/** Parses exactly one DER/BER element filling `bytes`. */
export function parseDer(bytes: Uint8Array): Block {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const budget = { nodes: 0 };
  const [block, end] = readElement(buf, 0, buf.length, 0, budget);
  if (end !== buf.length) throw new DerError('Trailing bytes after the ASN.1 element');
  return block;
}

function readElement(buf: Buffer, at: number, limit: number, depth: number, budget: { nodes: number }): [Block, number] {
  if (depth > MAX_DEPTH) throw new DerError('ASN.1 nested too deeply');
  if (++budget.nodes > MAX_NODES) throw new DerError('Too many ASN.1 elements');
  const start = at;
  if (at >= limit) throw new DerError('Truncated ASN.1');
  const first = buf[at++]!;
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (at >= limit || i > 3) throw new DerError('Bad ASN.1 tag');
      const b = buf[at++]!;
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if (!(b & 0x80)) break;
    }
  }
  if (at >= limit) throw new DerError('Truncated ASN.1 length');
  let lenByte = buf[at++]!;
  const children: Block[] = [];
  if (lenByte === 0x80) {
    // BER indefinite length: constructed only, children up to the end-of-contents octets.
    if (!constructed) throw new DerError('Indefinite length on a primitive element');
    for (;;) {
      if (at + 2 > limit) throw new DerError('Unterminated indefinite-length element');
      if (buf[at] === 0 && buf[at + 1] === 0) {
        at += 2;
        break;
      }
      const [child, next] = readElement(buf, at, limit, depth + 1, budget);
      children.push(child);
      at = next;
    }
    return [{ cls, tagNumber, constructed, raw: buf.subarray(start, at), content: buf.subarray(at, at), children }, at];
  }
  let length = lenByte;
  if (lenByte & 0x80) {
    lenByte &= 0x7f;
    if (lenByte > 4 || at + lenByte > limit) throw new DerError('Bad ASN.1 length');
    length = 0;
    for (let i = 0; i < lenByte; i++) length = length * 256 + buf[at++]!;
  }
  const end = at + length;
  if (end > limit) throw new DerError('ASN.1 length runs past the data');
  const content = buf.subarray(at, end);
  if (constructed) {
    for (let p = at; p < end; ) {
      const [child, next] = readElement(buf, p, end, depth + 1, budget);
      children.push(child);
      p = next;
    }
  }
  return [{ cls, tagNumber, constructed, raw: buf.subarray(start, end), content, children }, end];
}

/** The children of a constructed element (SEQUENCE, SET, context-tagged). */
export function kids(b: Block | undefined, what = 'element'): Block[] {
  if (!b || !b.constructed) throw new DerError(`Expected a constructed ${what}`);
  return b.children;
}

/** A copy of the exact bytes the element was read from (tag and length included). */
export function raw(b: Block): Buffer {
  return Buffer.from(b.raw);
}

export function isContext(b: Block | undefined, n: number): boolean {
  return !!b && b.cls === 2 && b.tagNumber === n;
}

export function isUniversal(b: Block | undefined, n: number): boolean {
  return !!b && b.cls === 0 && b.tagNumber === n;
}

export function oidOf(b: Block | undefined, what = 'OID'): string {
  if (!isUniversal(b, 6) || b!.constructed || b!.content.length === 0) throw new DerError(`Expected ${what}`);
  const c = b!.content;
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    v = v * 128 + (c[i]! & 0x7f);
    if (!(c[i]! & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** The content of an OCTET STRING (primitive or BER-constructed), or of any primitive element. */
export function octets(b: Block | undefined, what = 'OCTET STRING'): Buffer {
  if (!b) throw new DerError(`Missing ${what}`);
  if (b.constructed) return Buffer.concat(kids(b, what).map((k) => octets(k, what)));
  return b.content;
}

/** The text of a string-typed element (PrintableString, UTF8String, IA5String, BMPString…). */
export function textOf(b: Block | undefined, what = 'string'): string {
  if (!b || b.cls !== 0 || b.constructed || ![12, 19, 20, 22, 26, 30].includes(b.tagNumber)) throw new DerError(`Expected a ${what}`);
  if (b.tagNumber === 30) {
    if (b.content.length % 2) throw new DerError(`Odd-length BMPString in ${what}`);
    return Buffer.from(b.content).swap16().toString('utf16le');
  }
  return b.tagNumber === 12 ? b.content.toString('utf8') : b.content.toString('latin1');
}

// ---- writing ----

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(content.length), content]);
}

export const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
export const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
/** A DER SET OF: elements sorted by their encodings. */
export const setOf = (parts: Buffer[]): Buffer => set(...[...parts].sort(Buffer.compare));
/** [n] EXPLICIT, or IMPLICIT over constructed content. */
export const ctx = (n: number, content: Buffer, constructed = true): Buffer => tlv((constructed ? 0xa0 : 0x80) | n, content);
export const octetString = (b: Buffer): Buffer => tlv(0x04, b);
export const printable = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'ascii'));
export const nullDer = (): Buffer => Buffer.from([0x05, 0x00]);

export function integer(n: number | Buffer): Buffer {
  let b = typeof n === 'number' ? Buffer.from([n]) : n;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++;
  b = b.subarray(i);
  if (b[0]! >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

const oidCache = new Map<string, Buffer>();
export function oid(dotted: string): Buffer {
  let out = oidCache.get(dotted);
  if (!out) {
    const parts = dotted.split('.').map(Number);
    const bytes: number[] = [parts[0]! * 40 + parts[1]!];
    for (const p of parts.slice(2)) {
      const enc: number[] = [p & 0x7f];
      for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) enc.unshift((v & 0x7f) | 0x80);
      bytes.push(...enc);
    }
    oidCache.set(dotted, (out = tlv(0x06, Buffer.from(bytes))));
  }
  return out;
}

/** UTCTime (years 1950–2049, as CMS signingTime requires there) else GeneralizedTime. */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

export const algorithm = (dotted: string, params: Buffer | null = nullDer()): Buffer => seq(oid(dotted), ...(params ? [params] : []));

/** The issuer Name and serial INTEGER of a certificate, as its own bytes: what a CMS sid names. */
export function issuerAndSerial(certDer: Buffer): { issuer: Buffer; serial: Buffer; der: Buffer } {
  const tbs = kids(kids(parseDer(certDer), 'certificate')[0], 'tbsCertificate');
  const at = isContext(tbs[0], 0) ? 1 : 0;
  const serial = raw(tbs[at]!);
  const issuer = raw(tbs[at + 2]!);
  return { issuer, serial, der: seq(issuer, serial) };
}
