import { sql, type Selectable } from 'kysely';
import type { Caps } from '../db/caps.js';
import type { Tx } from '../db/database.js';
import { dbBool, flag, type JobRow } from '../db/schema.js';
import { cappedCount, toPage, TOTAL_CAP } from '../db/query.js';
import { LIMIT_DEFAULT, decodeCursor } from '../core/paging.js';
import type { Job, JobKind, JobStatus } from './model.js';
import type { JobClaims, JobStore, JobWork } from './store.js';

function toJob(r: Selectable<JobRow>): Job {
  return {
    id: r.id,
    kind: r.kind as JobKind,
    status: r.status as JobStatus,
    fileName: r.file_name,
    progress: { processed: r.processed, total: r.total },
    counts: { created: r.created, updated: r.updated, unchanged: r.unchanged, refreshed: r.refreshed, failed: r.failed },
    warnings: JSON.parse(r.warnings_json) as string[],
    error: r.error_json ? JSON.parse(r.error_json) : null,
    requestedBy: { id: r.requested_by, label: r.requested_by_label },
    cancelRequested: flag(r.cancel_requested),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export function jobStore(tx: Tx, accountId: string): JobStore {
  const row = (id: string) => tx.selectFrom('jobs').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  const active = () =>
    tx.selectFrom('jobs').selectAll().where('account_id', '=', accountId).where('status', 'in', ['queued', 'running']).executeTakeFirst();
  return {
    async insert(j) {
      const res = await tx
        .insertInto('jobs')
        .values({
          id: j.id,
          account_id: accountId,
          kind: j.kind,
          status: 'queued',
          file_id: j.fileId,
          file_name: j.fileName,
          file_sha256: j.fileSha256,
          idempotency_key: j.idempotencyKey,
          requested_by: j.requestedBy,
          requested_by_label: j.requestedByLabel,
          options_json: JSON.stringify(j.options),
          created_at: j.createdAt,
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 1) return 'ok';
      if (j.idempotencyKey) {
        const byKey = await tx.selectFrom('jobs').select('id').where('account_id', '=', accountId).where('idempotency_key', '=', j.idempotencyKey).executeTakeFirst();
        if (byKey) return 'key_used';
      }
      return 'import_running';
    },
    async get(id) {
      const r = await row(id);
      return r ? toJob(r) : null;
    },
    async getWork(id): Promise<JobWork | null> {
      const r = await row(id);
      return r
        ? { job: toJob(r), accountId: r.account_id, fileId: r.file_id, lastRowCommitted: r.last_row_committed, batches: r.batches, options: JSON.parse(r.options_json) }
        : null;
    },
    async findByIdempotencyKey(key) {
      const r = await tx.selectFrom('jobs').selectAll().where('account_id', '=', accountId).where('idempotency_key', '=', key).executeTakeFirst();
      return r ? { job: toJob(r), fileSha256: r.file_sha256 } : null;
    },
    async findActive() {
      const r = await active();
      return r ? toJob(r) : null;
    },
    async list(filter, page) {
      const limit = page.limit ?? LIMIT_DEFAULT;
      const base = () => {
        let q = tx.selectFrom('jobs').where('account_id', '=', accountId);
        if (filter.kind) q = q.where('kind', '=', filter.kind);
        if (filter.status) q = q.where('status', '=', filter.status);
        return q;
      };
      let q = base().selectAll();
      if (page.cursor) {
        const [at, id] = decodeCursor(page.cursor, ['instant', 'id']) as [string, string];
        q = q.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(at, id)));
      }
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      const counted = await cappedCount(tx, base().select('id').limit(TOTAL_CAP + 1));
      return toPage(rows, limit, (r) => [r.created_at, r.id], toJob, counted);
    },
    async requestCancel(id) {
      const res = await tx
        .updateTable('jobs')
        .set({ cancel_requested: dbBool(true) })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async setTotal(id, total, warnings, resultsHeader) {
      const r = await row(id);
      const options = { ...(r ? JSON.parse(r.options_json) : {}), resultsHeader };
      await tx
        .updateTable('jobs')
        .set({ total, warnings_json: JSON.stringify(warnings), options_json: JSON.stringify(options) })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
    },
    async resultsHeader(id) {
      const r = await row(id);
      return (r ? (JSON.parse(r.options_json).resultsHeader as string[] | undefined) : undefined) ?? ['Row', 'Result', 'Code', 'Message'];
    },
    async commitBatch(id, b, at) {
      const { batches: batch } = await tx
        .updateTable('jobs')
        .set((eb) => ({
          batches: eb('batches', '+', 1),
          last_row_committed: b.lastRow,
          processed: eb('processed', '+', b.processed),
          created: eb('created', '+', b.counts.created),
          updated: eb('updated', '+', b.counts.updated),
          unchanged: eb('unchanged', '+', b.counts.unchanged),
          refreshed: eb('refreshed', '+', b.counts.refreshed),
          failed: eb('failed', '+', b.counts.failed),
          heartbeat_at: at,
        }))
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .returning('batches')
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('job_results')
        .values({ job_id: id, account_id: accountId, batch, first_row: b.firstRow, failed: b.failedInBatch, csv: b.resultsCsv })
        .execute();
    },
    async finish(id, status, error, at) {
      await tx
        .updateTable('jobs')
        .set({ status, error_json: error ? JSON.stringify(error) : null, finished_at: at, heartbeat_at: at })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
    },
    async heartbeat(id, node, at) {
      await tx.updateTable('jobs').set({ heartbeat_at: at, claimed_by: node }).where('account_id', '=', accountId).where('id', '=', id).execute();
    },
    async resultChunks(id, after, limit, onlyFailed) {
      let q = tx.selectFrom('job_results').select(['batch', 'csv']).where('account_id', '=', accountId).where('job_id', '=', id).where('batch', '>', after);
      if (onlyFailed) q = q.where('failed', '>', 0);
      return q.orderBy('batch').limit(limit).execute();
    },
  };
}

export function jobClaims(tx: Tx, caps: Caps): JobClaims {
  return {
    async claimNext(node, staleBefore, at) {
      let q = tx
        .selectFrom('jobs')
        .select(['id', 'account_id'])
        .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('heartbeat_at', '<', staleBefore)])]))
        .orderBy('created_at')
        .limit(1);
      if (caps.supportsSkipLocked) q = q.forUpdate().skipLocked();
      const next = await q.executeTakeFirst();
      if (!next) return null;
      await tx
        .updateTable('jobs')
        .set((eb) => ({ status: 'running', claimed_by: node, heartbeat_at: at, started_at: sql<string>`coalesce(started_at, ${at})`, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', next.id)
        .execute();
      return { id: next.id, accountId: next.account_id };
    },
  };
}
