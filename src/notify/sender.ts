import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Clock } from '../core/clock.js';
import { createPoller } from '../core/poller.js';
import type { UnitOfWork } from '../stores.js';
import { IMPORT_SUMMARY, renderImportSummary, type Email, type ImportSummaryInputs } from './import-summary.js';
import { unseal } from './seal.js';

/** Sends one rendered email, or throws. */
export interface MailTransport {
  send(email: Email, from: string, messageId: string): Promise<void>;
}

/** SMTP (SMTP_URL) through nodemailer. */
export function smtpTransport(url: string): MailTransport {
  const t = nodemailer.createTransport(url);
  return {
    async send(email, from, messageId) {
      await t.sendMail({ ...email, from, messageId: `<${messageId}@pippin>` });
    },
  };
}

/** Without SMTP_URL: each message is written as an .eml file under the data directory. */
export function fileTransport(dir: string): MailTransport {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async send(email, from, messageId) {
      const info = await t.sendMail({ ...email, from, messageId: `<${messageId}@pippin>` });
      await fs.promises.mkdir(dir, { recursive: true });
      await fs.promises.writeFile(path.join(dir, `${messageId}.eml`), info.message as Buffer);
    },
  };
}

export const MAX_ATTEMPTS = 8;

/** When to try again after `attempts` failures: 30 s, doubling, at most an hour; null to give up. */
export function retryAt(now: Date, attempts: number): string | null {
  if (attempts + 1 >= MAX_ATTEMPTS) return null;
  return new Date(now.getTime() + Math.min(3600_000, 30_000 * 2 ** attempts)).toISOString();
}

/** Claims due messages from the outbox, renders and sends them, retrying failures with backoff. */
export function createOutboxSender(deps: { uow: UnitOfWork; clock: Clock; secretKey: Buffer; transport: MailTransport; from: string; publicUrl: string }, opts: { pollMs?: number } = {}) {

  async function render(m: { accountId: string; kind: string; sealed: string }): Promise<Email> {
    if (m.kind !== IMPORT_SUMMARY) throw new Error(`unknown message kind ${m.kind}`);
    const inputs = unseal<ImportSummaryInputs>(deps.secretKey, m.sealed);
    const { job, header } = await deps.uow.inAccount(m.accountId, async (s) => ({ job: await s.jobs.get(inputs.jobId), header: await s.jobs.resultsHeader(inputs.jobId) }));
    if (!job) throw new Error(`job ${inputs.jobId} is gone`);
    const uow = deps.uow;
    return renderImportSummary(
      inputs,
      {
        job,
        resultsHeader: header,
        failedChunks: async function* () {
          for (let after = 0; ; ) {
            const chunks = await uow.inAccount(m.accountId, (s) => s.jobs.resultChunks(job.id, after, 20, true));
            if (!chunks.length) return;
            for (const c of chunks) yield c.csv;
            after = chunks[chunks.length - 1]!.batch;
          }
        },
      },
      deps.publicUrl,
    );
  }

  /** Sends what is due now; returns how many messages were attempted. */
  async function runOnce(): Promise<number> {
    const now = deps.clock.now();
    const due = await deps.uow.system('outbox claim', (s) =>
      s.outboxClaims.claimDue(now.toISOString(), new Date(now.getTime() + 5 * 60_000).toISOString(), 20),
    );
    for (const m of due) {
      try {
        await deps.transport.send(await render(m), deps.from, m.id);
        await deps.uow.system('outbox claim', (s) => s.outboxClaims.sent(m.id, deps.clock.now().toISOString()));
      } catch (e) {
        await deps.uow.system('outbox claim', (s) => s.outboxClaims.attemptFailed(m.id, (e as Error).message, retryAt(deps.clock.now(), m.attempts)));
      }
    }
    return due.length;
  }

  const poller = createPoller(async () => (await runOnce()) > 0, { pollMs: opts.pollMs ?? 2000, onError: (e) => console.error('outbox:', e) });

  return { runOnce, start: poller.start, kick: poller.kick, stop: poller.stop };
}

export type OutboxSender = ReturnType<typeof createOutboxSender>;
