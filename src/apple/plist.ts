/**
 * XML property lists: a parser hardened for what devices send, and a writer for what Pippin serves.
 *
 * Parsing: the XML itself is read by @xmldom/xmldom (the XML parser the `plist` package builds on; its plist typing is too lax for device input, so the typing here is ours), with every
 * error fatal; before it sees the text, the body is size-checked, decoded as strict UTF-8 and its
 * prolog checked: Apple's standard plist DOCTYPE is accepted (devices send it), any other DOCTYPE,
 * an internal subset or an `<!ENTITY` is refused. The plist typing is ours and strict: integers,
 * reals, dates and base64 data must be well formed, keys are unique, dicts are null-prototype
 * objects (a `__proto__` key is an ordinary key and touches no prototype).
 *
 * Writing: `toPlist` serialises typed values; a JS number is an `<integer>` when it is a safe
 * integer (other than -0) and a `<real>` otherwise; `plistReal(n)` forces a `<real>`; bigint is an
 * `<integer>`; Buffer/Uint8Array is `<data>`; Date is `<date>` (whole seconds, UTC, as Apple writes).
 */
import { createRequire } from 'node:module';
import { DOMParser } from '@xmldom/xmldom';
import { escapeXmlText } from '../core/xml.js';

/**
 * xmldom's SAX reader compiles a large Unicode-name RegExp for every end tag it reads (grammar.reg);
 * the expression depends only on its arguments, so it is memoised here, once per process. On the
 * check-in path this was most of the parser's cost.
 */
{
  const grammar = createRequire(import.meta.url)('@xmldom/xmldom/lib/grammar') as { reg: (...parts: unknown[]) => RegExp; __pippinMemo?: true };
  if (!grammar.__pippinMemo) {
    const compile = grammar.reg;
    const memo = new Map<string, RegExp>();
    grammar.reg = function (this: unknown, ...parts: unknown[]) {
      const key = parts.map((p) => (typeof p === 'string' ? `s:${p}` : `r:${(p as RegExp).source}`)).join('\u0000');
      let re = memo.get(key);
      if (!re) {
        re = compile.apply(this, parts);
        if (memo.size < 256) memo.set(key, re);
      }
      return re;
    };
    grammar.__pippinMemo = true;
  }
}

export type PlistValue = string | number | bigint | boolean | Date | Buffer | PlistValue[] | PlistDict;
/** A dict as parsed: a null-prototype object whose keys are exactly the plist's keys. */
export interface PlistDict {
  [key: string]: PlistValue;
}

export type PlistErrorReason = 'too_large' | 'encoding' | 'doctype' | 'entity' | 'malformed' | 'too_deep' | 'unrepresentable';

/** Every refusal of the parser and writer; `reason` says which rule was broken. */
export class PlistError extends Error {
  constructor(
    readonly reason: PlistErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'PlistError';
  }
}

export const PLIST_MAX_BYTES = 1024 * 1024;
const MAX_DEPTH = 64;

export const APPLE_PLIST_DOCTYPE = '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';
const APPLE_DOCTYPE_RE = /^<!DOCTYPE\s+plist\s+PUBLIC\s+"-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"\s+"http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd"\s*>/;
// Characters XML 1.0 cannot carry (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF).
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export interface ParseOptions {
  /** Byte limit; at most (and by default) 1 MB. */
  maxBytes?: number;
}

/** Parses an XML plist from device input; throws PlistError and nothing else. */
export function parsePlist(bytes: Buffer | Uint8Array, opts: ParseOptions = {}): PlistValue {
  const limit = Math.min(opts.maxBytes ?? PLIST_MAX_BYTES, PLIST_MAX_BYTES);
  if (bytes.length > limit) throw new PlistError('too_large', `The plist is ${bytes.length} bytes; the limit is ${limit}`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new PlistError('encoding', 'The plist is not valid UTF-8');
  }
  checkProlog(text);
  if (FORBIDDEN_CHARS.test(text)) throw new PlistError('malformed', 'The plist holds a character XML does not allow');
  checkDepth(text);

  let doc: ReturnType<DOMParser['parseFromString']>;
  try {
    doc = new DOMParser({
      // A plist is XML 1.0: only CR LF and CR are line ends. (xmldom's default follows XML 1.1 and
      // would turn a literal NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR in a string into a line feed.)
      normalizeLineEndings: (input: string) => input.replace(/\r\n?/g, '\n'),
      onError: (level, message) => {
        if (level !== 'warning') throw new PlistError('malformed', `Malformed XML: ${String(message).split('\n')[0]}`);
      },
    }).parseFromString(text, 'text/xml');
  } catch (e) {
    if (e instanceof PlistError) throw e;
    throw new PlistError('malformed', `Malformed XML: ${(e as Error).message.split('\n')[0]}`);
  }
  const root = doc.documentElement;
  if (!root || root.nodeName !== 'plist') throw new PlistError('malformed', 'The root element is not <plist>');
  const children = elements(root);
  if (children.length !== 1) throw new PlistError('malformed', '<plist> must hold exactly one value');
  return value(children[0]!, 1);
}

