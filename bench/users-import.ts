/**
 * Bulk Import Users budget (issue 4): N users from CSV into SQLite with all validation, timed from
 * the start of the upload until the job has succeeded, beside the raw floor of the same run:
 * csv-parse straight into better-sqlite3 with prepared statements into the same users table with the
 * same indexes, and the name-word rows that index the same names (no validation, no job machinery,
 * no results file). Also: the
 * re-import of the same users as updates, the server's peak RSS, and the directory list p99 while
 * the import runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import { parse } from 'csv-parse';
import { v7 as uuidv7 } from 'uuid';
import { openSqlite } from '../src/db/database.js';
import { migrate } from '../src/db/migrations.js';
import { normaliseKey } from '../src/core/names.js';
import { indexedNameWords } from '../src/directory/model.js';
import { findPgBin, startCluster } from '../test/setup/postgres.js';

const USERS = Number(process.env.BENCH_IMPORT_USERS ?? 1_000_000);
const XLSX_USERS = Number(process.env.BENCH_XLSX_USERS ?? 100_000);

function writeCsv(file: string, n: number, nameSuffix = ''): void {
  const out = fs.openSync(file, 'w');
  fs.writeSync(out, 'Username,Email Address,Full Name,Managed Apple ID\n');
  let buf: string[] = [];
  for (let i = 0; i < n; i++) {
    buf.push(`user${i},user${i}@corp.example.com,First${i % 50} Last${i % 400}${nameSuffix},${i % 2 ? '' : `user${i}@appleid.example.com`}`);
    if (buf.length === 10_000) {
      fs.writeSync(out, buf.join('\n') + '\n');
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(out, buf.join('\n') + '\n');
  fs.closeSync(out);
}

async function floor(dir: string, file: string): Promise<number> {
  const dbFile = path.join(dir, 'floor.sqlite');
  const d = openSqlite(dbFile);
  await migrate(d.kysely, d.caps);
  await d.close();
  const db = new SQLite(dbFile);
  for (const p of ['journal_mode = WAL', 'synchronous = NORMAL', 'cache_size = -65536', 'wal_autocheckpoint = 8000']) db.pragma(p);
  const acc = uuidv7();
  db.prepare(`insert into accounts (id, account_id, key, name, deployment_mode, default_request_mode, default_domain, default_auth_mode, seamless_enrollment,
    request_expiry_hours, passcode_length, use_email_as_maid, require_genuine_apple_devices, created_at, updated_at)
    values (?, ?, 'floor', 'Floor', 'mdm', 'enrollment', 'example.com', 'passcode', 0, 168, 8, 0, 0, '', '')`).run(acc, acc);
  const ins = db.prepare(`insert into users (id, account_id, username, domain, username_key, domain_key, email, email_key, full_name, full_name_key, phone,
    groups_json, auth_type, maid, maid_key, status, device_count, created_at, updated_at)
    values (?, ?, ?, 'example.com', ?, 'example.com', ?, ?, ?, ?, '', '[]', 'local', ?, ?, 'active', 0, ?, ?)`);
  const word = db.prepare(`insert into user_name_words (account_id, word, username_key, domain_key, user_id) values (?, ?, ?, 'example.com', ?)`);
  const now = new Date().toISOString();
  const flush = db.transaction((rows: string[][]) => {
    for (const r of rows) {
      const maid = r[3] || null;
      const id = uuidv7();
      const uk = normaliseKey(r[0]!);
      ins.run(id, acc, r[0], uk, r[1], normaliseKey(r[1]!), r[2], normaliseKey(r[2]!), maid, maid, now, now);
      for (const w of indexedNameWords(r[2]!)) word.run(acc, w, uk, id);
    }
  });
  const t0 = performance.now();
  let batch: string[][] = [];
  for await (const r of fs.createReadStream(file).pipe(parse({ from_line: 2 }))) {
    batch.push(r as string[]);
    if (batch.length === 1000) {
      flush(batch);
      batch = [];
    }
  }
  flush(batch);
  const seconds = (performance.now() - t0) / 1000;
  db.close();
  return seconds;
}

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The kB figure of one line of /proc/<pid>/status (VmRSS now, VmHWM the peak), in MB. */
function procMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field + ':'))!;
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
}

/**
 * Runs the real server — `pippin serve`, compiled (dist/server), with its job worker thread — as a
 * separate process, so its RSS is the server's alone.
 */
async function startServer(dataDir: string, extraEnv: Record<string, string> = {}) {
  const bin = path.resolve('dist/server/cli/main.js'); // built by `npm run bench` before it starts
  const port = await freePort();
  const env = { ...process.env, PIPPIN_DATA_DIR: dataDir, PORT: String(port), PIPPIN_HOST: '127.0.0.1', PIPPIN_PUBLIC_URL: `http://127.0.0.1:${port}`, PIPPIN_ADMIN_EMAIL: 'owner@example.com', PIPPIN_ADMIN_PASSWORD: 'bench-password-1', LOG_LEVEL: 'warn', ...extraEnv };
  const child = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`pippin serve exited with ${code}`)));
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('Pippin is ready') && resolve());
  });
  const token = execFileSync(process.execPath, [bin, 'token', 'create', '--name', 'bench'], { env, encoding: 'utf8' }).trim();
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    token,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;

