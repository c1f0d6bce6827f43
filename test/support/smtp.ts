/** A real SMTP server on loopback for mail tests, and a wait helper for what it receives. */
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { freePort } from '../setup/postgres.js';

/**
 * Keeps what it receives, parsed (inline images stay `cid:` references and attachments), or refuses
 * each message with `refuseCode` (451, try later, by default) while `refuse` is set.
 */
export async function startSmtpServer(opts: { parse?: boolean } = {}) {
  const received: ParsedMail[] = [];
  /** Messages accepted; with `parse: false` (the bench's drain) they are only counted, not parsed or kept. */
  const state = { refuse: false, refuseCode: 451, accepted: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Pippin keeps SMTP connections open (a pool): on close, drop them instead of waiting 30 s.
    closeTimeout: 100,
    onData(stream, _session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (state.refuse) return done(Object.assign(new Error(state.refuseCode >= 500 ? 'no such mailbox' : 'try later'), { responseCode: state.refuseCode }));
        state.accepted++;
        if (opts.parse !== false) received.push(await simpleParser(Buffer.concat(chunks), { skipImageLinks: true }));
        done();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, received, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Polls `f` every 50 ms until it returns something, or throws after `ms`. */
export const until = async <T>(f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};
