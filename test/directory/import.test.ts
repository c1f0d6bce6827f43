import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunnerStopped } from '../../src/jobs/runner.js';
import { RowChanged } from '../../src/db/database.js';
import { createTestPippin, TEST_IMPORT_LIMITS, uploadUsers, waitForJob, withStores, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';
import type { ImportContext } from '../../src/jobs/table-job.js';
import { CACHE_MAX_AGE_MS } from '../../src/bulk/file-store.js';

const results = async (t: TestPippin, id: string, failed = false) => {
  const res = await t.call(t.owner, 'GET', `/api/v1/jobs/${id}/results${failed ? '?failed=true' : ''}`);
  expect(res.statusCode).toBe(200);
  expect(res.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  return parse(res.rawPayload, { bom: true, columns: true, relax_column_count: true }) as Record<string, string>[];
};
/** Every row of an n-row file is in the results exactly once, Created, and the directory holds n users. */
const expectEveryRowOnce = async (t: TestPippin, id: string, n: number) => {
  const lines = await results(t, id);
  expect(lines.map((l) => Number(l.Row))).toEqual(Array.from({ length: n }, (_, i) => i + 2));
  expect(lines.every((l) => l.Result === 'Created')).toBe(true);
  expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(n);
};
const user = async (t: TestPippin, q: string) => (await t.call(t.owner, 'GET', `/api/v1/users?q=${encodeURIComponent(q)}`)).json().items[0];

describe.each(ENGINES)('Bulk Import Users on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine);
    await t.call(t.owner, 'POST', '/api/v1/users', { username: 'existing', email: 'existing@corp.example', fullName: 'Exi Sting', phone: '+1 555 0100' });
    await t.call(t.owner, 'POST', '/api/v1/users', { username: 'holder', email: 'holder@corp.example', managedAppleId: 'taken@appleid.example.com' });
  });
  afterAll(() => t?.close());

  it('creates, updates, leaves unchanged and fails rows independently, with a results file', async () => {
    const csv = [
      'Username,Domain,Email Address,Full Name,Managed Apple ID,Groups,Shoe Size',
      'newbie,,newbie@corp.example,New Bie,newbie@AppleID.example.com,Sales;EMEA,42', // 2 created
      'EXISTING,example.com,,,existing@appleid.example.com,,', // 3 updated (MAID linked)
      'holder,,,,,,', // 4 unchanged
      'badmaid,,b@corp.example,,bad..maid@appleid.example.com,,', // 5 MAID_INVALID
      'thief,,t@corp.example,,taken@appleid.example.com,,', // 6 MAID_EXISTS
      'NEWBIE,,again@corp.example,,,,', // 7 duplicate of row 2
      'twin,,twin@corp.example,,newbie@appleid.example.com,,', // 8 MAID repeats row 2
      'ragged,,r@corp.example', // 9 ROW_RAGGED
      'noemail,,,,,,', // 10 new user without email
    ].join('\r\n');
    const res = await uploadUsers(t, t.owner, 'users.csv', csv);
    expect(res.statusCode, res.body).toBe(202);
    const job = await waitForJob(t, t.owner, res.json().id);
    expect(job).toMatchObject({ status: 'succeeded', kind: 'users_import', fileName: 'users.csv', progress: { processed: 9, total: 9 } });
    expect(job.counts).toEqual({ created: 1, updated: 1, unchanged: 1, refreshed: 0, failed: 6 });
    expect(job.warnings.join()).toContain('Shoe Size');
    const rows = await results(t, job.id);
    expect(rows.map((r) => [r.Row, r.Result, r.Code])).toEqual([
      ['2', 'Created', ''],
      ['3', 'Updated', ''],
      ['4', 'Unchanged', ''],
      ['5', 'Failed', 'MAID_INVALID'],
      ['6', 'Failed', 'MAID_EXISTS'],
      ['7', 'Failed', 'DUPLICATE_IN_FILE'],
      ['8', 'Failed', 'MAID_EXISTS'],
      ['9', 'Failed', 'ROW_RAGGED'],
      ['10', 'Failed', 'VALUE_INVALID'],
    ]);
    expect(rows[4]!.Message).toBe('Managed Apple ID already exists (held by holder in example.com)');
    expect(rows[5]!.Message).toContain('repeats row 2');
    expect(rows[6]!.Message).toBe('Managed Apple ID already exists (row 2)');
    expect(rows[0]!['Shoe Size']).toBe('42');
    expect((await results(t, job.id, true)).map((r) => r.Row)).toEqual(['5', '6', '7', '8', '9', '10']);
    expect(await user(t, 'newbie')).toMatchObject({ managedAppleId: 'newbie@appleid.example.com', groups: ['Sales', 'EMEA'], fullName: 'New Bie' });
    expect(await user(t, 'existing')).toMatchObject({ managedAppleId: 'existing@appleid.example.com', fullName: 'Exi Sting', phone: '+1 555 0100' });
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=thief')).json().items).toEqual([]);
    const events = (await t.call(t.owner, 'GET', `/api/v1/audit?objectId=${job.id}`)).json().items.map((e: any) => e.action);
    expect(events.sort()).toEqual(['import.finish', 'import.start']);
  });

  it('moves a Managed Apple ID from one user to another in one file, whatever else each row changes', async () => {
    for (const [u, maid] of [['swapa', 'swap-a@appleid.example.com'], ['swapc', null], ['swape', null]] as const) {
      expect((await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, managedAppleId: maid })).statusCode).toBe(201);
    }
    // E links a new MAID; A gives its MAID up and changes its email; C, later in the file, takes
    // A's MAID, changing the same columns as E: C's change must wait for A's.
    const csv = [
      'Username,Email Address,Managed Apple ID',
      'swape,,fresh-e@appleid.example.com',
      'swapa,swapa.new@corp.example,-',
      'swapc,,swap-a@appleid.example.com',
    ].join('\r\n');
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'swap.csv', csv)).json().id);
    expect((await results(t, job.id)).map((r) => [r.Row, r.Result, r.Code])).toEqual([
      ['2', 'Updated', ''],
      ['3', 'Updated', ''],
      ['4', 'Updated', ''],
    ]);
    expect(await user(t, 'swape')).toMatchObject({ managedAppleId: 'fresh-e@appleid.example.com' });
    expect(await user(t, 'swapa')).toMatchObject({ managedAppleId: null, email: 'swapa.new@corp.example' });
    expect(await user(t, 'swapc')).toMatchObject({ managedAppleId: 'swap-a@appleid.example.com' });
  });

  it('lets a user keep the MAID it holds, and refuses it to another row of the same file, before or after', async () => {
    expect((await t.call(t.owner, 'POST', '/api/v1/users', { username: 'keeper', email: 'keeper@corp.example', managedAppleId: 'kept@appleid.example.com' })).statusCode).toBe(201);
    const csv = [
      'Username,Email Address,Full Name,Managed Apple ID',
      'grab1,grab1@corp.example,,kept@appleid.example.com', // before the keeper's row
      'keeper,,Kee Per,kept@appleid.example.com', // the keeper's own MAID: kept, the name updated
      'grab2,grab2@corp.example,,kept@appleid.example.com', // after it
      'keeper2,keeper2@corp.example,,kept2@appleid.example.com', // a new user's MAID nobody holds
    ].join('\r\n');
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'keep.csv', csv)).json().id);
    const rows = await results(t, job.id);
    expect(rows.map((r) => [r.Row, r.Result, r.Code])).toEqual([
      ['2', 'Failed', 'MAID_EXISTS'],
      ['3', 'Updated', ''],
      ['4', 'Failed', 'MAID_EXISTS'],
      ['5', 'Created', ''],
    ]);
    // Refused from what the directory holds, not by the database after a wrong decision.
    expect(rows[0]!.Message).toBe('Managed Apple ID already exists (held by keeper in example.com)');
    expect(rows[2]!.Message).toBe('Managed Apple ID already exists (held by keeper in example.com)');
    expect(await user(t, 'keeper')).toMatchObject({ managedAppleId: 'kept@appleid.example.com', fullName: 'Kee Per' });
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=grab')).json().items).toEqual([]);
  });

  it('writes a new or updated user\'s search keys and an updated user\'s time; an unchanged user keeps its time', async () => {
    for (const u of ['keyed', 'still']) {
      expect((await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, fullName: 'Old Quillname' })).statusCode).toBe(201);
    }
    const before = { keyed: await user(t, 'keyed'), still: await user(t, 'still') };
    await new Promise((r) => setTimeout(r, 20));
    const csv = ['Username,Email Address,Full Name', 'keyed,Mixed.Case@Corp.Example,Brand Newname', 'still,still@corp.example,Old Quillname', 'fresh,Fresh.Person@Corp.Example,'].join('\r\n');
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'keys.csv', csv)).json().id);
    expect(job.counts).toMatchObject({ created: 1, updated: 1, unchanged: 1 });
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=fresh.person%40corp')).json().items.map((u: any) => u.username)).toEqual(['fresh']);
    const keyed = await user(t, 'keyed');
    expect(keyed).toMatchObject({ email: 'Mixed.Case@Corp.Example', fullName: 'Brand Newname' });
    expect(keyed.updatedAt > before.keyed.updatedAt).toBe(true);
    expect((await user(t, 'still')).updatedAt).toBe(before.still.updatedAt);
    // Found through the keys written with the change: the email's, the full name's, a later name word's.
    for (const q of ['mixed.case@corp', 'MIXED.CASE', 'brand new', 'newname']) {
      expect((await t.call(t.owner, 'GET', `/api/v1/users?q=${encodeURIComponent(q)}`)).json().items.map((u: any) => u.username), q).toEqual(['keyed']);
    }
    // The old name's words are gone with it (a word no other test's user has).
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=quillname')).json().items.map((u: any) => u.username)).toEqual(['still']);
  });

  it('names the earlier row of a repeated username or MAID that an earlier batch created', async () => {
    // 1,200 rows in batches of 1,000: rows 1,102 and 1,152 repeat what rows 5 and 6 created in the first batch.
    const lines = ['Username,Email Address,Managed Apple ID'];
    for (let i = 0; i < 1200; i++) lines.push(`far${i},far${i}@corp.example,${i === 4 ? 'far-maid@appleid.example.com' : ''}`);
    lines[1101] = 'FAR3,again@corp.example,';
    lines[1151] = 'farther,farther@corp.example,far-maid@appleid.example.com';
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'far.csv', lines.join('\r\n'))).json().id);
    expect(job.counts).toEqual({ created: 1198, updated: 0, unchanged: 0, refreshed: 0, failed: 2 });
    const failures = (await results(t, job.id, true)).map((r) => [r.Row, r.Code, r.Message]);
    expect(failures).toEqual([
      ['1102', 'DUPLICATE_IN_FILE', 'Username: FAR3 in example.com repeats row 5'],
      ['1152', 'MAID_EXISTS', 'Managed Apple ID already exists (row 6)'],
    ]);
  });

  it('keeps a lone line break inside its cell in the results file', async () => {
    // Full names refuse control characters, so both rows fail; the results echo their cells as read.
    const csv = 'Username,Email Address,Full Name\r\nlf,lf@corp.example,"Ada\nLovelace"\r\ncr,cr@corp.example,"Grace\rHopper"\r\nok,ok@corp.example,Alan Turing\r\n';
    const res = await uploadUsers(t, t.owner, 'breaks.csv', csv);
    const job = await waitForJob(t, t.owner, res.json().id);
    expect(job.counts).toMatchObject({ created: 1, failed: 2 });
    // Read as a spreadsheet reads it: an unquoted CR or LF alone ends a row, as CRLF does.
    const download = await t.call(t.owner, 'GET', `/api/v1/jobs/${job.id}/results`);
    const rows = parse(download.rawPayload, { bom: true, columns: true, relax_column_count: true, record_delimiter: ['\r\n', '\n', '\r'] }) as Record<string, string>[];
    expect(rows.map((r) => [r.Row, r.Username, r['Full Name'], r.Result])).toEqual([
      ['2', 'lf', 'Ada\nLovelace', 'Failed'],
      ['3', 'cr', 'Grace\rHopper', 'Failed'],
      ['4', 'ok', 'Alan Turing', 'Created'],
    ]);
  });

  it('leaves a value unchanged for an empty cell, clears it for "-", and reads an escaped "\'-" as text', async () => {
    await t.call(t.owner, 'POST', '/api/v1/users', { username: 'cells', email: 'c@corp.example', fullName: 'Cell Keeper', phone: '555 0199', managedAppleId: 'cells@appleid.example.com' });
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'cells.csv', "Username,Full Name,Phone Number,Managed Apple ID,Groups\ncells,,-,-,'-\n")).json().id);
    expect(job.counts.updated).toBe(1);
    expect(await user(t, 'cells')).toMatchObject({ fullName: 'Cell Keeper', phone: '', managedAppleId: null, groups: ['-'] });
    // A file without a column changes nothing in it.
    const again = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'cells2.csv', "Username,Full Name\ncells,'=Keeper\n")).json().id);
    expect(again.counts.updated).toBe(1);
    expect(await user(t, 'cells')).toMatchObject({ fullName: '=Keeper', groups: ['-'] });
  });

  it('refuses a file-level problem before any row: job failed with code, message and line, nothing changed', async () => {
    const before = (await t.call(t.owner, 'GET', '/api/v1/users/summary')).json();
    const missing = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'nohead.csv', 'Email Address\nx@y.example\n')).json().id);
    expect(missing).toMatchObject({ status: 'failed', error: { code: 'IMPORT_HEADER_MISSING', line: 1 } });
    const quote = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'quote.csv', 'Username,Email\nok1,a@b.example\nok2,"open\nok3,c@d.example\n')).json().id);
    expect(quote).toMatchObject({ status: 'failed', error: { code: 'CSV_MALFORMED', line: 3 } });
    expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json()).toEqual(before);
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=ok1')).json().items).toEqual([]);
  });

  it('reads Windows-1252 with a warning and UTF-16 "Unicode Text", storing the right characters', async () => {
    const cp = Buffer.concat([Buffer.from('Username,Email,Full Name\ncafe,cafe@corp.example,Caf'), Buffer.from([0xe9, 0x20, 0x80, 0x92]), Buffer.from('\n')]);
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'cp1252.csv', cp)).json().id);
    expect(job.status).toBe('succeeded');
    expect(job.warnings.join()).toMatch(/Windows-1252/);
    expect((await user(t, 'cafe')).fullName).toBe('Café €’');
    const utf16 = Buffer.from('\uFEFFUsername\tEmail Address\tFull Name\r\nzhang\tz@corp.example\t张伟\r\n', 'utf16le');
    await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'unicode.txt', utf16)).json().id);
    expect((await user(t, 'zhang')).fullName).toBe('张伟');
  });

  it('returns the same job for the same Idempotency-Key and file, refuses the key with another file', async () => {
    const key = `k-${engine}-${Date.now()}`;
    const a = await uploadUsers(t, t.owner, 'idem.csv', 'Username,Email\nidem,i@corp.example\n', key);
    const b = await uploadUsers(t, t.owner, 'idem.csv', 'Username,Email\nidem,i@corp.example\n', key);
    expect(a.statusCode).toBe(202);
    expect(b.json().id).toBe(a.json().id);
    await waitForJob(t, t.owner, a.json().id);
    const c = await uploadUsers(t, t.owner, 'idem.csv', 'Username,Email\nother,o@corp.example\n', key);
    expect(c.statusCode).toBe(422);
    expect(c.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await t.call(t.owner, 'GET', '/api/v1/jobs?limit=200')).json().items.filter((j: any) => j.id === a.json().id)).toHaveLength(1);
  });

  it('refuses other file types, a missing file, roles that may not import, and hides jobs from other accounts', async () => {
    const pdf = await uploadUsers(t, t.owner, 'users.pdf', '%PDF-1.4');
    expect(pdf.statusCode).toBe(415);
    expect(pdf.json().error.code).toBe('FILE_TYPE_INVALID');
    const none = await t.call(t.owner, 'POST', '/api/v1/users/imports', {});
    expect(none.statusCode).toBe(400);
    const helpdesk = await t.adminWithRole('helpdesk');
    expect((await uploadUsers(t, helpdesk, 'u.csv', 'Username\nx\n')).statusCode).toBe(403);
    const mine = (await t.call(t.owner, 'GET', '/api/v1/jobs')).json().items[0];
    const other = await t.otherAccount();
    expect((await t.call(other.owner, 'GET', `/api/v1/jobs/${mine.id}`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'GET', `/api/v1/jobs/${mine.id}/results`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'POST', `/api/v1/jobs/${mine.id}/cancel`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'GET', '/api/v1/jobs')).json().items).toEqual([]);
  });
});