/** The prolog may hold an XML declaration, comments, processing instructions and Apple's DOCTYPE, nothing else of its kind. */
function checkProlog(text: string): void {
  if (/<!ENTITY/i.test(text)) throw new PlistError('entity', 'Entity declarations are not accepted');
  const decl = /^\uFEFF?<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']/.exec(text);
  if (decl && !/^utf-?8$/i.test(decl[1]!)) throw new PlistError('encoding', `Only UTF-8 plists are accepted (declared ${decl[1]})`);
  const re = /<!DOCTYPE/gi;
  let m: RegExpExecArray | null;
  let seen = 0;
  while ((m = re.exec(text))) {
    seen++;
    if (seen > 1 || !APPLE_DOCTYPE_RE.test(text.slice(m.index))) {
      throw new PlistError('doctype', "Only Apple's standard plist DOCTYPE is accepted");
    }
  }
}

/** Refuses deep nesting before a DOM is built for it (a 1 MB body of `<array>` would otherwise cost seconds). */
function checkDepth(text: string): void {
  const tag = /<(\/?)[A-Za-z][^<>]*?(\/?)>/g;
  let depth = 0;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(text))) {
    if (m[1]) depth--;
    else if (!m[2] && ++depth > MAX_DEPTH + 1) throw new PlistError('too_deep', `The plist nests deeper than ${MAX_DEPTH}`);
  }
}

type XmlNode = { nodeType: number; nodeName: string; nodeValue: string | null; childNodes: ArrayLike<XmlNode> };
const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;
const COMMENT = 8;
const PI = 7;

/** The element children of a node; any text between them must be whitespace. */
function elements(node: XmlNode): XmlNode[] {
  const out: XmlNode[] = [];
  for (let i = 0; i < node.childNodes.length; i++) {
    const c = node.childNodes[i]!;
    if (c.nodeType === ELEMENT) out.push(c);
    else if (c.nodeType === TEXT || c.nodeType === CDATA) {
      if (/\S/.test(c.nodeValue ?? '')) throw new PlistError('malformed', `Stray text inside <${node.nodeName}>`);
    } else if (c.nodeType !== COMMENT && c.nodeType !== PI) throw new PlistError('malformed', `Unexpected node inside <${node.nodeName}>`);
  }
  return out;
}

/** The character data of a leaf element (text and CDATA); child elements are refused. */
function text(node: XmlNode): string {
  let s = '';
  for (let i = 0; i < node.childNodes.length; i++) {
    const c = node.childNodes[i]!;
    if (c.nodeType === TEXT || c.nodeType === CDATA) s += c.nodeValue ?? '';
    else if (c.nodeType !== COMMENT && c.nodeType !== PI) throw new PlistError('malformed', `<${node.nodeName}> may hold only text`);
  }
  return s;
}

const INTEGER_RE = /^\s*[+-]?\d+\s*$/;
const REAL_RE = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const DATE_RE = /^\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z\s*$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const INT_MIN = -(2n ** 63n);
const INT_MAX = 2n ** 64n - 1n;