/** Uploads a file to the server and waits for its import job; the list is measured meanwhile. */
async function importFile(server: Server, f: string, name: string) {
  const { url } = server;
  const auth = { authorization: `Bearer ${server.token}` };
  // Linux: writing 5 to clear_refs resets the peak (VmHWM), so each import reports its own.
  fs.writeFileSync(`/proc/${server.pid}/clear_refs`, '5');
  const t0 = performance.now();
  const form = new FormData();
  form.append('file', await fs.openAsBlob(f), name);
  const res = await fetch(`${url}/api/v1/users/imports`, { method: 'POST', headers: auth, body: form });
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
  const id = ((await res.json()) as { id: string }).id;
  // The directory list while the import runs.
  const during = autocannon({ url: `${url}/api/v1/users?managedAppleId=missing&sort=username&limit=50`, connections: 1, duration: 5, headers: auth });
  let job: any;
  for (;;) {
    job = await (await fetch(`${url}/api/v1/jobs/${id}`, { headers: auth })).json();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (performance.now() - t0) / 1000;
  const peak = procMb(server.pid, 'VmHWM');
  const list = await during;
  if (job.status !== 'succeeded') throw new Error(`import ${job.status}: ${JSON.stringify(job.error)}`);
  return { seconds: Number(seconds.toFixed(1)), counts: job.counts, peakRssMb: peak, listDuringImport: { p50Ms: list.latency.p50, p99Ms: list.latency.p99, requests: list.requests.total } };
}


/** The 1M CSV import on PostgreSQL (budget 60 s), on a throwaway cluster: its own bench, as it needs the server binaries. */
export async function benchUsersImportPostgres() {
  if (!findPgBin()) {
    console.log('PostgreSQL server binaries not found (Debian: apt-get install postgresql): not measured');
    return { bench: 'users-import-postgres', skipped: 'no PostgreSQL server binaries' };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-import-pg-'));
  const file = path.join(dir, 'users.csv');
  writeCsv(file, USERS);
  const cluster = await startCluster();
  try {
    const server = await startServer(path.join(dir, 'data'), { DATABASE_URL: cluster.url, PIPPIN_SECRET_KEY: randomBytes(32).toString('hex') });
    const run = await importFile(server, file, 'users.csv');
    await server.stop();
    console.log(`import ${USERS.toLocaleString()} users on PostgreSQL: ${run.seconds} s (budget ≤ 60 s); server peak RSS ${run.peakRssMb} MB; list p99 during the import ${run.listDuringImport.p99Ms} ms`);
    return { bench: 'users-import-postgres', engine: 'postgres', rows: USERS, import: { ...run, withinBudget: run.seconds <= 60 } };
  } finally {
    cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** 100,000 users as an XLSX workbook (a Users sheet), written with exceljs' streaming writer. */
async function writeXlsx(file: string, n: number): Promise<void> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: false, useStyles: false });
  const ws = wb.addWorksheet('Users');
  ws.addRow(['Username', 'Email Address', 'Full Name', 'Managed Apple ID']).commit();
  for (let i = 0; i < n; i++) ws.addRow([`x${i}`, `x${i}@corp.example.com`, `First${i % 50} Last${i % 400}`, i % 2 ? '' : `x${i}@appleid.example.com`]).commit();
  ws.commit();
  await wb.commit();
}

export async function benchUsersImport() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-import-'));
  const file = path.join(dir, 'users.csv');
  const file2 = path.join(dir, 'users-renamed.csv');
  writeCsv(file, USERS);
  writeCsv(file2, USERS, 'x');
  const floorSeconds = await floor(dir, file);
  console.log(`floor: ${USERS.toLocaleString()} rows csv-parse → prepared INSERTs, same tables and indexes: ${floorSeconds.toFixed(1)} s`);

  const server = await startServer(path.join(dir, 'data'));
  const idleRssMb = procMb(server.pid, 'VmRSS');
  console.log(`server idle (HTTP and job worker threads): RSS ${idleRssMb} MB`);

  const first = await importFile(server, file, 'users.csv');
  const ratio = Number((first.seconds / floorSeconds).toFixed(2));
  console.log(`import ${USERS.toLocaleString()} users: ${first.seconds} s = ${ratio}× the floor (budget ≤ 1.5× and ≤ 45 s); server peak RSS ${first.peakRssMb} MB (budget ≤ 300); list p99 during the import ${first.listDuringImport.p99Ms} ms`);
  const again = await importFile(server, file2, 'users-renamed.csv');
  console.log(`re-import as updates: ${again.seconds} s (budget ≤ 45 s); counts ${JSON.stringify(again.counts)}; server peak RSS ${again.peakRssMb} MB`);
  await server.stop();

  // 100,000 users from XLSX into a fresh directory.
  const xlsx = path.join(dir, 'users.xlsx');
  await writeXlsx(xlsx, XLSX_USERS);
  const xServer = await startServer(path.join(dir, 'data-xlsx'));
  const fromXlsx = await importFile(xServer, xlsx, 'users.xlsx');
  await xServer.stop();
  console.log(`import ${XLSX_USERS.toLocaleString()} users from XLSX: ${fromXlsx.seconds} s (budget ≤ 6 s); server peak RSS ${fromXlsx.peakRssMb} MB (budget ≤ 300)`);

  fs.rmSync(dir, { recursive: true, force: true });
  return {
    bench: 'users-import',
    engine: 'sqlite',
    rows: USERS,
    floorSeconds: Number(floorSeconds.toFixed(1)),
    serverIdleRssMb: idleRssMb,
    import: { ...first, ratioToFloor: ratio, withinBudget: ratio <= 1.5 && first.seconds <= 45 && first.peakRssMb <= 300 },
    reimportAsUpdates: { ...again, withinBudget: again.seconds <= 45 },
    xlsx: { rows: XLSX_USERS, ...fromXlsx, withinBudget: fromXlsx.seconds <= 6 && fromXlsx.peakRssMb <= 300 },
  };
}
