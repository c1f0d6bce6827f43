/**
 * A whole Pippin for a test, built as in production (real database, real services, real HTTP app)
 * and driven with `app.inject()` as admins of each role would drive it.
 */
import type { LightMyRequestResponse } from 'fastify';
import { operatorActor } from '../../src/accounts/service.js';
import type { Role } from '../../src/accounts/model.js';
import { createPippin, ensureFirstAccount, type Pippin } from '../../src/main.js';
import type { RunnerOptions } from '../../src/jobs/runner.js';
import type { ImportLimits } from '../../src/jobs/table-job.js';
import type { Stores, UnitOfWork } from '../../src/stores.js';
import { testConfig, type Engine } from './db.js';
import { freePort } from '../setup/postgres.js';

export const OWNER = { email: 'owner@example.com', password: 'owner-password-1' };

/** Import limits far above any test file, for tests that run an import job by hand. */
export const TEST_IMPORT_LIMITS: ImportLimits = { maxBytes: 1e9, maxRows: 1e6, xlsxMaxRows: 1e5, xlsxMaxInflatedBytes: 1e8 };

/** The unit of work with its stores changed by `change` (a fault, a concurrent writer). */
export const withStores = (uow: UnitOfWork, change: (s: Stores) => Stores): UnitOfWork => ({ ...uow, inAccount: (accountId, fn) => uow.inAccount(accountId, (s) => fn(change(s))) });

export interface Caller {
  email: string;
  password: string;
  cookie: string;
  csrf: string;
  accountId: string;
  adminId: string;
}

export interface TestPippin extends Pippin {
  engine: Engine;
  accountId: string;
  owner: Caller;
  /** Signs in and returns the session cookie and CSRF token. */
  signIn(email: string, password: string): Promise<Caller>;
  /** Adds an admin of the role to an account (the first one by default) and signs them in. */
  adminWithRole(role: Role, accountId?: string): Promise<Caller>;
  /** A second account with its own owner. */
  otherAccount(): Promise<{ accountId: string; owner: Caller }>;
  /** Calls the API as a signed-in admin (CSRF header included unless `csrf: false`). */
  call(as: Caller | null, method: string, url: string, body?: unknown, opts?: { csrf?: boolean; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
}

let seq = 0;

export async function createTestPippin(
  engine: Engine,
  env: Record<string, string> = {},
  opts: { runJobs?: boolean; runner?: Partial<RunnerOptions> } = {},
): Promise<TestPippin> {
  const config = await testConfig(engine, env);
  const pippin = await createPippin(config, { consoleDir: '/nonexistent', runJobs: opts.runJobs, runner: { pollMs: 100, batchRows: 1000, ...opts.runner } });
  await ensureFirstAccount(pippin.services, config);
  const signIn = async (email: string, password: string): Promise<Caller> => {
    const res = await pippin.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email, password } });
    if (res.statusCode !== 200) throw new Error(`sign-in of ${email} failed: ${res.statusCode} ${res.body}`);
    const cookie = res.cookies.find((c) => c.name === 'pippin_session')!;
    const body = res.json();
    return { email, password, cookie: `pippin_session=${cookie.value}`, csrf: body.csrfToken, accountId: body.account.id, adminId: body.admin.id };
  };
  const owner = await signIn(OWNER.email, OWNER.password);
  const t: TestPippin = {
    ...pippin,
    engine,
    accountId: owner.accountId,
    owner,
    signIn,
    async adminWithRole(role, accountId = owner.accountId) {
      const email = `${role}-${++seq}@example.com`;
      const password = `${role}-password-${seq}`;
      await pippin.services.accounts.createAdmin(operatorActor(accountId), { email, role, password });
      return signIn(email, password);
    },
    async otherAccount() {
      const email = `other-owner-${++seq}@example.net`;
      const password = 'other-password-1';
      const { account } = await pippin.services.accounts.createAccount({ name: `Other ${seq}`, ownerEmail: email, ownerPassword: password });
      return { accountId: account.id, owner: await signIn(email, password) };
    },
    call(as, method, url, body, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (as) {
        headers.cookie = as.cookie;
        if (opts.csrf !== false) headers['x-csrf-token'] = as.csrf;
      }
      return pippin.app.inject({ method: method as 'GET', url, headers, ...(body !== undefined ? { payload: body as object } : {}) });
    },
  };
  return t;
}

/** A multipart/form-data body with one file. */
export function multipart(fileName: string, content: string | Buffer, field = 'file') {
  const boundary = `----pippin${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${fileName}"\r\nContent-Type: text/csv\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { payload: Buffer.concat([head, Buffer.isBuffer(content) ? content : Buffer.from(content), tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Uploads an import file (users import by default, or Bulk Add) as the caller. */
export async function uploadFile(t: TestPippin, as: Caller, url: string, fileName: string, content: string | Buffer, idempotencyKey?: string) {
  const body = multipart(fileName, content);
  return t.app.inject({
    method: 'POST',
    url,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf, 'content-type': body.contentType, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    payload: body.payload,
  });
}

/** Uploads a users import as the caller. */
export const uploadUsers = (t: TestPippin, as: Caller, fileName: string, content: string | Buffer, idempotencyKey?: string) =>
  uploadFile(t, as, '/api/v1/users/imports', fileName, content, idempotencyKey);

/** Uploads a Bulk Add file as the caller. */
export const uploadRequests = (t: TestPippin, as: Caller, fileName: string, content: string | Buffer, idempotencyKey?: string) =>
  uploadFile(t, as, '/api/v1/enrollment-requests/bulk', fileName, content, idempotencyKey);

/** Waits until the job has finished and returns it. */
export async function waitForJob(t: TestPippin, as: Caller, id: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = (await t.call(as, 'GET', `/api/v1/jobs/${id}`)).json();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A SQLite test Pippin listening on a free loopback port that is also its PIPPIN_PUBLIC_URL (the
 * portal, discovery and profiles name that URL, so devices and browsers must reach it there), with
 * the generated test push topic; jobs are not run. `base` is that URL.
 */
export async function createServedTestPippin(): Promise<{ t: TestPippin; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = await createTestPippin('sqlite', { PIPPIN_PUBLIC_URL: base, PIPPIN_ALLOW_TEST_TOPIC: 'true' }, { runJobs: false });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { t, base };
}
