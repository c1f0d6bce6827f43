/**
 * Text for an XML element: `&`, `<` and `>` escaped, and the characters some parser could take for
 * a line end as character references: a carriage return (XML 1.0 turns a literal one into a line
 * feed), and NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (which XML 1.1 parsers, xmldom among them,
 * turn into line feeds too). A reference always reads back as the character itself.
 */
export function escapeXmlText(s: string): string {
  return s.replace(XML_SPECIAL, (c) => XML_ESCAPES[c]!);
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;', '\u0085': '&#133;', '\u2028': '&#8232;', '\u2029': '&#8233;' };
const XML_SPECIAL = /[&<>\r\u0085\u2028\u2029]/g;
