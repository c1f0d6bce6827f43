/**
 * The `pippin` data commands: they call the HTTP API (PIPPIN_URL, default http://localhost:8080)
 * with an API token (PIPPIN_TOKEN), like any other client.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { AppError } from '../errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, someRowsFailed: 3 } as const;

interface JobView {
  id: string;
  status: string;
  fileName: string;
  progress: { processed: number; total: number | null };
  counts: { created: number; updated: number; unchanged: number; refreshed: number; failed: number };
  warnings: string[];
  error: { code: string; message: string; line: number | null } | null;
}

function client(env: NodeJS.ProcessEnv) {
  const base = (env.PIPPIN_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
  const token = env.PIPPIN_TOKEN;
  if (!token) throw new AppError('UNAUTHENTICATED', 'Set PIPPIN_TOKEN to an API token (create one with `pippin token create` or in the console)');
  const call = async (method: string, url: string, body?: FormData, headers: Record<string, string> = {}): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1${url}`, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body });
    } catch (e) {
      throw new AppError('INTERNAL', `Pippin at ${base} cannot be reached: ${(e as Error).message}`);
    }
    if (!res.ok) {
      const json = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
      throw new AppError((json?.error?.code as never) ?? 'INTERNAL', json?.error?.message ?? `HTTP ${res.status}`);
    }
    return res;
  };
  return { call };
}

const finished = (s: string) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** The exit status of a finished import: 0 every row applied, 3 some failed, 1 the file was refused. */
export function importExitStatus(job: JobView): number {
  if (job.status === 'succeeded') return job.counts.failed ? EXIT.someRowsFailed : EXIT.ok;
  return EXIT.failed;
}

export function addDataCommands(program: Command, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; isTTY: boolean; setExit: (code: number) => void }) {
  const users = program.command('users').description('Users ▸ Directory over the HTTP API (PIPPIN_URL, PIPPIN_TOKEN)');

  importCommand(users, out, {
    name: 'import',
    description: 'Bulk Import Users from a CSV, TXT or XLSX file',
    endpoint: '/users/imports',
    counts: (c) => `Created ${c.created}, updated ${c.updated}, unchanged ${c.unchanged}, failed ${c.failed}.`,
  });

  const enrollments = program.command('enrollments').description('Devices ▸ Enrollments over the HTTP API (PIPPIN_URL, PIPPIN_TOKEN)');
  importCommand(enrollments, out, {
    name: 'bulk-add',
    description: 'Bulk Add enrollment requests from a CSV or TXT file',
    endpoint: '/enrollment-requests/bulk',
    counts: (c) => `Created ${c.created}, refreshed ${c.refreshed}, failed ${c.failed}.`,
  });

  users
    .command('export')
    .description('Export the users (streamed) to a file or standard output')
    .option('--format <format>', 'csv or xlsx', 'csv')
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .option('--q <text>', 'only users whose username, email, MAID or a name word starts with this')
    .option('--managed-apple-id <which>', 'present or missing')
    .option('--sort <sort>', 'username, fullName, email, managedAppleId or createdAt, - for descending')
    .action(async (o: { format: string; output?: string; q?: string; managedAppleId?: string; sort?: string }) => {
      if (!['csv', 'xlsx'].includes(o.format)) throw new AppError('VALIDATION_FAILED', '--format must be csv or xlsx');
      if (o.format === 'xlsx' && !o.output) throw new AppError('VALIDATION_FAILED', 'Give -o FILE for an xlsx export');
      const q = new URLSearchParams({ format: o.format });
      if (o.q) q.set('q', o.q);
      if (o.managedAppleId) q.set('managedAppleId', o.managedAppleId);
      if (o.sort) q.set('sort', o.sort);
      const res = await client(process.env).call('GET', `/users/export?${q}`);
      const body = Readable.fromWeb(res.body as never);
      if (o.output) await pipeline(body, fs.createWriteStream(o.output));
      else await pipeline(body, out.stdout);
    });
}

type Out = Parameters<typeof addDataCommands>[1];

/** An import command: upload the file, then (with --wait) follow the job with a progress bar and exit by its outcome. */
function importCommand(parent: Command, out: Out, spec: { name: string; description: string; endpoint: string; counts: (c: JobView['counts']) => string }) {
  parent
    .command(spec.name)
    .description(spec.description)
    .argument('<file>', 'the file to import')
    .option('--wait', 'wait for the job to finish, showing progress; exit 0 when every row succeeded, 3 when some failed, 1 when the file was refused')
    .option('--idempotency-key <key>', 'return the same job when the same file is sent again with this key')
    .option('--json', 'print the job as JSON')
    .action(async (file: string, o: { wait?: boolean; idempotencyKey?: string; json?: boolean }) => {
      if (!fs.existsSync(file)) throw new AppError('VALIDATION_FAILED', `No file ${file}`);
      const api = client(process.env);
      const form = new FormData();
      form.append('file', await fs.openAsBlob(file), path.basename(file));
      const headers: Record<string, string> = o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {};
      let job = (await (await api.call('POST', spec.endpoint, form, headers)).json()) as JobView;
      if (!o.wait) {
        out.stdout.write(o.json ? JSON.stringify(job) + '\n' : `Job ${job.id} queued (${job.fileName}); follow it with GET /api/v1/jobs/${job.id}\n`);
        return;
      }
      const bar = out.isTTY && !o.json ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {value}/{total} rows | failed {failed}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
      let started = false;
      while (!finished(job.status)) {
        await new Promise((r) => setTimeout(r, 500));
        job = (await (await api.call('GET', `/jobs/${job.id}`)).json()) as JobView;
        if (bar && job.progress.total !== null) {
          if (!started) bar.start(job.progress.total, 0, { failed: 0 });
          started = true;
          bar.update(job.progress.processed, { failed: job.counts.failed });
        }
      }
      bar?.stop();
      if (o.json) out.stdout.write(JSON.stringify(job) + '\n');
      else {
        if (job.status === 'failed') out.stdout.write(`The file was refused: ${job.error?.code}: ${job.error?.message}${job.error?.line ? ` (line ${job.error.line})` : ''}\n`);
        else out.stdout.write(`${job.fileName}: ${job.status}. ${spec.counts(job.counts)}\n`);
        for (const w of job.warnings) out.stdout.write(`Warning: ${w}\n`);
        if (job.counts.failed) out.stdout.write(`Results, failed rows included: GET /api/v1/jobs/${job.id}/results\n`);
      }
      out.setExit(importExitStatus(job));
    });
}
