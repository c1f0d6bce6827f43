import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { PermanentSendError, writeMessageFile, type Sms } from './message.js';

/** Sends one rendered SMS, or throws (PermanentSendError when trying again cannot help). */
export interface SmsTransport {
  send(sms: Sms, messageId: string): Promise<void>;
}

/**
 * The number in E.164 (`+442079460958`), or PermanentSendError naming it. A number must carry its
 * country code (`+44 …`, or `00 44 …`) unless `defaultCountry` is given: Pippin has no way to know
 * which country a bare national number like `(415) 555-0100` belongs to, so it does not guess.
 * An extension (`x12`) is dropped: a text message cannot dial one.
 */
export function toE164(typed: string, defaultCountry?: CountryCode): string {
  const trimmed = typed.trim();
  const international = defaultCountry ? trimmed : trimmed.replace(/^00(?=\s*[1-9])/, '+');
  const parsed = parsePhoneNumberFromString(international, defaultCountry);
  if (parsed?.isValid()) return parsed.number;
  const hint = !defaultCountry && !/^\s*(\+|tel:\+)/.test(international) ? ': it has no country code (write it as +<country code> <number>)' : '';
  throw new PermanentSendError(`Phone Number "${trimmed}" is not a valid phone number${hint}`);
}

/** How long the webhook may take to answer before the attempt counts as failed (and is retried). */
const WEBHOOK_TIMEOUT_MS = 30_000;

/**
 * SMS_WEBHOOK_URL: POSTs `{ to, body }` as JSON (`to` in E.164), with `Authorization: Bearer
 * <token>` when a token is set. Any answer other than 2xx is an error, and the sender retries it.
 */
export function webhookSmsTransport(opts: { url: string; token?: string; defaultCountry?: CountryCode }): SmsTransport {
  return {
    async send(sms, messageId) {
      const to = toE164(sms.to, opts.defaultCountry);
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': messageId,
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        },
        body: JSON.stringify({ to, body: sms.body }),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`The SMS webhook answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    },
  };
}

/** Without SMS_WEBHOOK_URL: each SMS is written as `<messageId>.json` (`{ to, body }`) under `dir`. */
export function fileSmsTransport(dir: string, opts: { defaultCountry?: CountryCode } = {}): SmsTransport {
  return {
    async send(sms, messageId) {
      const to = toE164(sms.to, opts.defaultCountry);
      await writeMessageFile(dir, `${messageId}.json`, JSON.stringify({ to, body: sms.body }, null, 2) + '\n');
    },
  };
}
