/**
 * What the import benchmarks share: the real server (`pippin serve`, compiled) as its own process,
 * its RSS from /proc, and an upload timed until its job has finished, the directory list measured
 * meanwhile.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The kB figure of one line of /proc/<pid>/status (VmRSS now, VmHWM the peak), in MB. */
export function procMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field + ':'))!;
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
}

/**
 * Runs the real server — `pippin serve` through the launcher (bin/pippin) as `npm start` does,
 * compiled (dist/server), with its job worker thread — as a separate process, so its RSS is the
 * server's alone (the launcher execs Node: the child's pid is the server's).
 */
export async function startServer(dataDir: string, extraEnv: Record<string, string> = {}) {
  const bin = path.resolve('dist/server/cli/main.js'); // built by `npm run bench` before it starts
  const port = await freePort();
  // PIPPIN_FROM_SOURCE=0: the compiled server or nothing. A source file edited after the build
  // would otherwise have the launcher run the sources through tsx, which idles ~100 MB higher and
  // runs slower, and the figures would be of that (bench/NOTES.md, stop 30).
  const env = { ...process.env, PIPPIN_FROM_SOURCE: '0', PIPPIN_DATA_DIR: dataDir, PORT: String(port), PIPPIN_HOST: '127.0.0.1', PIPPIN_PUBLIC_URL: `http://127.0.0.1:${port}`, PIPPIN_ADMIN_EMAIL: 'owner@example.com', PIPPIN_ADMIN_PASSWORD: 'bench-password-1', LOG_LEVEL: 'warn', ...extraEnv };
  // BENCH_SERVER_CPU_PROF=<dir>: the server writes a CPU profile there when it stops.
  // BENCH_SERVER_STDOUT=<file>: the server's standard output is copied there (with PIPPIN_NODE_ARGS=--trace-gc, its collections).
  const prof = process.env.BENCH_SERVER_CPU_PROF ? { PIPPIN_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_SERVER_CPU_PROF}` } : {};
  const child = spawn(path.resolve('bin/pippin'), ['serve'], { env: { ...env, ...prof, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`pippin serve exited with ${code}`)));
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('Pippin is ready') && resolve());
    if (process.env.BENCH_SERVER_STDOUT) child.stdout!.pipe(fs.createWriteStream(process.env.BENCH_SERVER_STDOUT));
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

export type Server = Awaited<ReturnType<typeof startServer>>;

/** Uploads a file to the server and waits for its import job; the list is measured meanwhile. */
export async function importFile(server: Server, f: string, name: string, endpoint = '/api/v1/users/imports', opts: { measureList?: boolean } = {}) {
  const { url } = server;
  const auth = { authorization: `Bearer ${server.token}` };
  // Linux: writing 5 to clear_refs resets the peak (VmHWM), so each import reports its own.
  fs.writeFileSync(`/proc/${server.pid}/clear_refs`, '5');
  const t0 = performance.now();
  const form = new FormData();
  form.append('file', await fs.openAsBlob(f), name);
  const res = await fetch(`${url}${endpoint}`, { method: 'POST', headers: auth, body: form });
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
  const id = ((await res.json()) as { id: string }).id;
  const uploadSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
  // The directory list while the import runs.
  const during = opts.measureList === false ? null : autocannon({ url: `${url}/api/v1/users?managedAppleId=missing&sort=username&limit=50`, connections: 1, duration: 5, headers: auth });
  let job: any;
  for (;;) {
    job = await (await fetch(`${url}/api/v1/jobs/${id}`, { headers: auth })).json();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (performance.now() - t0) / 1000;
  const peak = procMb(server.pid, 'VmHWM');
  const list = await during;
  const listDuringImport = list ? { p50Ms: list.latency.p50, p99Ms: list.latency.p99, requests: list.requests.total } : null;
  if (job.status !== 'succeeded') throw new Error(`import ${job.status}: ${JSON.stringify(job.error)}`);
  return { seconds: Number(seconds.toFixed(1)), uploadSeconds, counts: job.counts, peakRssMb: peak, listDuringImport };
}

