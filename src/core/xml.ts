/** Text for an XML element: `&`, `<` and `>` escaped, and a carriage return as a character reference (a parser turns a literal one into a line feed). */
export function escapeXmlText(s: string): string {
  return /[&<>\r]/.test(s) ? s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('\r', '&#13;') : s;
}
