import type { Clock, Random } from '../core/clock.js';
import { createPoller } from '../core/poller.js';
import { auditEvent } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import type { Actor } from '../accounts/roles.js';
import type { Job, JobKind } from './model.js';
import type { JobWork } from './store.js';
import type { ImportEnd } from './table-job.js';

/** Runs one claimed job to its end (or until the runner stops); resumes from `work.lastRowCommitted`. */
export type JobHandler = (work: JobWork, hooks: { afterBatch?: (batch: number) => Promise<void> | void; batchRows?: number }) => Promise<ImportEnd>;

/** Thrown from a hook to stop a runner where it stands, as a crash would (the job stays running until its heartbeat goes stale). */
export class RunnerStopped extends Error {}

export interface RunnerOptions {
  /** This process's name in `claimed_by`. */
  node: string;
  pollMs?: number;
  /** A running job whose heartbeat is older than this is taken over (its runner died). */
  staleMs?: number;
  afterBatch?: (batch: number) => Promise<void> | void;
  /** Rows per import batch (default IMPORT_BATCH_ROWS). */
  batchRows?: number;
}

const systemActor = (accountId: string, jobId: string): Actor => ({
  kind: 'system', accountId, adminId: null, label: `job ${jobId}`, role: 'owner', ip: null, requestId: null,
});

/**
 * Claims jobs (queued, or running with a stale heartbeat) and runs them one at a time, sending
 * heartbeats while it works. Several runners, in one process or many, share the work.
 */
export function createJobRunner(
  deps: {
    uow: UnitOfWork;
    clock: Clock;
    random: Random;
    handlers: Record<JobKind, JobHandler>;
    /** Runs in the job's finishing transaction (e.g. to queue the summary email). */
    onFinish?: (s: Stores, job: Job) => Promise<void>;
    /** Runs once that transaction has committed: drops the uploaded file's bytes, which no one reads again. */
    discardFile?: (accountId: string, fileId: string) => Promise<void>;
  },
  opts: RunnerOptions,
) {
  const pollMs = opts.pollMs ?? 1000;
  const staleMs = opts.staleMs ?? 60_000;
  /** Claims and runs one job. True when there was one. */
  async function runOnce(): Promise<boolean> {
    const now = deps.clock.now();
    const claimed = await deps.uow.system('job claim', (s) =>
      s.jobClaims.claimNext(opts.node, new Date(now.getTime() - staleMs).toISOString(), now.toISOString()),
    );
    if (!claimed) return false;
    const { id, accountId } = claimed;
    const beat = setInterval(() => {
      deps.uow.inAccount(accountId, (s) => s.jobs.heartbeat(id, opts.node, deps.clock.now().toISOString())).catch(() => undefined);
    }, Math.max(250, staleMs / 4));
    try {
      const work = await deps.uow.inAccount(accountId, (s) => s.jobs.getWork(id));
      if (!work) return true;
      let end: ImportEnd;
      try {
        end = await deps.handlers[work.job.kind](work, { afterBatch: opts.afterBatch, batchRows: opts.batchRows });
      } catch (e) {
        if (e instanceof RunnerStopped) throw e;
        end = { status: 'failed', error: { code: 'INTERNAL', message: `Processing broke: ${(e as Error).message}`, line: null } };
      }
      await deps.uow.inAccount(accountId, async (s) => {
        await s.jobs.finish(id, end.status, end.status === 'failed' ? end.error : null, deps.clock.now().toISOString());
        const job = await s.jobs.get(id);
        await s.audit.append(
          auditEvent(systemActor(accountId, id), {
            action: end.status === 'cancelled' ? 'import.cancelled' : 'import.finish',
            objectType: 'job',
            objectId: id,
            after: { kind: job?.kind, fileName: job?.fileName, status: end.status, counts: job?.counts, error: job?.error },
          }, deps.clock, deps.random),
        );
        if (job && deps.onFinish) await deps.onFinish(s, job);
      });
      if (work.fileId && deps.discardFile) await deps.discardFile(accountId, work.fileId).catch((e) => console.error(`job ${id}: its file was not discarded:`, (e as Error).message));
      return true;
    } finally {
      clearInterval(beat);
    }
  }

  const poller = createPoller(runOnce, {
    pollMs,
    onError: (e) => {
      if (!(e instanceof RunnerStopped)) console.error('job runner:', e);
    },
  });

  return {
    runOnce,
    /** Polls for work until stopped. */
    start: poller.start,
    /** Looks for work now (after a job is queued). */
    kick: poller.kick,
    /** Stops polling and waits for the job in hand to end or stop. */
    stop: poller.stop,
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
