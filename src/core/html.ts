/** Text or an attribute value for HTML: `&`, `<`, `>` and both quotes escaped (the portal's pages and the emails' HTML parts). */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
