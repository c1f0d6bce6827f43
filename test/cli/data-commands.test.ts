import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { operatorActor } from '../../src/accounts/service.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/db.js';

describe('pippin users import / export and enrollments bulk-add over the HTTP API', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let env: Record<string, string>;
  const dir = tempDir('pippin-cli-data-');
  beforeAll(async () => {
    server = await startTestServer();
    const [account] = await server.pippin.services.uow.system('operator command', (s) => s.operator.listAccounts());
    const owner = (await server.pippin.services.accounts.listAdmins(operatorActor(account!.id), {})).items[0]!;
    const { token } = await server.pippin.services.auth.createToken(operatorActor(account!.id), { name: 'cli test', forAdminId: owner.id });
    env = { PIPPIN_URL: server.url, PIPPIN_TOKEN: token };
  });
  afterAll(() => server?.close());

  async function cli(args: string[], extraEnv: Record<string, string> = {}) {
    const saved = { ...process.env };
    Object.assign(process.env, env, extraEnv);
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      return { code: await runCli(args), out, err };
    } finally {
      o.mockRestore();
      e.mockRestore();
      process.env = saved;
    }
  }
  /** Waits until the job has ended (each account runs one import at a time). */
  async function settled(id: string) {
    for (let i = 0; i < 600; i++) {
      const job = (await (await fetch(`${server.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${env.PIPPIN_TOKEN}` } })).json()) as { status: string };
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not end`);
  }
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('imports with --wait: exit 0 when every row applied, 3 when some failed, 1 when the file is refused', async () => {
    const ok = await cli(['users', 'import', write('ok.csv', 'Username,Email Address,Managed Apple ID\ncli1,c1@corp.example,cli1@appleid.example.com\n'), '--wait']);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('Created 1, updated 0, unchanged 0, failed 0.');
    const some = await cli(['users', 'import', write('some.csv', 'Username,Email Address,Managed Apple ID\ncli2,c2@corp.example,\ncli3,c3@corp.example,cli1@appleid.example.com\n'), '--wait', '--json']);
    expect(some.code).toBe(3);
    expect(JSON.parse(some.out)).toMatchObject({ status: 'succeeded', counts: { created: 1, failed: 1 } });
    const refused = await cli(['users', 'import', write('bad.csv', 'Email Address\nx@y.example\n'), '--wait']);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('IMPORT_HEADER_MISSING');
  });

  it('queues without --wait, honours --idempotency-key, and reports API errors with status 1', async () => {
    const file = write('idem.csv', 'Username,Email Address\ncli9,c9@corp.example\n');
    const a = await cli(['users', 'import', file, '--json', '--idempotency-key', 'cli-key-1']);
    const b = await cli(['users', 'import', file, '--json', '--idempotency-key', 'cli-key-1']);
    expect(a.code).toBe(0);
    expect(JSON.parse(b.out).id).toBe(JSON.parse(a.out).id);
    // The queued import holds the account's import lock until it ends: let it end before the next test.
    await settled(JSON.parse(a.out).id);
    const bad = await cli(['users', 'import', file], { PIPPIN_TOKEN: 'pip_nope' });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('UNAUTHENTICATED');
    expect((await cli(['users', 'import', path.join(dir, 'missing.csv')])).code).toBe(1);
  });

  it('Bulk Adds enrollment requests with --wait: Created and Failed rows, exit 3; a workbook is refused with exit 1', async () => {
    const header = 'Username,Platform,Ownership,Enroll Using iOS User Enrollment,Notify';
    const file = write('requests.csv', `${header}\ncli1,iOS,Employee Owned,Yes,None\ncli2,iOS,Employee Owned,Yes,None\n`);
    const run = await cli(['enrollments', 'bulk-add', file, '--wait']);
    expect(run.code).toBe(3);
    expect(run.out).toContain('requests.csv: succeeded. Created 1, refreshed 0, failed 1.');
    const again = await cli(['enrollments', 'bulk-add', write('again.csv', `${header}\ncli1,iPhone,Employee Owned,Yes,None\n`), '--wait', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ kind: 'enrollment_bulk_add', counts: { refreshed: 1, failed: 0 } });
    const xlsx = await cli(['enrollments', 'bulk-add', write('requests.xlsx', 'PK'), '--wait']);
    expect(xlsx.code).toBe(1);
    expect(xlsx.err).toContain('FILE_TYPE_INVALID');
  });

  it('exports CSV to a file or standard output, and XLSX to a file', async () => {
    const file = path.join(dir, 'out.csv');
    expect((await cli(['users', 'export', '-o', file, '--managed-apple-id', 'present'])).code).toBe(0);
    const rows = parse(fs.readFileSync(file), { bom: true }) as string[][];
    expect(rows[0]![0]).toBe('Username');
    expect(rows.slice(1).map((r) => r[0])).toEqual(['cli1']);
    const xlsx = path.join(dir, 'out.xlsx');
    expect((await cli(['users', 'export', '--format', 'xlsx', '-o', xlsx])).code).toBe(0);
    expect(fs.readFileSync(xlsx).subarray(0, 2).toString()).toBe('PK');
    expect((await cli(['users', 'export', '--format', 'pdf'])).code).toBe(1);
  });
});
