/**
 * Crash and resume, for real: a Pippin server process is killed with SIGKILL in the middle of an
 * import, started again, and the job finishes with every row applied exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../setup/postgres.js';
import { tempDir } from '../support/db.js';

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

async function serve(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  // Through the `pippin` launcher, as `npm start` runs it (it execs Node: the child is the server).
  const child = spawn(path.resolve('bin/pippin'), ['serve'], {
    env: { ...process.env, ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`, PORT: String(port), PIPPIN_HOST: '127.0.0.1', LOG_LEVEL: 'warn', PIPPIN_PUBLIC_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pippin exited: ${log}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) return { child, url };
    if (Date.now() > until) throw new Error(`pippin did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function signIn(url: string) {
  const res = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'owner@example.com', password: 'owner-password-1' }) });
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: body.csrfToken };
}

async function job(url: string, s: { cookie: string }, id: string) {
  return (await (await fetch(`${url}/api/v1/jobs/${id}`, { headers: { cookie: s.cookie } })).json()) as any;
}

describe('an import survives SIGKILL of its process', () => {
  it('resumes after a restart from the last committed batch, every row exactly once', async () => {
    const dataDir = tempDir('pippin-crash-');
    const env = { PIPPIN_DATA_DIR: dataDir, PIPPIN_ADMIN_EMAIL: 'owner@example.com', PIPPIN_ADMIN_PASSWORD: 'owner-password-1', PIPPIN_TEST_JOB_STALE_MS: '1500', PIPPIN_TEST_IMPORT_BATCH_ROWS: '1000' };
    const first = await serve({ ...env, PIPPIN_TEST_HANG_AFTER_BATCH: '2' });
    // The launcher exec'd Node with its heap limit and glibc's thresholds: the process killed below is the server.
    expect(fs.readFileSync(`/proc/${first.child.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['--max-old-space-size=1024', path.resolve('bin/pippin.js'), 'serve']));
    // (glibc splits the variable in place as it reads it, so look for each setting.)
    const environ = fs.readFileSync(`/proc/${first.child.pid}/environ`, 'utf8');
    for (const setting of ['GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072', 'glibc.malloc.trim_threshold=131072']) expect(environ).toContain(setting);
    let session = await signIn(first.url);
    const csv = ['Username,Email Address,Managed Apple ID', ...Array.from({ length: 3500 }, (_, i) => `k${i},k${i}@corp.example,k${i}@appleid.example.com`)].join('\n');
    const form = new FormData();
    form.append('file', new Blob([csv]), 'crash.csv');
    const created = await fetch(`${first.url}/api/v1/users/imports`, { method: 'POST', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf }, body: form });
    expect(created.status).toBe(202);
    const id = ((await created.json()) as { id: string }).id;
    // Wait until batch 2 is committed (and the worker has stopped dead), then kill the process.
    for (let i = 0; ; i++) {
      const j = await job(first.url, session, id);
      if (j.progress.processed >= 2000) break;
      if (i > 300) throw new Error(`no progress: ${JSON.stringify(j)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await serve(env);
    session = await signIn(second.url);
    let done: any;
    for (let i = 0; ; i++) {
      done = await job(second.url, session, id);
      if (done.status === 'succeeded' || done.status === 'failed') break;
      if (i > 600) throw new Error(`not resumed: ${JSON.stringify(done)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(done).toMatchObject({ status: 'succeeded', progress: { processed: 3500, total: 3500 }, counts: { created: 3500, failed: 0 } });
    const results = await (await fetch(`${second.url}/api/v1/jobs/${id}/results`, { headers: { cookie: session.cookie } })).text();
    const rows = results.trim().split('\r\n').slice(1).map((l) => Number(l.split(',')[3]));
    expect(rows).toEqual(Array.from({ length: 3500 }, (_, i) => i + 2));
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    const db = new SQLite(path.join(dataDir, 'pippin.sqlite'), { readonly: true });
    try {
      expect(db.prepare('select count(*) as n, count(distinct username_key) as u, count(distinct maid_key) as m from users').get()).toEqual({ n: 3500, u: 3500, m: 3500 });
      expect(db.prepare('select total, linked from user_stats').get()).toEqual({ total: 3500, linked: 3500 });
      expect(db.prepare('pragma integrity_check').get()).toEqual({ integrity_check: 'ok' });
    } finally {
      db.close();
    }
  }, 120_000);
});
