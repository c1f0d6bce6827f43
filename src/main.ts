/**
 * The composition root: config → database → services (services.ts binds the stores) → http, and
 * the job worker thread beside them.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Clock } from './core/clock.js';
import { startThread, stopThread } from './core/thread.js';
import { startCheckpointer, type Checkpoints } from './db/checkpointer.js';
import { sqliteFile, type Database } from './db/database.js';
import { openDatabase } from './db/open.js';
import { buildApp } from './http/app.js';
import type { RunnerOptions } from './jobs/runner.js';
import { createServices, loadSecretKey, type Services } from './services.js';

export * from './services.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** True when this is the compiled server (dist/server), false when tsx runs the sources. */
const COMPILED = import.meta.url.endsWith('.js');
export const ROOT_DIR = path.resolve(HERE, COMPILED ? '../..' : '..');
export const CONSOLE_DIR = path.join(ROOT_DIR, 'dist', 'console');

export interface Pippin {
  config: Readonly<Config>;
  db: Database;
  services: Services;
  app: FastifyInstance;
  secretKey: Buffer;
  close(): Promise<void>;
}

/**
 * Starts the job worker thread (imports and the outbox) with its own database connection. Resolves
 * once it is ready; `kick` wakes it when a job is queued.
 */
export async function startJobWorker(
  config: Readonly<Config>,
  secretKey: Buffer,
  opts: { runner?: { pollMs?: number; staleMs?: number; batchRows?: number }; hangAfterBatch?: number; checkpoints?: Checkpoints } = {},
) {
  const worker = startThread(import.meta.url, './jobs/worker', {
    workerData: {
      config: { ...config, secretKey: undefined, secretKeyHex: secretKey.toString('hex') },
      runner: opts.runner ?? {},
      hangAfterBatch: opts.hangAfterBatch,
      checkpoints: opts.checkpoints,
    },
    // A batch's objects outlive a young-generation collection and die with the batch: a capped old
    // generation is collected before it grows far past what a batch holds (IMPORT_BATCH_ROWS and
    // IMPORT_BATCH_CHARS bound that), which keeps the server's peak RSS flat whatever the file.
    // The young generation at 32 MB: a re-import's rows and plans die there rather than being
    // promoted. Paired 1M re-imports of an export with MAIDs added: 43.8 and 42.2 s against 48.7 and
    // 44.7 s with 16 MB; the import's peak RSS 267-270 MB against 252-256 MB. (16 MB was chosen
    // when the peak stood at ~290 MB, before the launcher's allocator settings took ~50 MB off it.)
    resourceLimits: { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 128 },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
  });
  worker.on('error', (e) => console.error('job worker:', e));
  return {
    worker,
    kick: () => worker.postMessage({ type: 'kick' }),
    stop: () => stopThread(worker, 10_000),
  };
}

/** Opens the database (migrating it), builds services and the HTTP app. Does not listen. */
export async function createPippin(
  config: Readonly<Config>,
  opts: {
    logger?: boolean | object;
    clock?: Clock;
    consoleDir?: string;
    /** Where jobs run: a worker thread (serve), this thread (tests), or nowhere. */
    jobs?: 'worker' | 'thread' | 'none';
    runJobs?: boolean;
    runner?: Partial<RunnerOptions>;
    hangAfterBatch?: number;
  } = {},
): Promise<Pippin> {
  const secretKey = loadSecretKey(config);
  const where = opts.jobs ?? (opts.runJobs === false ? 'none' : 'thread');
  // A server with its job worker thread on SQLite copies the WAL back on a third thread, so that
  // neither the requests nor an import's batches wait for a checkpoint (db/checkpointer.ts).
  const checkpoints: Checkpoints = where === 'worker' && !config.databaseUrl ? 'aside' : 'inline';
  const db = await openDatabase(config, 'server', { checkpoints });
  const checkpointer = checkpoints === 'aside' ? startCheckpointer(sqliteFile(config.dataDir)) : null;
  const services = createServices(db, {
    clock: opts.clock,
    dataDir: config.dataDir,
    secretKey,
    mail: { smtpUrl: config.smtpUrl, from: config.smtpFrom, publicUrl: config.publicUrl },
    notify: { smsWebhookUrl: config.smsWebhookUrl, smsWebhookToken: config.smsWebhookToken, rate: config.notifyRate },
    limits: { maxBytes: config.importMaxBytes, maxRows: config.importMaxRows, xlsxMaxRows: config.xlsxMaxRows, xlsxMaxInflatedBytes: config.xlsxMaxInflatedBytes },
    runner: opts.runner,
    allowTestTopic: config.allowTestTopic,
    profileSigning: { certFile: config.profileSigningCert, keyFile: config.profileSigningKey },
  });
  let worker: Awaited<ReturnType<typeof startJobWorker>> | null = null;
  if (where === 'thread') {
    services.background.start();
  } else if (where === 'worker') {
    worker = await startJobWorker(config, secretKey, { runner: { pollMs: opts.runner?.pollMs, staleMs: opts.runner?.staleMs, batchRows: opts.runner?.batchRows }, hangAfterBatch: opts.hangAfterBatch, checkpoints });
    services.wake = worker.kick;
  }
  const app = await buildApp({
    services,
    publicUrl: config.publicUrl,
    trustedProxies: config.trustedProxies,
    clientCertHeader: config.clientCertHeader,
    consoleDir: opts.consoleDir ?? CONSOLE_DIR,
    uploads: { dir: path.join(config.dataDir, 'uploads'), maxBytes: config.importMaxBytes },
    logger: opts.logger,
  });
  return {
    config,
    db,
    services,
    app,
    secretKey,
    async close() {
      await services.background.stop();
      await worker?.stop();
      await app.close();
      await checkpointer?.stop();
      await db.close();
    },
  };
}
