/** What the outbox sender hands to its transports, and the escaping every template shares. */

/** One rendered email. `to` is an address, or a display name and address (the name is never parsed as a header). */
export interface Email {
  to: string | { name: string; address: string };
  subject: string;
  text: string;
  html: string;
  /** `cid` makes an attachment inline: the HTML refers to it as `cid:<cid>`. */
  attachments: { filename: string; content: string | Buffer; contentType: string; cid?: string }[];
}

/** One rendered SMS; `to` is the number as the admin typed it (the transport normalises it). */
export interface Sms {
  to: string;
  body: string;
}

/**
 * A failure that trying again cannot cure (a number that is no phone number, a mailbox the server
 * says does not exist): the sender gives the message up at once instead of retrying.
 */
export class PermanentSendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentSendError';
  }
}

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** No header injection: line breaks and control characters never reach a header. */
export const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
