/** Pure checks on names shared by several features. */

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * Lower-cases and trims; Unicode NFC so keys compare the same on every engine. An ASCII string is
 * its own NFC form (no ASCII character composes), so most keys skip ICU: an import normalises
 * several keys a row.
 */
export function normaliseKey(s: string): string {
  const lower = s.trim().toLowerCase();
  return NON_ASCII.test(lower) ? lower.normalize('NFC') : lower;
}

/**
 * A DNS host name: labels of 1–63 characters of a-z 0-9 -, not starting or ending with -, at most
 * 253 characters. With `fullyQualified`, at least two labels and an alphabetic (or xn--) last label.
 * Returns the reason it is not, or null when it is.
 */
export function domainNameProblem(domain: string, opts: { fullyQualified: boolean }): string | null {
  if (domain.length === 0) return 'is empty';
  if (domain.length > 253) return 'is longer than 253 characters';
  if (domain !== domain.toLowerCase()) domain = domain.toLowerCase();
  const labels = domain.split('.');
  if (labels.some((l) => l.length === 0)) return 'has an empty label (leading, trailing or doubled dot)';
  for (const l of labels) {
    if (l.length > 63) return `has a label longer than 63 characters`;
    if (!LABEL.test(l)) return `has an invalid label "${l}" (use a-z, 0-9 and -, not at either end)`;
  }
  if (opts.fullyQualified) {
    if (labels.length < 2) return 'is not a fully qualified domain (needs at least two labels)';
    const tld = labels[labels.length - 1]!;
    if (!/^[a-z]+$/.test(tld) && !/^xn--[a-z0-9-]+$/.test(tld)) return 'has a top-level label that is not alphabetic';
  }
  return null;
}
