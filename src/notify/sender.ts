import nodemailer from 'nodemailer';
import type { Clock } from '../core/clock.js';
import { createPoller } from '../core/poller.js';
import type { UnitOfWork } from '../stores.js';
import { IMPORT_SUMMARY, renderImportSummary, type ImportSummaryInputs } from './import-summary.js';
import { ENROLLMENT_NOTICE, renderEnrollmentEmail, renderEnrollmentSms, type EnrollmentNoticeInputs } from './enrollment-notice.js';
import { PermanentSendError, writeMessageFile, type Email } from './message.js';
import { tokenBucket, type Pacer } from './pace.js';
import type { SmsTransport } from './sms.js';
import type { OutboxMessage } from './store.js';
import { unseal } from './seal.js';

/** Sends one rendered email, or throws. */
export interface MailTransport {
  send(email: Email, from: string, messageId: string): Promise<void>;
  /** Closes kept-open connections (on shutdown). */
  close?(): void;
}

/** Messages in flight at once (and pooled SMTP connections): rendering overlaps the SMTP round trips. */
export const SEND_CONCURRENCY = 4;

/**
 * SMTP (SMTP_URL) through nodemailer, over a small pool of kept-open connections. A 5xx answer
 * (mailbox unknown, message refused) is permanent: retrying cannot help.
 */
export function smtpTransport(url: string): MailTransport {
  const t = nodemailer.createTransport({ url, pool: true, maxConnections: SEND_CONCURRENCY } as never);
  return {
    close: () => t.close(),
    async send(email, from, messageId) {
      try {
        await t.sendMail({ ...email, from, messageId: `<${messageId}@pippin>` });
      } catch (e) {
        const code = (e as { responseCode?: number }).responseCode;
        if (code !== undefined && code >= 500 && code < 600) throw new PermanentSendError((e as Error).message);
        throw e;
      }
    },
  };
}

/** Without SMTP_URL: each message is written as an .eml file under the data directory. */
export function fileTransport(dir: string): MailTransport {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async send(email, from, messageId) {
      const info = await t.sendMail({ ...email, from, messageId: `<${messageId}@pippin>` });
      await writeMessageFile(dir, `${messageId}.eml`, info.message as Buffer);
    },
  };
}

export const MAX_ATTEMPTS = 8;

/** When to try again after `attempts` failures: 30 s, doubling, at most an hour; null to give up. */
export function retryAt(now: Date, attempts: number): string | null {
  if (attempts + 1 >= MAX_ATTEMPTS) return null;
  return new Date(now.getTime() + Math.min(3600_000, 30_000 * 2 ** attempts)).toISOString();
}

/** A message given up: its account, kind and unsealed inputs (undefined when they could not be unsealed). */
export interface GivenUpMessage {
  accountId: string;
  kind: string;
  inputs: unknown;
}

/** Messages per second when PIPPIN_NOTIFY_RATE is not set. */
export const DEFAULT_NOTIFY_RATE = 20;

/**
 * Claims due messages from the outbox, renders and sends them (emails through `transport`, SMS
 * through `sms`), at most `rate` a second across this sender, retrying failures with backoff.
 * A PermanentSendError, or a failure on the last of MAX_ATTEMPTS, gives the message up: `onGaveUp`
 * is called with the reason (a hook that throws is logged), then the message is marked failed.
 */
