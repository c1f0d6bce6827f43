/**
 * Spreadsheet formula neutralisation (DESIGN.md "Exports"; BAD-INPUTS.md §1.1): a value starting
 * with = + - @, tab, CR or LF, or their full-width forms, is written with one leading `'`; import
 * removes exactly one `'` before such a character, so export → edit → import round-trips.
 *
 * Values that already start with apostrophes before a trigger (`'=x`) get one more on export and
 * lose one on import, so they round-trip too.
 */

const TRIGGER = "=+\\-@\\t\\r\\n\uff1d\uff0b\uff0d\uff20";
const NEEDS_ESCAPE = new RegExp(`^'*[${TRIGGER}]`);
const ESCAPED = new RegExp(`^'+[${TRIGGER}]`);

export function startsWithTrigger(value: string): boolean {
  return new RegExp(`^[${TRIGGER}]`).test(value);
}

/**
 * Whether a value's first character is an apostrophe or could be a trigger (every full-width form
 * is at or above U+FF0B): only then is the regular expression asked. Most cells start with a letter
 * or a digit, and an export or import asks for every cell.
 */
const mayStart = (value: string): boolean => {
  const c = value.charCodeAt(0);
  return c === 39 || c === 61 || c === 43 || c === 45 || c === 64 || c === 9 || c === 13 || c === 10 || c >= 0xff0b;
};

/** The value as an export writes it. */
export function escapeFormula(value: string): string {
  return mayStart(value) && NEEDS_ESCAPE.test(value) ? `'${value}` : value;
}

/** The value as an import reads it: one `'` before a trigger character (or before more `'` and one) is removed. */
export function unescapeFormula(cell: string): string {
  return mayStart(cell) && ESCAPED.test(cell) ? cell.slice(1) : cell;
}
