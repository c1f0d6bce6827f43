/**
 * The crypto of issuing requests in bulk — each request's token and passcode HMACs and its notices
 * sealed for the outbox — done on a thread of its own, so that it runs on the second core while the
 * job worker writes the slice before (Bulk Add of 100,000 requests: about a fifth of the job's CPU).
 * The results are the same as the single request's, computed by the same functions.
 */
import type { Worker } from 'node:worker_threads';
import { startThread } from '../core/thread.js';
import { sealJson } from '../notify/seal.js';
import { passcodeHash, tokenHash } from './secrets.js';

export interface SecretsWork {
  requests: { id: string; token: string; passcode: string }[];
  /** Each notice's inputs in JSON (`EnrollmentNoticeInputs`): strings cross to the thread for the price of a copy. */
  notices: string[];
}

export interface SecretsDone {
  tokenHashes: string[];
  passcodeHashes: string[];
  /** The notices sealed, in order. */
  sealed: string[];
}

export function doSecretsWork(secretKey: Buffer, work: SecretsWork): SecretsDone {
  return {
    tokenHashes: work.requests.map((r) => tokenHash(secretKey, r.token)),
    passcodeHashes: work.requests.map((r) => passcodeHash(secretKey, r.id, r.passcode)),
    sealed: work.notices.map((n) => sealJson(secretKey, n)),
  };
}

export interface SecretsRunner {
  run(work: SecretsWork): Promise<SecretsDone>;
  close(): Promise<void>;
}

/** In the calling thread (small batches, where a thread would not pay for itself). */
export function inThreadSecrets(secretKey: Buffer): SecretsRunner {
  return { run: async (work) => doSecretsWork(secretKey, work), close: async () => {} };
}

/**
 * On a thread started at the first `run` and stopped by `close`. Should the thread fail, the work
 * it held and all later work is done in the calling thread: the results are the same.
 */
export function offThreadSecrets(secretKey: Buffer): SecretsRunner & { readonly threadRuns: number } {
  let thread: Worker | null = null;
  let broken = false;
  let threadRuns = 0;
  let seq = 0;
  const waiting = new Map<number, { work: SecretsWork; resolve: (d: SecretsDone) => void; reject: (e: unknown) => void }>();
  const fallBack = () => {
    broken = true;
    thread = null;
    for (const [id, w] of waiting) {
      waiting.delete(id);
      try {
        w.resolve(doSecretsWork(secretKey, w.work));
      } catch (e) {
        w.reject(e);
      }
    }
  };
  const start = (): Worker => {
    // A slice's work is a few hundred kilobytes: a small heap keeps the thread's share of the server's RSS small.
    const t = startThread(import.meta.url, './bulk-secrets-thread', {
      workerData: { secretKeyHex: secretKey.toString('hex') },
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
    t.on('message', (m: { id: number; done: SecretsDone }) => {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      threadRuns++;
      w.resolve(m.done);
    });
    t.on('error', fallBack);
    t.on('exit', () => thread === t && fallBack());
    t.unref();
    return t;
  };
  return {
    get threadRuns() {
      return threadRuns;
    },
    run(work) {
      if (broken) return Promise.resolve(doSecretsWork(secretKey, work));
      thread ??= start();
      const id = ++seq;
      const done = new Promise<SecretsDone>((resolve, reject) => waiting.set(id, { work, resolve, reject }));
      thread.postMessage({ id, work });
      return done;
    },
    async close() {
      const t = thread;
      thread = null;
      if (t) await t.terminate();
    },
  };
}
