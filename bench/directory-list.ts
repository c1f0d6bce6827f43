/**
 * Directory list budget (issue 3): 1,000,000 users (half with a MAID) on SQLite, measured over HTTP
 * on loopback with autocannon, beside the raw floor measured in the same run: the same query as
 * hand-written SQL through a prepared better-sqlite3 statement (no HTTP, no validation, no mapping).
 * Budget: p99 ≤ 25 ms for each list query.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { createPippin, ensureFirstAccount } from '../src/main.js';
import { operatorActor } from '../src/accounts/service.js';
import { sqliteFile } from '../src/db/database.js';
import { normaliseKey } from '../src/core/names.js';
import { encodeCursor } from '../src/core/paging.js';
import { nameWords } from '../src/directory/model.js';
import { csvText } from '../src/bulk/writers.js';
import { escapeFormula } from '../src/bulk/formula.js';

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2);

const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Frances', 'Edsger', 'Radia', 'Donald', 'Hedy', 'John', 'Katherine', 'Tim', 'Sophie', 'Niklaus', 'Joan', 'Vint'];
// 400 distinct surnames (20 × 20 syllables, no one a prefix of another): a surname search matches
// ~0.25% of the directory, 2,500 of a million users.
const HEADS = ['Ab', 'Bel', 'Cor', 'Dun', 'Ed', 'Fal', 'Gor', 'Hal', 'Ing', 'Jor', 'Kel', 'Lun', 'Mor', 'Nor', 'Ost', 'Pen', 'Quin', 'Ros', 'Stan', 'Tor'];
const TAILS = ['ley', 'ford', 'wick', 'ton', 'berg', 'stone', 'field', 'more', 'worth', 'by', 'dale', 'ham', 'well', 'wood', 'croft', 'hurst', 'mond', 'shaw', 'combe', 'gate'];
const LAST = HEADS.flatMap((h) => TAILS.map((t) => h + t));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function seed(file: string, accountId: string): void {
  const db = new SQLite(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const accountNo = db.prepare('select no from accounts where id = ?').pluck().get(accountId) as number;
  const insertUser = db.prepare(`insert into users (id, account_id, account_no, username, domain, username_key, domain_key, email, email_key, full_name, full_name_key,
    phone, groups_json, auth_type, maid, maid_key, status, password_hash, device_count, created_at, updated_at)
    values (?, ?, ?, ?, 'example.com', ?, 'example.com', ?, ?, ?, ?, '', '[]', 'local', ?, ?, 'active', null, 0, ?, ?)`);
  const insertWord = db.prepare('insert into user_name_words (account_id, word, username_key, domain_key, user_id) values (?, ?, ?, ?, ?)');
  const now = new Date().toISOString();
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const username = `user${String(i).padStart(7, '0')}`;
      const fullName = `${FIRST[i % FIRST.length]} ${LAST[(i * 7919) % LAST.length]}`;
      const email = `${username}@corp.example.com`;
      const maid = i % 2 === 0 ? `${username}@appleid.example.com` : null;
      const id = uuidv7();
      insertUser.run(id, accountId, accountNo, username, username, email, email, fullName, normaliseKey(fullName), maid, maid, now, now);
      for (const w of nameWords(fullName)) insertWord.run(accountId, w, username, 'example.com', id);
    }
  });
  for (let i = 0; i < USERS; i += 20_000) batch(i, Math.min(USERS, i + 20_000));
  db.prepare('insert or replace into user_stats (account_id, total, linked) values (?, ?, ?)').run(accountId, USERS, Math.ceil(USERS / 2));
  // No ANALYZE here: the server brings the planner's statistics up to date itself when it opens the database.
  db.close();
}

export async function benchDirectoryList() {
  // BENCH_DATA_DIR keeps the seeded database between runs (for iterating on queries).
  const keep = process.env.BENCH_DATA_DIR;
  const reuse = !!keep && fs.existsSync(sqliteFile(keep));
  const dataDir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-'));
  const config = loadConfig({ PIPPIN_DATA_DIR: dataDir, PIPPIN_ADMIN_EMAIL: 'owner@example.com', PIPPIN_ADMIN_PASSWORD: 'bench-password-1' });
  let pippin = await createPippin(config, { consoleDir: '/nonexistent' });
  if (!reuse) await ensureFirstAccount(pippin.services, config);
  const [account] = await pippin.services.uow.system('operator command', (s) => s.operator.listAccounts());
  const owner = (await pippin.services.accounts.listAdmins(operatorActor(account!.id), {})).items[0]!;
  const { token } = await pippin.services.auth.createToken(operatorActor(account!.id), { name: 'bench', forAdminId: owner.id });
  await pippin.close();

  const t0 = performance.now();
  if (!reuse) seed(sqliteFile(dataDir), account!.id);
  const seedSeconds = (performance.now() - t0) / 1000;
  console.log(reuse ? `reusing the users in ${dataDir}` : `seeded ${USERS.toLocaleString()} users in ${seedSeconds.toFixed(1)} s`);

  pippin = await createPippin(config, { consoleDir: '/nonexistent' });
  const url = await pippin.app.listen({ port: 0, host: '127.0.0.1' });

  // A cursor a quarter of the way into "Not linked, by username".
  const raw = new SQLite(sqliteFile(dataDir), { readonly: true });
  // The users' indexes lead with the account's number.
  const accountNo = raw.prepare('select no from accounts where id = ?').pluck().get(account!.id) as number;
  const deep = raw
    .prepare('select username_key, domain_key, id from users where account_no = ? and maid_key is null order by username_key, domain_key, id limit 1 offset ?')
    .get(accountNo, Math.floor(USERS / 8)) as { username_key: string; domain_key: string; id: string };
  const deepCursor = encodeCursor([deep.username_key, deep.domain_key, deep.id]);
  const surname = normaliseKey(LAST[3]!);

  /** The unlinked users after the deep cursor, by username: one page's floor. */
  const unlinkedAfterDeep = {
    sql: `select * from users where account_no = ? and maid_key is null and (username_key, domain_key, id) > (?, ?, ?)
          order by username_key, domain_key, id limit 51`,
    args: [accountNo, deep.username_key, deep.domain_key, deep.id],
  };
  /** A first page of every user in one sort, and its floor: the same rows in the same order straight from SQLite. */
  const everyone = (name: string, sort: string, orderBy: string, where = '') => ({
    name: `everyone, ${name}`,
    path: `/api/v1/users?sort=${sort}&limit=50`,
    floor: { sql: `select * from users where account_no = ?${where} order by ${orderBy} limit 51`, args: [accountNo] },
    budgetP99Ms: 25,
  });
  const cases = [
    {
      name: 'not linked, by username, first page',
      path: '/api/v1/users?managedAppleId=missing&sort=username&limit=50',
      floor: {
        sql: 'select * from users where account_no = ? and maid_key is null order by username_key, domain_key, id limit 51',
        args: [accountNo],
      },
      budgetP99Ms: 25,
    },
    {
      name: 'not linked, by username, deep cursor page',
      path: `/api/v1/users?managedAppleId=missing&sort=username&limit=50&cursor=${deepCursor}`,
      floor: unlinkedAfterDeep,
      budgetP99Ms: 25,
    },
    {
      name: `name search q=${surname}, by username`,
      path: `/api/v1/users?q=${encodeURIComponent(surname)}&sort=username&limit=50`,
      floor: {
        sql: `select * from users where id in (select id from (
                select id, username_key, domain_key from users where account_no = @no and username_key >= @lo and username_key < @hi
                union select id, username_key, domain_key from users where account_no = @no and email_key >= @lo and email_key < @hi
                union select id, username_key, domain_key from users where account_no = @no and maid_key >= @lo and maid_key < @hi
                union select user_id, username_key, domain_key from user_name_words where account_id = @acc and word >= @lo and word < @hi)
              order by username_key, domain_key, id limit 51)`,
        args: [] as unknown[],
        named: true,
      },
      budgetP99Ms: 25,
    },
    everyone('by full name, first page', 'fullName', 'full_name_key, id'),
    everyone('by email, first page', 'email', 'email_key, id'),
    everyone('by MAID, first page', 'managedAppleId', 'maid_key', ' and maid_key is not null'),
    {
      // Past the linked users: the unlinked, by username.
      name: 'everyone, by MAID, a page of the unlinked',
      path: `/api/v1/users?sort=managedAppleId&limit=50&cursor=${encodeCursor([null, deep.username_key, deep.domain_key, deep.id])}`,
      floor: unlinkedAfterDeep,
      budgetP99Ms: 25,
    },
    everyone('newest first', '-createdAt', 'created_at desc, id desc'),
    {
      name: 'summary',
      path: '/api/v1/users/summary',
      floor: { sql: 'select total, linked from user_stats where account_id = ?', args: [account!.id] },
      budgetP99Ms: 25,
    },
  ];

  // The raw HTTP floor: an endpoint that does nothing.
  const http = await autocannon({ url: `${url}/healthz`, connections: CONNECTIONS, duration: Math.max(3, SECONDS / 2) });
  const results = [];
  for (const c of cases) {
    const stmt = raw.prepare(c.floor.sql);
    const run = () => ((c.floor as { named?: boolean }).named ? stmt.all({ lo: surname, hi: surname + '\u{10FFFF}', acc: account!.id, no: accountNo }) : stmt.all(...c.floor.args));
    for (let i = 0; i < 20; i++) run();
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const s = performance.now();
      run();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const check = await fetch(url + c.path, { headers: { authorization: `Bearer ${token}` } });
    if (check.status !== 200) throw new Error(`${c.name}: ${check.status} ${await check.text()}`);
    const answer = (await check.json()) as { items?: unknown[]; total?: number };
    if (answer.items && answer.items.length === 0) throw new Error(`${c.name}: the query found nothing, so it measures nothing`);
    if (run().length === 0) throw new Error(`${c.name}: the floor query found nothing`);
    const r = await autocannon({ url: url + c.path, connections: CONNECTIONS, duration: SECONDS, headers: { authorization: `Bearer ${token}` } });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${c.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    const row = {
      name: c.name,
      path: c.path.length > 120 ? c.path.slice(0, 117) + '...' : c.path,
      requests: r.requests.total,
      rps: Math.round(r.requests.average),
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      maxMs: r.latency.max,
      floorSqlP50Ms: Number(percentile(times, 50).toFixed(3)),
      floorSqlP99Ms: Number(percentile(times, 99).toFixed(3)),
      budgetP99Ms: c.budgetP99Ms,
      withinBudget: r.latency.p99 <= c.budgetP99Ms,
      matches: answer.total ?? null,
    };
    results.push(row);
    console.log(
      `${row.name.padEnd(44)} p50 ${String(row.p50Ms).padStart(5)} ms  p99 ${String(row.p99Ms).padStart(5)} ms  (${row.rps} req/s)` +
        `   floor: SQL p99 ${row.floorSqlP99Ms} ms, HTTP /healthz p99 ${http.latency.p99} ms   budget p99 ≤ ${row.budgetP99Ms} ms ${row.withinBudget ? 'OK' : 'OVER'}`,
    );
  }
  // Export every user to CSV, streamed: time to the last byte and the server's RSS.
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  // The client is curl in its own process, so the server's thread does only the server's work.
  const outFile = path.join(dataDir, 'export.csv');
  const e0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const curl = spawn('curl', ['-sf', '-o', outFile, '-H', `authorization: Bearer ${token}`, `${url}/api/v1/users/export?format=csv`]);
    curl.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}`))));
  });
  const exportSeconds = (performance.now() - e0) / 1000;
  clearInterval(sampler);
  const exported = fs.readFileSync(outFile);
  const bytes = exported.length;
  let lines = 0;
  for (let i = exported.indexOf(10); i >= 0; i = exported.indexOf(10, i + 1)) lines++;
  fs.rmSync(outFile);
  // The floor: the same rows and columns read straight from SQLite as arrays (better-sqlite3's raw
  // mode, no objects) and written as CSV text by Pippin's writer with formulas neutralised, 5,000
  // rows at a time as the export reads them; no HTTP.
  const f0 = performance.now();
  let floorBytes = 0;
  const exportColumns = 'username, domain, email, full_name, phone, groups_json, auth_type, maid, id, status, created_at, updated_at, device_count';
  let floorBatch: string[][] = [];
  const writeFloor = () => {
    floorBytes += csvText(floorBatch, ',', escapeFormula).length;
    floorBatch = [];
  };
  for (const r of raw.prepare(`select ${exportColumns} from users where account_no = ? order by username_key, domain_key, id`).raw(true).iterate(accountNo) as Iterable<unknown[]>) {
    floorBatch.push(r.map((v) => (v === null ? '' : String(v))));
    if (floorBatch.length === 5000) writeFloor();
  }
  writeFloor();
  const floorSeconds = (performance.now() - f0) / 1000;
  const exportFigures = {
    rows: lines - 1,
    bytes,
    seconds: Number(exportSeconds.toFixed(2)),
    floorSeconds: Number(floorSeconds.toFixed(2)),
    ratio: Number((exportSeconds / floorSeconds).toFixed(2)),
    peakRssMb: Math.round(peakRss / 2 ** 20),
    budgetSeconds: 8,
    withinBudget: exportSeconds <= 8,
  };
  console.log(
    `export ${exportFigures.rows.toLocaleString()} users to CSV: ${exportFigures.seconds} s (floor: SQL rows as arrays + CSV text ${exportFigures.floorSeconds} s, ` +
      `${exportFigures.ratio}×), peak RSS ${exportFigures.peakRssMb} MB   budget ≤ 8 s ${exportFigures.withinBudget ? 'OK' : 'OVER'}`,
  );
  raw.close();
  await pippin.close();
  if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    bench: 'directory-list',
    engine: 'sqlite',
    users: USERS,
    seedSeconds: Number(seedSeconds.toFixed(1)),
    connections: CONNECTIONS,
    secondsPerCase: SECONDS,
    httpFloor: { path: '/healthz', p50Ms: http.latency.p50, p99Ms: http.latency.p99, rps: Math.round(http.requests.average) },
    cases: results,
    export: exportFigures,
  };
}
