import { parse } from 'csv-parse/sync';
import { csvText } from '../bulk/writers.js';
import { AppError } from '../errors.js';
import type { Clock, Random } from '../core/clock.js';
import type { Page, PageRequest } from '../core/paging.js';
import { authorize, type Actor } from '../accounts/roles.js';
import { auditEvent } from '../audit/record.js';
import type { Spooled, FileStore } from '../bulk/file-store.js';
import type { UnitOfWork } from '../stores.js';
import type { Job, JobKind, JobStatus } from './model.js';

/** The lines of a results chunk whose Result (the third column from the end) is Failed. */
function failedLines(csv: string): string {
  const rows = parse(csv, { relax_column_count: true }) as string[][];
  return csvText(rows.filter((r) => r[r.length - 3] === 'Failed'));
}

export function createJobService(deps: { uow: UnitOfWork; clock: Clock; random: Random; files: FileStore; kick: () => void }) {
  const { uow, clock, random } = deps;
  return {
    /**
     * Queues an import of a spooled file. The same Idempotency-Key with the same file returns the
     * same job (also while it runs); with another file it is IDEMPOTENCY_KEY_REUSED. While the
     * account has an import queued or running, IMPORT_RUNNING names it.
     */
    async startImport(actor: Actor, kind: JobKind, spooled: Spooled, idempotencyKey: string | null): Promise<{ job: Job; created: boolean }> {
      authorize(actor, kind === 'users_import' ? 'users.write' : 'requests.bulk');
      const existing = async () => {
        if (!idempotencyKey) return null;
        const found = await uow.inAccount(actor.accountId, (s) => s.jobs.findByIdempotencyKey(idempotencyKey));
        if (!found) return null;
        if (found.fileSha256 !== spooled.sha256) {
          throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different file', { jobId: found.job.id });
        }
        return found.job;
      };
      const running = () =>
        uow.inAccount(actor.accountId, (s) => s.jobs.findActive()).then((job) => {
          if (job) throw new AppError('IMPORT_RUNNING', `Import ${job.id} (${job.fileName}) is still ${job.status}: wait for it or cancel it`, { jobId: job.id });
        });
      const same = await existing();
      if (same) return { job: same, created: false };
      await running();
      const now = clock.now().toISOString();
      const fileId = random.id();
      await deps.files.put(actor.accountId, fileId, spooled, now);
      const id = random.id();
      const outcome = await uow.inAccount(actor.accountId, async (s) => {
        const result = await s.jobs.insert({
          id, kind, fileId, fileName: spooled.name, fileSha256: spooled.sha256, idempotencyKey, requestedBy: actor.adminId,
          requestedByLabel: actor.label, options: {}, createdAt: now,
        });
        if (result === 'ok') {
          await s.audit.append(auditEvent(actor, { action: 'import.start', objectType: 'job', objectId: id, after: { kind, fileName: spooled.name, size: spooled.size, sha256: spooled.sha256 } }, clock, random));
        }
        return result;
      });
      if (outcome === 'key_used') {
        const again = await existing();
        if (again) return { job: again, created: false };
      }
      if (outcome !== 'ok') {
        await running();
        throw new AppError('IMPORT_RUNNING', 'Another import of this account is running');
      }
      deps.kick();
      return { job: (await uow.inAccount(actor.accountId, (s) => s.jobs.get(id)))!, created: true };
    },

    async list(actor: Actor, filter: { kind?: JobKind; status?: JobStatus }, page: PageRequest): Promise<Page<Job>> {
      authorize(actor, 'jobs.read');
      return uow.inAccount(actor.accountId, (s) => s.jobs.list(filter, page));
    },

    async get(actor: Actor, id: string): Promise<Job> {
      authorize(actor, 'jobs.read');
      const job = await uow.inAccount(actor.accountId, (s) => s.jobs.get(id));
      if (!job) throw AppError.notFound('The job');
      return job;
    },

    /** Asks a job to stop after its current batch; the rows already committed stay. */
    async cancel(actor: Actor, id: string): Promise<Job> {
      return uow.inAccount(actor.accountId, async (s) => {
        const job = await s.jobs.get(id);
        if (!job) throw AppError.notFound('The job');
        authorize(actor, job.kind === 'users_import' ? 'users.write' : 'requests.bulk');
        if (await s.jobs.requestCancel(id)) {
          await s.audit.append(auditEvent(actor, { action: 'import.cancel', objectType: 'job', objectId: id, before: { status: job.status } }, clock, random));
        }
        return (await s.jobs.get(id))!;
      });
    },

    /** The results file: its header, then its lines a batch at a time (each in its own short read). */
    async results(actor: Actor, id: string, onlyFailed = false): Promise<{ job: Job; header: string[]; lines: AsyncIterable<string> }> {
      authorize(actor, 'jobs.read');
      const { job, header } = await uow.inAccount(actor.accountId, async (s) => ({ job: await s.jobs.get(id), header: await s.jobs.resultsHeader(id) }));
      if (!job) throw AppError.notFound('The job');
      const lines = (async function* () {
        // Each window of batches is read in its own short transaction.
        for (let after = 0; ; ) {
          const chunks = await uow.inAccount(actor.accountId, (s) => s.jobs.resultChunks(id, after, 20, onlyFailed));
          if (!chunks.length) return;
          for (const c of chunks) yield onlyFailed ? failedLines(c.csv) : c.csv;
          after = chunks[chunks.length - 1]!.batch;
        }
      })();
      return { job, header, lines };
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;