describe.each(ENGINES)('import jobs: lock, cancel and resume on %s', (engine) => {
  const rows = (n: number, prefix: string) => ['Username,Email Address', ...Array.from({ length: n }, (_, i) => `${prefix}${i},${prefix}${i}@corp.example`)].join('\n');

  it('allows one import per account at a time (IMPORT_RUNNING names it), and cancels a queued one', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      const first = await uploadUsers(t, t.owner, 'a.csv', rows(5, 'a'));
      const second = await uploadUsers(t, t.owner, 'b.csv', rows(5, 'b'));
      expect(second.statusCode).toBe(409);
      expect(second.json().error).toMatchObject({ code: 'IMPORT_RUNNING', details: { jobId: first.json().id } });
      const other = await t.otherAccount();
      expect((await uploadUsers(t, other.owner, 'c.csv', rows(5, 'c'))).statusCode).toBe(202);
      const cancelled = await t.call(t.owner, 'POST', `/api/v1/jobs/${first.json().id}/cancel`);
      expect(cancelled.json().cancelRequested).toBe(true);
      while (await t.services.runner.runOnce());
      const job = (await t.call(t.owner, 'GET', `/api/v1/jobs/${first.json().id}`)).json();
      expect(job).toMatchObject({ status: 'cancelled', counts: { created: 0 } });
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(0);
      expect((await uploadUsers(t, t.owner, 'b.csv', rows(5, 'b'))).statusCode).toBe(202);
    } finally {
      await t.close();
    }
  });

  it('stops after the current batch when cancelled mid-way; committed rows stay and are in the results', async () => {
    let t!: TestPippin;
    t = await createTestPippin(engine, {}, {
      runJobs: false,
      runner: {
        afterBatch: async (batch) => {
          if (batch === 1) {
            const [job] = (await t.call(t.owner, 'GET', '/api/v1/jobs')).json().items;
            await t.call(t.owner, 'POST', `/api/v1/jobs/${job.id}/cancel`);
          }
        },
      },
    });
    try {
      const id = (await uploadUsers(t, t.owner, 'big.csv', rows(2500, 'm'))).json().id;
      await t.services.runner.runOnce();
      const job = (await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json();
      expect(job).toMatchObject({ status: 'cancelled', counts: { created: 1000 }, progress: { processed: 1000, total: 2500 } });
      expect((await results(t, id)).length).toBe(1000);
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(1000);
      const audit = (await t.call(t.owner, 'GET', `/api/v1/audit?objectId=${id}`)).json().items.map((e: any) => e.action).sort();
      expect(audit).toEqual(['import.cancel', 'import.cancelled', 'import.start']);
    } finally {
      await t.close();
    }
  });

  /**
   * BAD-INPUTS 38: a runner whose unit of work fails batch 2's transaction after its writes (as a
   * dropped connection would), `failures` times, with fast backoff.
   */
  const connectionLost = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
  /** Runs the queued import through a runner of its own, with these import settings (batches of 1,000 unless said). */
  async function runImportWith(t: TestPippin, id: string, settings: Partial<ImportContext>) {
    const { createJobRunner } = await import('../../src/jobs/runner.js');
    const { runUsersImport } = await import('../../src/directory/import.js');
    const random = { id: () => crypto.randomUUID(), bytes: (n: number) => Buffer.alloc(n) };
    const clock = { now: () => new Date() };
    const runner = createJobRunner(
      {
        uow: t.services.uow,
        clock,
        random,
        handlers: {
          users_import: async (work) =>
            runUsersImport({ uow: t.services.uow, clock, random, limits: TEST_IMPORT_LIMITS, filePath: await t.services.files.localPath(work.accountId, work.fileId!), work, batchRows: 1000, ...settings }),
          enrollment_bulk_add: async () => ({ status: 'succeeded' }),
        },
      },
      { node: 'direct' },
    );
    expect(await runner.runOnce()).toBe(true);
    return (await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json();
  }

  async function importThroughFaults(t: TestPippin, id: string, failures: number, planAhead = false, fault: Error = connectionLost()) {
    let left = failures;
    const uow = t.services.uow;
    const faulty = withStores(uow, (s) => ({
      ...s,
      jobs: {
        ...s.jobs,
        async commitBatch(jobId, b, at) {
          await s.jobs.commitBatch(jobId, b, at);
          if (b.firstRow > 1001 && b.firstRow <= 2001 && left-- > 0) throw fault; // rolls back the batch's users too
        },
      },
    }));
    return runImportWith(t, id, { uow: faulty, retry: { tries: 3, firstWaitMs: 1 }, planAhead });
  }

  it.each([3, 1000])('plans and writes a batch in slices (%s rows), each deciding from what the ones before wrote, the name words written at its end', async (sliceRows) => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      await t.call(t.owner, 'POST', '/api/v1/users', { username: 'renamed', email: 'renamed@corp.example', fullName: 'Oldword Person', managedAppleId: 'given@appleid.example.com' });
      await t.call(t.owner, 'POST', '/api/v1/users', { username: 'plain', email: 'plain@corp.example' });
      // One batch of 11 rows: slices of 3 put each row's earlier namesake in an earlier slice.
      const csv = [
        'Username,Email Address,Full Name,Managed Apple ID',
        'newone,newone@corp.example,Zephyrine Quokka,first@appleid.example.com',
        'renamed,,Freshword Person,-',
        'plain,,,',
        'NEWONE,again@corp.example,,',
        'taker,taker@corp.example,,given@appleid.example.com',
        'grabber,grabber@corp.example,,first@appleid.example.com',
        'plain,,,',
        'renamed,,,',
        'later,later@corp.example,Quokka Later,',
        'another,another@corp.example,,another@appleid.example.com',
        'taker,,,',
      ].join('\r\n');
      const id = (await uploadUsers(t, t.owner, 'slices.csv', csv)).json().id;
      const job = await runImportWith(t, id, { batchRows: 12, sliceRows });
      expect(job).toMatchObject({ status: 'succeeded', counts: { created: 4, updated: 1, unchanged: 1, failed: 5 } });
      expect((await results(t, id)).map((r) => [r.Row, r.Result, r.Message])).toEqual([
        ['2', 'Created', ''],
        ['3', 'Updated', ''],
        ['4', 'Unchanged', ''],
        ['5', 'Failed', 'Username: NEWONE in example.com repeats row 2'],
        ['6', 'Created', ''],
        ['7', 'Failed', 'Managed Apple ID already exists (row 2)'],
        ['8', 'Failed', 'Username: plain in example.com repeats row 4'],
        ['9', 'Failed', 'Username: renamed in example.com repeats row 3'],
        ['10', 'Created', ''],
        ['11', 'Created', ''],
        ['12', 'Failed', 'Username: taker in example.com repeats row 6'],
      ]);
      expect(await user(t, 'taker')).toMatchObject({ managedAppleId: 'given@appleid.example.com' });
      expect(await user(t, 'renamed')).toMatchObject({ managedAppleId: null, fullName: 'Freshword Person' });
      // The name words the batch held back: the new users' and the renamed user's, the old name's gone.
      const found = async (q: string) => (await t.call(t.owner, 'GET', `/api/v1/users?q=${q}&sort=username`)).json().items.map((u: any) => u.username);
      expect(await found('quokka')).toEqual(['later', 'newone']);
      expect(await found('freshword')).toEqual(['renamed']);
      expect(await found('oldword')).toEqual([]);
      expect(await found('person')).toEqual(['renamed']);
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json()).toMatchObject({ total: 6, managedAppleIdLinked: 3, managedAppleIdMissing: 3 });
    } finally {
      await t.close();
    }
  });

  it.each([false, true])('rolls back a batch the database failed and retries it with backoff: every row exactly once (next batch planned ahead: %s)', async (planAhead) => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      const id = (await uploadUsers(t, t.owner, 'faults.csv', rows(2500, 'f'))).json().id;
      const done = await importThroughFaults(t, id, 2, planAhead);
      expect(done).toMatchObject({ status: 'succeeded', progress: { processed: 2500 }, counts: { created: 2500, failed: 0 } });
      await expectEveryRowOnce(t, id, 2500);
    } finally {
      await t.close();
    }
  });

  it('decides a batch from the plan of the batch before as though that plan were written', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      await t.call(t.owner, 'POST', '/api/v1/users', { username: 'giver', email: 'giver@corp.example', managedAppleId: 'moving@appleid.example.com' });
      const { usersImport } = await import('../../src/directory/import.js');
      const { mapHeader } = await import('../../src/bulk/columns.js');
      const { USER_FILE_COLUMNS } = await import('../../src/directory/file-format.js');
      const kind = usersImport({ now: () => new Date() }, { id: () => crypto.randomUUID(), bytes: (n: number) => Buffer.alloc(n) });
      const header = mapHeader(['Username', 'Email Address', 'Managed Apple ID'], USER_FILE_COLUMNS);
      const batch = (first: number, lines: string[][]) => lines.map((cells, i) => ({ row: first + i, cells }));
      const jobId = crypto.randomUUID();
      // Neither plan is written: what the second decides from the first comes from the plan alone.
      const second = await t.services.uow.inAccount(t.accountId, async (s) => {
        const account = (await s.account.get())!;
        const first = await kind.plan(s, batch(2, [['fresh', 'fresh@corp.example', 'new@appleid.example.com'], ['giver', '', '-']]), header, account, jobId, null);
        return kind.plan(s, batch(4, [['FRESH', 'again@corp.example', ''], ['taker', 'taker@corp.example', 'new@appleid.example.com'], ['other', 'other@corp.example', 'moving@appleid.example.com']]), header, account, jobId, first);
      });
      expect(second.outcomes).toEqual([
        { result: 'Failed', issues: [{ code: 'DUPLICATE_IN_FILE', message: 'Username: FRESH in example.com repeats row 2' }] },
        { result: 'Failed', issues: [{ code: 'MAID_EXISTS', message: 'Managed Apple ID already exists (row 2)' }] },
        // The MAID giver gives up in the batch before is free.
        { result: 'Created' },
      ]);
      expect(await user(t, 'fresh')).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('plans each batch while the one before is written, from its plan, and plans a batch again when the directory is no longer as its plan read it', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      await t.call(t.owner, 'POST', '/api/v1/users', { username: 'edited', email: 'edited@corp.example', fullName: 'Old Name' });
      // Batches of 1,000. Batch 1 creates kept0…kept999, but a concurrent writer (simulated) makes
      // kept7's insert fail the first time. Batch 2 repeats kept5 and kept7; batch 3 repeats kept1005
      // of batch 2 and renames "edited", which an admin renames too between batch 3's plan and its write.
      const lines = ['Username,Email Address,Managed Apple ID,Full Name'];
      for (let i = 0; i < 2500; i++) lines.push(`kept${i},kept${i}@corp.example,${i === 3 ? 'kept-maid@appleid.example.com' : ''},`);
      lines[1501] = 'kept5,again@corp.example,,';
      lines[1601] = 'kept7,again@corp.example,,';
      lines[2101] = 'kept1005,again@corp.example,,';
      lines[2201] = 'late,late@corp.example,kept-maid@appleid.example.com,';
      lines[2301] = 'edited,,,New Filename';
      const id = (await uploadUsers(t, t.owner, 'ahead.csv', lines.join('\r\n'))).json().id;
      const { createJobRunner } = await import('../../src/jobs/runner.js');
      const { usersImport } = await import('../../src/directory/import.js');
      const { runTableJob } = await import('../../src/jobs/table-job.js');
      const uow = t.services.uow;
      let lose = true;
      const losing = withStores(uow, (s) => ({
        ...s,
        users: {
          ...s.users,
          insertMany: (users, marks, held) => {
            const kept = users.filter((u) => !(lose && u.username === 'kept7'));
            lose &&= kept.length === users.length;
            return s.users.insertMany(kept, marks.filter((_, i) => kept.includes(users[i]!)), held);
          },
        },
      }));
      const clock = { now: () => new Date() };
      const random = { id: () => crypto.randomUUID(), bytes: (n: number) => Buffer.alloc(n) };
      const kind = usersImport(clock, random);
      const planned: string[] = [];
      let batch3Planned!: () => void;
      const batch3Plan = new Promise<void>((resolve) => (batch3Planned = resolve));
      const spied: typeof kind = {
        ...kind,
        plan: async (s, rows, header, account, jobId, previous) => {
          planned.push(`${rows[0]!.row} ${previous ? 'from the plan before' : 'from the database'}`);
          const plan = await kind.plan(s, rows, header, account, jobId, previous);
          if (rows[0]!.row === 2002) batch3Planned();
          return plan;
        },
      };
      // Once batch 2 is written and batch 3 planned from it, the admin renames "edited".
      const afterBatch = async (n: number) => {
        if (n !== 2) return;
        await batch3Plan;
        expect((await t.call(t.owner, 'PATCH', `/api/v1/users/${(await user(t, 'edited')).id}`, { fullName: 'Admin Rename' })).statusCode).toBe(200);
      };
      const runner = createJobRunner(
        {
          uow,
          clock,
          random,
          handlers: {
            users_import: async (work) =>
              runTableJob({ uow: losing, clock, random, limits: TEST_IMPORT_LIMITS, filePath: await t.services.files.localPath(work.accountId, work.fileId!), work, batchRows: 1000, planAhead: true, afterBatch }, spied),
            enrollment_bulk_add: async () => ({ status: 'succeeded' }),
          },
        },
        { node: 'ahead' },
      );
      expect(await runner.runOnce()).toBe(true);
      // Batch 1 was planned again in its transaction once kept7 was lost, so batch 2, planned from
      // its first plan, was planned again from the database; batch 3 was planned from batch 2's
      // plan, then again in its transaction once the admin's rename had moved "edited" on.
      expect(planned.sort()).toEqual([
        '1002 from the database',
        '1002 from the plan before',
        '2 from the database',
        '2 from the database',
        '2002 from the database',
        '2002 from the plan before',
      ]);
      const failures = (await results(t, id, true)).map((r) => [r.Row, r.Code, r.Message]);
      expect(failures).toEqual([
        ['1502', 'DUPLICATE_IN_FILE', 'Username: kept5 in example.com repeats row 7'],
        ['1602', 'DUPLICATE_IN_FILE', 'Username: kept7 in example.com repeats row 9'],
        ['2102', 'DUPLICATE_IN_FILE', 'Username: kept1005 in example.com repeats row 1007'],
        ['2202', 'MAID_EXISTS', 'Managed Apple ID already exists (row 5)'],
      ]);
      expect(await user(t, 'kept7')).toMatchObject({ username: 'kept7', email: 'kept7@corp.example' });
      // The file's name won, and search knows the user by it alone: no word of the admin's name is left.
      expect(await user(t, 'edited')).toMatchObject({ fullName: 'New Filename' });
      expect(await user(t, 'filename')).toMatchObject({ username: 'edited' });
      expect(await user(t, 'rename')).toBeUndefined();
      expect(await user(t, 'old')).toBeUndefined();
      expect((await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json().counts).toEqual({ created: 2495, updated: 1, unchanged: 0, refreshed: 0, failed: 4 });
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json()).toMatchObject({ total: 2496, managedAppleIdLinked: 1 });
    } finally {
      await t.close();
    }
  });

  it('refuses to write an import batch over a user changed or deleted since the batch read it, changing nothing', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      for (const name of ['renamed', 'removed']) await t.call(t.owner, 'POST', '/api/v1/users', { username: name, email: `${name}@corp.example`, fullName: `Was ${name}` });
      const read = await t.services.uow.inAccount(t.accountId, (s) => s.users.findByUsernames([{ username: 'renamed', domain: 'example.com' }, { username: 'removed', domain: 'example.com' }]));
      expect(read.map((u) => u.version)).toEqual([0, 0]);
      const [renamed, removed] = ['renamed', 'removed'].map((n) => read.find((u) => u.username === n)!);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/users/${renamed!.id}`, { fullName: 'Admin Choice' })).statusCode).toBe(200);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${removed!.id}`)).statusCode).toBe(204);
      const mark = { jobId: crypto.randomUUID(), row: 2 };
      for (const before of [renamed!, removed!]) {
        await expect(
          t.services.uow.inAccount(t.accountId, async (s) => {
            await s.users.updateMany([{ before, changes: { fullName: 'From File', managedAppleId: `${before.username}@appleid.example.com` }, mark }], new Date().toISOString());
            return 'written';
          }),
        ).rejects.toBeInstanceOf(RowChanged);
      }
      expect(await user(t, 'renamed')).toMatchObject({ fullName: 'Admin Choice', managedAppleId: null });
      expect(await user(t, 'file')).toBeUndefined();
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json()).toMatchObject({ total: 1, managedAppleIdLinked: 0 });
      // Read again, the same change goes through and moves the version on.
      await t.services.uow.inAccount(t.accountId, async (s) => {
        const [now] = await s.users.findByUsernames([{ username: 'renamed', domain: 'example.com' }]);
        expect(now!.version).toBe(1);
        await s.users.updateMany([{ before: now!, changes: { fullName: 'From File' }, mark }], new Date().toISOString());
      });
      expect(await user(t, 'file')).toMatchObject({ username: 'renamed', fullName: 'From File' });
      expect(await user(t, 'choice')).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('fails the job cleanly after the last retry, keeping and reporting the batches already committed', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      const id = (await uploadUsers(t, t.owner, 'down.csv', rows(2500, 'd'))).json().id;
      const done = await importThroughFaults(t, id, Infinity);
      expect(done).toMatchObject({ status: 'failed', progress: { processed: 1000 }, counts: { created: 1000 }, error: { code: 'DATABASE_UNAVAILABLE', line: 1002 } });
      expect(done.error.message).toMatch(/rows 1002–2001 \(4 tries: terminating connection.*Rows before row 1002 are applied/);
      expect((await results(t, id)).map((l) => Number(l.Row))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2));
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(1000);
    } finally {
      await t.close();
    }
  });

  it('names a batch that kept losing to other writers past the last retry a WRITE_CONFLICT, not a database failure', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      const id = (await uploadUsers(t, t.owner, 'busy.csv', rows(2500, 'b'))).json().id;
      const done = await importThroughFaults(t, id, Infinity, false, new RowChanged('A user changed or was deleted while the import wrote it'));
      expect(done).toMatchObject({ status: 'failed', progress: { processed: 1000 }, counts: { created: 1000 }, error: { code: 'WRITE_CONFLICT', line: 1002 } });
      expect(done.error.message).toMatch(/^Other writers kept changing the records of rows 1002–2001 while they were applied \(4 tries: A user changed.*Rows before row 1002 are applied/);
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(1000);
    } finally {
      await t.close();
    }
  });

  it('resumes a job whose runner stopped after batch 2 from the next row, applying every row exactly once', async () => {
    let stopAt: number | null = 2;
    const t = await createTestPippin(engine, {}, {
      runJobs: false,
      runner: { staleMs: 60_000, afterBatch: (batch) => { if (batch === stopAt) throw new RunnerStopped(); } },
    });
    try {
      const id = (await uploadUsers(t, t.owner, 'resume.csv', rows(3500, 'r'))).json().id;
      await expect(t.services.runner.runOnce()).rejects.toBeInstanceOf(RunnerStopped);
      const mid = (await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json();
      expect(mid).toMatchObject({ status: 'running', progress: { processed: 2000 }, counts: { created: 2000 } });
      // Its heartbeat is fresh, so nobody takes it over yet.
      expect(await t.services.runner.runOnce()).toBe(false);
      // Later, with the heartbeat stale, another runner resumes it.
      stopAt = null;
      const { createJobRunner } = await import('../../src/jobs/runner.js');
      const { runUsersImport } = await import('../../src/directory/import.js');
      const rescuer = createJobRunner(
        {
          uow: t.services.uow,
          clock: { now: () => new Date(Date.now() + 120_000) },
          random: { id: () => crypto.randomUUID(), bytes: (n) => Buffer.alloc(n) },
          handlers: {
            users_import: async (work) =>
              runUsersImport({ uow: t.services.uow, clock: { now: () => new Date() }, random: { id: () => crypto.randomUUID(), bytes: (n) => Buffer.alloc(n) }, limits: TEST_IMPORT_LIMITS, filePath: await t.services.files.localPath(work.accountId, work.fileId!), work }),
            enrollment_bulk_add: async () => ({ status: 'succeeded' }),
          },
        },
        { node: 'rescuer', staleMs: 60_000 },
      );
      expect(await rescuer.runOnce()).toBe(true);
      const done = (await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json();
      expect(done).toMatchObject({ status: 'succeeded', progress: { processed: 3500, total: 3500 }, counts: { created: 3500, failed: 0 } });
      await expectEveryRowOnce(t, id, 3500);
    } finally {
      await t.close();
    }
  });
});

