/**
 * Spreadsheet formula neutralisation (DESIGN.md "Exports"; BAD-INPUTS.md §1.1): a value starting
 * with = + - @, tab, CR or LF, or their full-width forms, is written with one leading `'`; import
 * removes exactly one `'` before such a character, so export → edit → import round-trips.
 *
 * Values that already start with apostrophes before a trigger (`'=x`) get one more on export and
 * lose one on import, so they round-trip too.
 */

/** The characters that start a formula (the full-width forms are U+FF1D, U+FF0B, U+FF0D, U+FF20). */
const TRIGGERS = '=+-@\t\r\n\uff1d\uff0b\uff0d\uff20';
const CLASS = TRIGGERS.replace(/[-\\\]^]/g, '\\$&');
const NEEDS_ESCAPE = new RegExp(`^'*[${CLASS}]`);
const ESCAPED = new RegExp(`^'+[${CLASS}]`);

/**
 * Whether a value's first character is an apostrophe or a trigger: only then is the regular
 * expression asked. Most cells start with a letter or a digit, and an export or import asks for
 * every cell.
 */
const FIRST = new Set([..."'" + TRIGGERS].map((c) => c.charCodeAt(0)));
const mayStart = (value: string): boolean => FIRST.has(value.charCodeAt(0));

/** The value as an export writes it. */
export function escapeFormula(value: string): string {
  return mayStart(value) && NEEDS_ESCAPE.test(value) ? `'${value}` : value;
}

/** The value as an import reads it: one `'` before a trigger character (or before more `'` and one) is removed. */
export function unescapeFormula(cell: string): string {
  return mayStart(cell) && ESCAPED.test(cell) ? cell.slice(1) : cell;
}
