/** What the outbox sender hands to its transports, and the escaping every template shares. */
import fs from 'node:fs';
import path from 'node:path';

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

/** No header injection: line breaks and control characters never reach a header. */
export const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();

/**
 * Writes a message file whole or not at all: to a hidden temporary name, then renamed, so whoever
 * watches the outbox directory never reads half a message.
 */
export async function writeMessageFile(dir: string, name: string, content: string | Buffer): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${name}.partial`);
  await fs.promises.writeFile(temp, content);
  await fs.promises.rename(temp, path.join(dir, name));
}