describe.each(ENGINES)("an upload's bytes on %s", (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine, {}, { runJobs: false });
  });
  afterAll(() => t?.close());
  /** Queues an import of `csv` (the runner is not started: each test runs its job itself); its job and file ids. */
  const queue = async (name: string, csv: string, key?: string) => {
    const id = (await uploadUsers(t, t.owner, name, csv, key)).json().id as string;
    const fileId = (await t.db.system('operator command', (tx) => tx.selectFrom('jobs').select('file_id').where('id', '=', id).executeTakeFirstOrThrow())).file_id!;
    return { id, fileId };
  };
  const runIt = async (id: string) => {
    expect(await t.services.runner.runOnce()).toBe(true);
    expect((await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json()).toMatchObject({ status: 'succeeded', counts: { created: 1 } });
  };

  it('are kept until its job ends, then dropped; the file record stays, and so does the Idempotency-Key', async () => {
    const csv = 'Username,Email Address\nkept1,kept1@corp.example\n';
    const { id, fileId } = await queue('kept.csv', csv, 'kept-key');
    const chunks = async () => Number((await t.db.system('operator command', (tx) => tx.selectFrom('file_chunks').select((eb) => eb.fn.countAll<number>().as('n')).where('file_id', '=', fileId).executeTakeFirstOrThrow())).n);
    // Where the bytes are: on disk (SQLite), or in the database with this node's copy (PostgreSQL).
    const copy = path.join(t.config.dataDir, engine === 'sqlite' ? 'files' : 'cache', fileId);
    expect(fs.readFileSync(copy, 'utf8')).toBe(csv);
    expect(await chunks()).toBe(engine === 'sqlite' ? 0 : 1);
    if (engine === 'postgres') {
      // Chunks and results lines are compressed with lz4 (migrations 0013 and 0015) where the server has it, as Debian's has.
      const { rows } = await sql<{ c: string }>`select attcompression as c from pg_attribute
        where (attrelid, attname) in (('file_chunks'::regclass, 'data'), ('job_results'::regclass, 'csv'))`.execute(t.db.kysely);
      expect(rows.map((r) => r.c)).toEqual(['l', 'l']);
    }
    // The job reads this node's copy as it is.
    expect(await t.services.files.localPath(t.accountId, fileId)).toBe(copy);

    await runIt(id);
    expect(fs.existsSync(copy)).toBe(false);
    expect(await chunks()).toBe(0);
    const record = await t.db.system('operator command', (tx) => tx.selectFrom('files').select(['name', 'size']).where('id', '=', fileId).executeTakeFirst());
    expect(record).toMatchObject({ name: 'kept.csv', size: Buffer.byteLength(csv) });
    expect((await uploadUsers(t, t.owner, 'kept.csv', csv, 'kept-key')).json().id).toBe(id);
    await expect(t.services.files.localPath(t.accountId, fileId)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no longer kept') });
  });

  it("in a node's copies are swept once older than a day; a job whose copy went reads the file again from the database", async () => {
    const cache = path.join(t.config.dataDir, 'cache');
    fs.mkdirSync(cache, { recursive: true });
    const old = path.join(cache, 'copy-of-a-job-another-node-ran');
    fs.writeFileSync(old, 'x');
    const twoDaysAgo = new Date(Date.now() - 2 * CACHE_MAX_AGE_MS);
    fs.utimesSync(old, twoDaysAgo, twoDaysAgo);
    const csv = 'Username,Email Address\nswept1,swept1@corp.example\n';
    const { id, fileId } = await queue('swept.csv', csv);

    expect(await t.services.files.sweepCache(CACHE_MAX_AGE_MS, new Date())).toBe(1);
    expect(fs.existsSync(old)).toBe(false);
    if (engine === 'postgres') {
      // Even the fresh copy of a queued job may go: the job then reads the chunks.
      expect(await t.services.files.sweepCache(-1, new Date())).toBe(1);
      expect(fs.existsSync(path.join(cache, fileId))).toBe(false);
    }
    expect(fs.readFileSync(await t.services.files.localPath(t.accountId, fileId), 'utf8')).toBe(csv);
    await runIt(id);
  });
});
