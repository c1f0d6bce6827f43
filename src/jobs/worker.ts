/**
 * The job worker: a thread with its own database connection that runs imports and sends the
 * outbox, so the server's event loop keeps answering while a million rows go in.
 */
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import { openDatabase } from '../db/open.js';
import type { Checkpoints } from '../db/checkpointer.js';
import { createServices } from '../services.js';

interface WorkerData {
  config: Config & { secretKeyHex: string };
  runner: { pollMs?: number; staleMs?: number; batchRows?: number };
  /** Test hook: after this batch the worker stops dead (as if killed), leaving its job running. */
  hangAfterBatch?: number;
  /** 'aside' when the server's checkpointer thread copies the WAL back (db/checkpointer.ts). */
  checkpoints?: Checkpoints;
}

/**
 * The nice value of this thread: the HTTP thread comes first when both want the CPU, so the
 * directory list answers within its budget while a million rows go in (p99 21–24 ms against 35–45 ms
 * at the default, with the import no slower). Linux keeps a nice value per thread; elsewhere it
 * would apply to the whole process, so it is left alone there.
 */
const JOB_WORKER_NICE = 10;

const data = workerData as WorkerData;
if (process.platform === 'linux') {
  try {
    os.setPriority(0, Math.max(os.getPriority(0), JOB_WORKER_NICE));
  } catch {
    // A sandbox may refuse it: the worker then runs at the server's priority, as before.
  }
}
const config = { ...data.config, secretKey: Buffer.from(data.config.secretKeyHex, 'hex') };
const db = await openDatabase(config, 'worker', { checkpoints: data.checkpoints });
const services = createServices(db, {
  dataDir: config.dataDir,
  secretKey: config.secretKey,
  mail: { smtpUrl: config.smtpUrl, from: config.smtpFrom, publicUrl: config.publicUrl },
  notify: { smsWebhookUrl: config.smsWebhookUrl, smsWebhookToken: config.smsWebhookToken, rate: config.notifyRate },
  limits: { maxBytes: config.importMaxBytes, maxRows: config.importMaxRows, xlsxMaxRows: config.xlsxMaxRows, xlsxMaxInflatedBytes: config.xlsxMaxInflatedBytes },
  runner: {
    ...data.runner,
    afterBatch: data.hangAfterBatch
      ? async (batch) => {
          if (batch >= data.hangAfterBatch!) {
            parentPort?.postMessage({ type: 'hung', batch });
            await new Promise(() => undefined);
          }
        }
      : undefined,
  },
});
services.background.start();
parentPort?.on('message', async (m: { type: string }) => {
  if (m.type === 'kick') {
    services.runner.kick();
    services.outbox.kick();
  }
  if (m.type === 'stop') {
    await services.background.stop();
    await db.close();
    parentPort?.postMessage({ type: 'stopped' });
  }
});
parentPort?.postMessage({ type: 'ready' });