export function createOutboxSender(
  deps: {
    uow: UnitOfWork;
    clock: Clock;
    secretKey: Buffer;
    transport: MailTransport;
    sms?: SmsTransport;
    from: string;
    publicUrl: string;
    /** Messages per second (default DEFAULT_NOTIFY_RATE); ignored when `pacer` is given. */
    rate?: number;
    pacer?: Pacer;
    onGaveUp?: (m: GivenUpMessage, reason: string) => Promise<void>;
  },
  opts: { pollMs?: number } = {},
) {
  const pacer = deps.pacer ?? tokenBucket({ rate: deps.rate ?? DEFAULT_NOTIFY_RATE, clock: deps.clock });

  async function renderSummary(accountId: string, inputs: ImportSummaryInputs): Promise<Email> {
    const { job, header } = await deps.uow.inAccount(accountId, async (s) => ({ job: await s.jobs.get(inputs.jobId), header: await s.jobs.resultsHeader(inputs.jobId) }));
    if (!job) throw new Error(`job ${inputs.jobId} is gone`);
    const uow = deps.uow;
    return renderImportSummary(
      inputs,
      {
        job,
        resultsHeader: header,
        failedChunks: async function* () {
          for (let after = 0; ; ) {
            const chunks = await uow.inAccount(accountId, (s) => s.jobs.resultChunks(job.id, after, 20, true));
            if (!chunks.length) return;
            for (const c of chunks) yield c.csv;
            after = chunks[chunks.length - 1]!.batch;
          }
        },
      },
      deps.publicUrl,
    );
  }

  /** Renders and sends one message by its kind (and, for enrollment notices, its channel). */
  async function deliver(m: OutboxMessage, inputs: unknown): Promise<void> {
    if (m.kind === IMPORT_SUMMARY) {
      await deps.transport.send(await renderSummary(m.accountId, inputs as ImportSummaryInputs), deps.from, m.id);
    } else if (m.kind === ENROLLMENT_NOTICE) {
      const notice = inputs as EnrollmentNoticeInputs;
      if (notice.channel === 'sms') {
        if (!deps.sms) throw new PermanentSendError('SMS is not set up on this server');
        await deps.sms.send(renderEnrollmentSms(notice), m.id);
      } else {
        await deps.transport.send(await renderEnrollmentEmail(notice), deps.from, m.id);
      }
    } else {
      throw new PermanentSendError(`unknown message kind ${m.kind}`);
    }
  }

  async function giveUp(m: OutboxMessage, inputs: unknown, reason: string): Promise<void> {
    if (!deps.onGaveUp) return;
    try {
      await deps.onGaveUp({ accountId: m.accountId, kind: m.kind, inputs }, reason);
    } catch (e) {
      console.error(`outbox: the give-up hook failed for message ${m.id}:`, e);
    }
  }

  /** Sends one claimed message, recording the outcome: sent, to be retried, or given up. */
  async function sendOne(m: OutboxMessage): Promise<void> {
    let inputs: unknown;
    try {
      inputs = unseal<unknown>(deps.secretKey, m.sealed);
      await pacer.take();
      await deliver(m, inputs);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const next = e instanceof PermanentSendError ? null : retryAt(deps.clock.now(), m.attempts);
      const reason = next || e instanceof PermanentSendError ? message : `${message} (gave up after ${MAX_ATTEMPTS} attempts)`;
      if (!next) await giveUp(m, inputs, reason);
      await deps.uow.system('outbox claim', (s) => s.outboxClaims.attemptFailed(m.id, reason, next));
      return;
    }
    await deps.uow.system('outbox claim', (s) => s.outboxClaims.sent(m.id, deps.clock.now().toISOString()));
  }

  /** Sends what is due now (paced, SEND_CONCURRENCY at a time); returns how many messages were attempted. */
  async function runOnce(): Promise<number> {
    const now = deps.clock.now();
    const due = await deps.uow.system('outbox claim', (s) =>
      s.outboxClaims.claimDue(now.toISOString(), new Date(now.getTime() + 5 * 60_000).toISOString(), 50),
    );
    let next = 0;
    const lane = async () => {
      while (next < due.length) await sendOne(due[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(SEND_CONCURRENCY, due.length) }, lane));
    return due.length;
  }

  const poller = createPoller(async () => (await runOnce()) > 0, { pollMs: opts.pollMs ?? 2000, onError: (e) => console.error('outbox:', e) });

  return {
    runOnce,
    start: poller.start,
    kick: poller.kick,
    /** Stops polling, waits for the sends in hand, and closes the SMTP connections. */
    async stop() {
      await poller.stop();
      deps.transport.close?.();
    },
  };
}

export type OutboxSender = ReturnType<typeof createOutboxSender>;
