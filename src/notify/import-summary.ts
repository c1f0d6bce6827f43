import { parse } from 'csv-parse/sync';
import { csvText } from '../bulk/writers.js';
import type { Clock, Random } from '../core/clock.js';
import type { Stores } from '../stores.js';
import type { Job } from '../jobs/model.js';
import { seal } from './seal.js';
import { escapeHtml } from '../core/html.js';
import { oneLine, type Email } from './message.js';

export const IMPORT_SUMMARY = 'import_summary';
/** Failed rows attached to the email; beyond this the email links to the whole results file. */
export const ATTACH_MAX_FAILED = 10_000;
const LIST_FAILURES = 20;

export interface ImportSummaryInputs {
  to: string;
  jobId: string;
}

/** Queues the bulk upload summary email to the admin who started the job (in the job's finishing transaction). */
export async function enqueueImportSummary(s: Stores, job: Job, deps: { secretKey: Buffer; clock: Clock; random: Random }): Promise<void> {
  if (!job.requestedBy.id) return;
  const admin = await s.admins.get(job.requestedBy.id);
  if (!admin || admin.disabled) return;
  const inputs: ImportSummaryInputs = { to: admin.email, jobId: job.id };
  await s.outbox.enqueue({ id: deps.random.id(), kind: IMPORT_SUMMARY, sealed: seal(deps.secretKey, inputs), at: deps.clock.now().toISOString() });
}

export type { Email } from './message.js';

/** Renders the summary from the job and its results file as they are now. */
export async function renderImportSummary(
  inputs: ImportSummaryInputs,
  read: { job: Job; resultsHeader: string[]; failedChunks: () => AsyncIterable<string> },
  publicUrl: string,
): Promise<Email> {
  const { job } = read;
  const c = job.counts;
  const name = oneLine(job.fileName);
  const failedRows: string[][] = [];
  let failedTotal = 0;
  for await (const chunk of read.failedChunks()) {
    for (const r of parse(chunk, { relax_column_count: true }) as string[][]) {
      if (r[r.length - 3] !== 'Failed') continue;
      failedTotal++;
      if (failedRows.length < ATTACH_MAX_FAILED) failedRows.push(r);
    }
  }
  const resultsUrl = `${publicUrl}/api/v1/jobs/${job.id}/results`;
  const outcome =
    job.status === 'failed'
      ? `The file was refused and nothing was changed: ${job.error?.message ?? 'unknown error'}${job.error?.line ? ` (line ${job.error.line})` : ''}.`
      : job.status === 'cancelled'
        ? 'The import was cancelled; the rows applied before that stay.'
        : c.failed
          ? `${c.failed.toLocaleString('en')} row${c.failed === 1 ? '' : 's'} failed; the other rows were applied.`
          : 'Every row was applied.';
  const n = (v: number) => v.toLocaleString('en');
  const bulkAdd = job.kind === 'enrollment_bulk_add';
  const title = bulkAdd ? 'Bulk Add summary' : 'Bulk upload summary';
  const countLine = bulkAdd
    ? `Created ${n(c.created)}, refreshed ${n(c.refreshed)}, failed ${n(c.failed)}.`
    : `Created ${n(c.created)}, updated ${n(c.updated)}, unchanged ${n(c.unchanged)}, failed ${n(c.failed)}.`;
  const first = failedRows.slice(0, LIST_FAILURES).map((r) => ({ row: r[r.length - 4]!, code: r[r.length - 2]!, message: r[r.length - 1]! }));
  const attach = failedTotal > 0 && failedTotal <= ATTACH_MAX_FAILED;
  const text = [
    `${title} for ${name}`,
    '',
    outcome,
    countLine,
    ...job.warnings.map((w) => `Warning: ${w}`),
    ...(first.length ? ['', `First ${first.length} failed row${first.length === 1 ? '' : 's'}:`, ...first.map((f) => `  Row ${f.row} — ${f.code}: ${f.message}`)] : []),
    '',
    attach ? 'The failed rows are attached as CSV: fix them and import the file again.' : failedTotal > ATTACH_MAX_FAILED ? `More than ${ATTACH_MAX_FAILED.toLocaleString('en')} rows failed: download the whole results file at ${resultsUrl}` : '',
    `Results: ${resultsUrl}`,
  ].join('\n');
  const html = `<h2 style="font-family:sans-serif">${title}: ${escapeHtml(name)}</h2>
<p style="font-family:sans-serif">${escapeHtml(outcome)}<br>${escapeHtml(countLine)}</p>
${job.warnings.map((w) => `<p style="font-family:sans-serif;color:#a15c00">${escapeHtml(w)}</p>`).join('\n')}
${first.length ? `<table style="font-family:sans-serif;border-collapse:collapse" border="1" cellpadding="4"><tr><th>Row</th><th>Code</th><th>Message</th></tr>${first.map((f) => `<tr><td>${escapeHtml(f.row)}</td><td>${escapeHtml(f.code)}</td><td>${escapeHtml(f.message)}</td></tr>`).join('')}</table>` : ''}
<p style="font-family:sans-serif"><a href="${escapeHtml(resultsUrl)}">Download the results file</a></p>`;
  return {
    to: inputs.to,
    subject: oneLine(bulkAdd ? `${title}: ${name} — ${c.created} created, ${c.refreshed} refreshed, ${c.failed} failed` : `${title}: ${name} — ${c.created} created, ${c.updated} updated, ${c.failed} failed`),
    text,
    html,
    attachments: attach
      ? [{ filename: `${name.replace(/\.[^.]*$/, '') || 'import'}-failed-rows.csv`, content: '\uFEFF' + csvText([read.resultsHeader, ...failedRows]), contentType: 'text/csv; charset=utf-8' }]
      : [],
  };
}
