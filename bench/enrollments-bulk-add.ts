/**
 * Bulk Add budget (issue 5): N enrollment requests (half User Enrollment) from CSV to Pending on
 * SQLite, timed from the start of the upload until the job has succeeded, not counting the outbox
 * drain — beside the raw floor of the same run: csv-parse straight into better-sqlite3 with prepared
 * statements writing the same request and outbox rows into the same tables and indexes (no rules,
 * no secrets, no job machinery). Then the drain: how many notices a second the outbox sender hands
 * to a local SMTP server.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { floorDatabase, timeCsvBatches } from './floor.js';
import { importFile, startServer } from './server.js';
import { startSmtpServer } from '../test/support/smtp.js';

const ROWS = Number(process.env.BENCH_BULK_ADD_ROWS ?? 100_000);
const DRAIN_SECONDS = Number(process.env.BENCH_DRAIN_SECONDS ?? 20);

/** The directory the requests name: every even user has a MAID (the User Enrollment rows). */
function writeUsers(file: string, n: number): void {
  const lines = ['Username,Email Address,Managed Apple ID'];
  for (let i = 0; i < n; i++) lines.push(`emp${i},emp${i}@corp.example.com,${i % 2 ? '' : `emp${i}@appleid.example.com`}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** Half User Enrollment (iOS, Employee Owned, Yes), half ordinary macOS requests; every row notifies by email. */
function writeRequests(file: string, n: number): void {
  const lines = ['Username,Platform,Ownership,Enroll Using iOS User Enrollment,Notify,Comments'];
  for (let i = 0; i < n; i++) lines.push(i % 2 ? `emp${i},macOS,Corporate Owned,No,Email,` : `emp${i},iOS,Employee Owned,Yes,Email,BYOD`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** The floor: the same request and outbox rows, written as fast as better-sqlite3 writes them. */
async function floor(dir: string, file: string, users: number): Promise<number> {
  const { db, accountId: acc, accountNo } = await floorDatabase(dir);
  const now = new Date().toISOString();
  const user = db.prepare(`insert into users (id, account_id, account_no, username, domain, username_key, domain_key, email, email_key, full_name, full_name_key, phone,
    groups_json, auth_type, maid, maid_key, status, device_count, created_at, updated_at)
    values (?, ?, ?, ?, 'example.com', ?, 'example.com', ?, ?, '', '', '', '[]', 'local', null, null, 'active', 0, ?, ?)`);
  const ids = new Map<string, string>();
  db.transaction(() => {
    for (let i = 0; i < users; i++) {
      const id = uuidv7();
      ids.set(`emp${i}`, id);
      user.run(id, acc, accountNo, `emp${i}`, `emp${i}`, `emp${i}@corp.example.com`, `emp${i}@corp.example.com`, now, now);
    }
  })();
  const request = db.prepare(`insert into enrollment_requests (id, account_id, user_id, email, phone, platform, ownership, user_enrollment, request_mode, auth_mode,
    auth_mode_overridden, seamless, notify, comments, status, token_hash, passcode_hash, failed_attempts, requested_by_label, expires_at, created_at, updated_at)
    values (?, ?, ?, ?, '', ?, ?, ?, 'enrollment', 'passcode', 0, 0, 'email', ?, 'pending', ?, ?, 0, 'bench', ?, ?, ?)`);
  const notice = db.prepare(`insert into outbox (id, account_id, kind, sealed, status, attempts, next_attempt_at, created_at, ref_id) values (?, ?, 'enrollment_notice', ?, 'pending', 0, ?, ?, ?)`);
  const sealed = randomBytes(600).toString('base64'); // about the size of a sealed notice
  const seconds = await timeCsvBatches(db, file, (rows) => {
    for (const r of rows) {
      const id = uuidv7();
      const ue = r[3] === 'Yes';
      request.run(id, acc, ids.get(r[0]!), `${r[0]}@corp.example.com`, ue ? 'ios' : 'macos', ue ? 'employee_owned' : 'corporate_owned', ue ? 1 : 0, r[5], randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url'), now, now, now);
      notice.run(uuidv7(), acc, sealed, now, now, id);
    }
  });
  db.close();
  return seconds;
}

export async function benchBulkAdd() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-bulk-add-'));
  const usersFile = path.join(dir, 'users.csv');
  const requestsFile = path.join(dir, 'requests.csv');
  writeUsers(usersFile, ROWS);
  writeRequests(requestsFile, ROWS);
  const floorSeconds = await floor(dir, requestsFile, ROWS);
  console.log(`floor: ${ROWS.toLocaleString()} requests and their notices csv-parse → prepared INSERTs, same tables and indexes: ${floorSeconds.toFixed(2)} s`);

  const smtp = await startSmtpServer({ parse: false });
  const data = path.join(dir, 'data');
  const secret = { PIPPIN_SECRET_KEY: randomBytes(32).toString('hex'), SMTP_URL: `smtp://127.0.0.1:${smtp.port}` };
  const server = await startServer(data, secret);
  await importFile(server, usersFile, 'users.csv');
  const run = await importFile(server, requestsFile, 'requests.csv', '/api/v1/enrollment-requests/bulk', { measureList: false });
  const ratio = Number((run.seconds / floorSeconds).toFixed(2));
  console.log(
    `Bulk Add ${ROWS.toLocaleString()} requests (half User Enrollment) to Pending: ${run.seconds} s = ${ratio}× the floor (budget ≤ 10 s); ` +
      `counts ${JSON.stringify(run.counts)}; server peak RSS ${run.peakRssMb} MB`,
  );
  await server.stop();

  // The drain, with the pacing lifted so the figure is the sender's own speed (the default paces it to 20 a second).
  const before = smtp.state.accepted;
  const drainer = await startServer(data, { ...secret, PIPPIN_NOTIFY_RATE: '1000' });
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, DRAIN_SECONDS * 1000));
  const sent = smtp.state.accepted - before;
  const drainSeconds = (performance.now() - t0) / 1000;
  await drainer.stop();
  await smtp.close();
  const perSecond = Math.round(sent / drainSeconds);
  console.log(`outbox drain to a local SMTP server (PIPPIN_NOTIFY_RATE=1000): ${sent.toLocaleString()} notices in ${drainSeconds.toFixed(1)} s = ${perSecond}/s (each renders its QR code); the default pacing is 20/s`);

  fs.rmSync(dir, { recursive: true, force: true });
  return {
    bench: 'enrollments-bulk-add',
    engine: 'sqlite',
    rows: ROWS,
    floorSeconds: Number(floorSeconds.toFixed(2)),
    bulkAdd: { ...run, ratioToFloor: ratio, withinBudget: run.seconds <= 10 },
    drain: { seconds: Number(drainSeconds.toFixed(1)), sent, perSecond, rateSetting: 1000 },
  };
}