function value(node: XmlNode, depth: number): PlistValue {
  if (depth > MAX_DEPTH) throw new PlistError('too_deep', `The plist nests deeper than ${MAX_DEPTH}`);
  switch (node.nodeName) {
    case 'dict': {
      const out: PlistDict = Object.create(null) as PlistDict;
      const kids = elements(node);
      if (kids.length % 2) throw new PlistError('malformed', 'A <dict> must alternate <key> and value');
      for (let i = 0; i < kids.length; i += 2) {
        if (kids[i]!.nodeName !== 'key') throw new PlistError('malformed', `Expected <key> in <dict>, found <${kids[i]!.nodeName}>`);
        const k = text(kids[i]!);
        if (Object.prototype.hasOwnProperty.call(out, k)) throw new PlistError('malformed', `Duplicate key "${k.slice(0, 64)}" in <dict>`);
        Object.defineProperty(out, k, { value: value(kids[i + 1]!, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case 'array':
      return elements(node).map((c) => value(c, depth + 1));
    case 'string':
      return text(node);
    case 'integer': {
      const s = text(node);
      if (!INTEGER_RE.test(s)) throw new PlistError('malformed', `Not an integer: "${s.slice(0, 40)}"`);
      const n = BigInt(s.trim());
      if (n < INT_MIN || n > INT_MAX) throw new PlistError('malformed', 'Integer out of range');
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'real': {
      const s = text(node).trim();
      const special = /^([+-]?)(nan|inf|infinity)$/i.exec(s);
      if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
      if (!REAL_RE.test(s)) throw new PlistError('malformed', `Not a real: "${s.slice(0, 40)}"`);
      return Number(s);
    }
    case 'true':
    case 'false':
      if (elements(node).length) throw new PlistError('malformed', `<${node.nodeName}/> must be empty`);
      return node.nodeName === 'true';
    case 'date': {
      const s = text(node);
      const m = DATE_RE.exec(s);
      const d = m ? new Date(s.trim()) : undefined;
      if (!m || !d || Number.isNaN(d.getTime()) || d.getUTCDate() !== Number(m[3])) throw new PlistError('malformed', `Not a date: "${s.slice(0, 40)}"`);
      return d;
    }
    case 'data': {
      const s = text(node).replace(/[\s]+/g, '');
      if (!BASE64_RE.test(s) || s.length % 4 === 1) throw new PlistError('malformed', 'Malformed base64 in <data>');
      return Buffer.from(s, 'base64');
    }
    default:
      throw new PlistError('malformed', `Unknown plist element <${node.nodeName.slice(0, 40)}>`);
  }
}

/** A number to be written as `<real>` even when it is integral. */
export class PlistReal {
  constructor(readonly value: number) {}
}
export const plistReal = (n: number): PlistReal => new PlistReal(n);

/** What `toPlist` accepts: PlistValue, plus PlistReal, Uint8Array and read-only arrays and records (undefined entries are skipped). */
export type PlistInput =
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uint8Array
  | PlistReal
  | readonly PlistInput[]
  | { readonly [key: string]: PlistInput | undefined };

/** Serialises a value as an XML plist (UTF-8, Apple's DOCTYPE, tab-indented as Apple writes them). */
export function toPlist(root: PlistInput): Buffer {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n', APPLE_PLIST_DOCTYPE, '\n<plist version="1.0">\n'];
  write(out, root, 0);
  out.push('</plist>\n');
  return Buffer.from(out.join(''), 'utf8');
}

function escape(s: string): string {
  if (FORBIDDEN_CHARS.test(s) || /[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) {
    throw new PlistError('unrepresentable', 'The string holds a character an XML plist cannot carry');
  }
  return escapeXmlText(s);
}

function realText(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (Object.is(n, -0)) return '-0.0';
  const s = String(n);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function write(out: string[], v: PlistInput, depth: number): void {
  if (depth > MAX_DEPTH) throw new PlistError('too_deep', `The value nests deeper than ${MAX_DEPTH}`);
  const pad = '\t'.repeat(depth);
  if (typeof v === 'string') out.push(`${pad}<string>${escape(v)}</string>\n`);
  else if (typeof v === 'boolean') out.push(`${pad}<${v}/>\n`);
  else if (typeof v === 'bigint') {
    if (v < INT_MIN || v > INT_MAX) throw new PlistError('unrepresentable', 'Integer out of range');
    out.push(`${pad}<integer>${v}</integer>\n`);
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) out.push(`${pad}<integer>${v}</integer>\n`);
    else out.push(`${pad}<real>${realText(v)}</real>\n`);
  } else if (v instanceof PlistReal) out.push(`${pad}<real>${realText(v.value)}</real>\n`);
  else if (v instanceof Date) {
    const year = v.getUTCFullYear();
    if (Number.isNaN(v.getTime()) || year < 1 || year > 9999) throw new PlistError('unrepresentable', 'A plist date must be a valid date in the years 1–9999');
    out.push(`${pad}<date>${v.toISOString().replace(/\.\d{3}Z$/, 'Z')}</date>\n`);
  } else if (v instanceof Uint8Array) {
    const b64 = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    out.push(`${pad}<data>${b64.replace(/.{1,68}/g, (line) => `\n${pad}${line}`)}\n${pad}</data>\n`);
  } else if (Array.isArray(v)) {
    if (v.length === 0) return void out.push(`${pad}<array/>\n`);
    out.push(`${pad}<array>\n`);
    for (const item of v as readonly PlistInput[]) write(out, item, depth + 1);
    out.push(`${pad}</array>\n`);
  } else if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v as Record<string, PlistInput | undefined>).filter((e): e is [string, PlistInput] => e[1] !== undefined);
    if (entries.length === 0) return void out.push(`${pad}<dict/>\n`);
    out.push(`${pad}<dict>\n`);
    for (const [k, item] of entries) {
      out.push(`${pad}\t<key>${escape(k)}</key>\n`);
      write(out, item, depth + 1);
    }
    out.push(`${pad}</dict>\n`);
  } else throw new PlistError('unrepresentable', `A ${typeof v} has no plist form`);
}
