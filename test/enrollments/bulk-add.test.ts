/** Bulk Add of enrollment requests on both engines: the rules per row, vocabularies, duplicates, refreshes, results and file-level refusals. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { simpleParser } from 'mailparser';
import { until } from '../support/smtp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passcodeMatches, tokenHash } from '../../src/enrollments/secrets.js';
import type { EnrollmentNoticeInputs } from '../../src/notify/enrollment-notice.js';
import { unseal } from '../../src/notify/seal.js';
import { createTestPippin, TEST_IMPORT_LIMITS, uploadRequests, uploadUsers, waitForJob, withStores, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

const HEADER = 'Username,Domain,Email Address,Phone Number,Platform,Ownership,Enroll Using iOS User Enrollment,Request Mode,Authentication Mode,Seamless Enrollment,Notify,Comments';

describe.each(ENGINES)('Bulk Add on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine);
    // The directory: linked users, one without a MAID.
    const lines = ['Username,Email Address,Phone Number,Managed Apple ID'];
    for (let i = 0; i < 6; i++) lines.push(`linked${i},linked${i}@corp.example,+44 20 7946 09${10 + i},linked${i}@appleid.example.com`);
    lines.push('nomaid,nomaid@corp.example,,');
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'staff.csv', lines.join('\n'))).json().id);
    expect(job.counts.created).toBe(7);
  });
  afterAll(() => t?.close());

  const bulk = async (name: string, content: string | Buffer) => {
    const res = await uploadRequests(t, t.owner, name, content);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ kind: 'enrollment_bulk_add', fileName: name });
    return waitForJob(t, t.owner, res.json().id);
  };
  const results = async (jobId: string) => {
    const res = await t.call(t.owner, 'GET', `/api/v1/jobs/${jobId}/results`);
    expect(res.statusCode).toBe(200);
    const rows = parse(res.body, { bom: true }) as string[][];
    const header = rows[0]!;
    return rows.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!]))) as Record<string, string>[];
  };
  const requestsOf = async (username: string) => (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests?q=${username}&limit=200`)).json().items.filter((r: any) => r.username === username);

  it('applies good rows and fails bad ones with every code that applies, naming the column; UE rows show as "MDM (Apple User Enrollment)"', async () => {
    const rows = [
      HEADER,
      'linked0,,,,iOS,Employee Owned,Yes,,,No,Email,her own iPhone', // 2 Created (UE)
      'nomaid,,,,iPhone,Employee Owned,yes,,,,Email,', // 3 UE without a MAID
      'ghost,,,,iOS,Employee Owned,Y,,,,Email,', // 4 UE for an unknown user
      'linked1,,,,Android,Corporate Owned,No,,,,Email,', // 5 Android
      'linked1,,,,Android,Employee Owned,TRUE,,,,Email,', // 6 Android with UE
      'linked2,,,,iPad,Corporate Owned,1,,,,Email,', // 7 UE, corporate owned
      'newbie,,newbie@corp.example,,macOS,Corporate Owned,No,,,,Email,', // 8 creates the user
      'stranger,,,,macOS,Corporate Owned,n,,,,Email,', // 9 unknown, no email
      'linked0,,,,iOS,Employee Owned,Yes,,,,Email,again', // 10 duplicate of row 2
      'linked3,,,,iPadOS,Employee Owned,1,,Local,,Email,', // 11 auth override
      'linked4,,,,iOS,Corporate Owned,0,Activation,,,Email,', // 12 activation in an mdm account
      'linked5,,,,iOS,Employee Owned,true,,,,None,secrets in the results', // 13 Created, Notify None
    ];
    const job = await bulk('requests.csv', rows.join('\r\n'));
    expect(job).toMatchObject({ status: 'succeeded', counts: { created: 3, refreshed: 0, failed: 9 }, progress: { processed: 12, total: 12 } });
    const out = await results(job.id);
    const by = (row: number) => out.find((r) => r.Row === String(row))!;
    expect(Object.keys(out[0]!)).toEqual([...HEADER.split(','), 'Enrollment URL', 'Passcode', 'Row', 'Result', 'Code', 'Message']);
    expect(by(2)).toMatchObject({ Result: 'Created', Code: '', 'Enrollment URL': '', Passcode: '' });
    expect(by(3)).toMatchObject({ Result: 'Failed', Code: 'UE_REQUIRES_MANAGED_APPLE_ID', Message: 'Username: User Enrollment requires the user to have a linked Managed Apple ID' });
    expect(by(4)).toMatchObject({ Result: 'Failed', Code: 'UE_REQUIRES_USER' });
    expect(by(5)).toMatchObject({ Result: 'Failed', Code: 'PLATFORM_NOT_SUPPORTED' });
    expect(by(5).Message).toMatch(/^Platform: Android devices cannot be enrolled yet/);
    expect(by(6)).toMatchObject({ Result: 'Failed', Code: 'PLATFORM_NOT_SUPPORTED;UE_IOS_ONLY' });
    expect(by(7)).toMatchObject({ Result: 'Failed', Code: 'UE_REQUIRES_EMPLOYEE_OWNED' });
    expect(by(7).Message).toMatch(/^Ownership: /);
    expect(by(8)).toMatchObject({ Result: 'Created', Message: 'User newbie created' });
    expect(by(9)).toMatchObject({ Result: 'Failed', Code: 'USER_NOT_FOUND' });
    expect(by(10)).toMatchObject({ Result: 'Failed', Code: 'DUPLICATE_IN_FILE' });
    expect(by(10).Message).toContain('row 2 already did');
    expect(by(11)).toMatchObject({ Result: 'Failed', Code: 'UE_NOT_WITH_AUTH_OVERRIDE' });
    expect(by(11).Message).toMatch(/^Authentication Mode: /);
    expect(by(12)).toMatchObject({ Result: 'Failed', Code: 'REQUEST_MODE_NOT_AVAILABLE' });
    // Notify None: the results file is the only place the secrets reach anyone.
    expect(by(13)['Enrollment URL']).toMatch(/^http:\/\/127\.0\.0\.1:8080\/enroll\/[A-Za-z0-9_-]{32}$/);
    expect(by(13).Passcode).toMatch(/^[A-Z2-9]{8}$/);

    const [linked0] = await requestsOf('linked0');
    expect(linked0).toMatchObject({ requestType: 'MDM (Apple User Enrollment)', status: 'pending', comments: 'her own iPhone', requestedBy: { label: 'owner@example.com' } });
    const [newbie] = await requestsOf('newbie');
    expect(newbie).toMatchObject({ requestType: 'MDM', platform: 'macos', email: 'newbie@corp.example' });
    expect(await requestsOf('linked1')).toHaveLength(0);
    const [linked5] = await requestsOf('linked5');
    const stored = await t.db.system('operator command', (tx) => tx.selectFrom('enrollment_requests').select('token_hash').where('id', '=', linked5.id).executeTakeFirstOrThrow());
    expect(stored.token_hash).toBe(tokenHash(t.secretKey, by(13)['Enrollment URL']!.split('/').pop()!));
    const audit = (await t.call(t.owner, 'GET', `/api/v1/audit?objectId=${job.id}`)).json().items.map((e: any) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['import.start', 'import.finish']));
    // The summary email (written as .eml without SMTP_URL) speaks of Bulk Add and attaches the failed rows.
    const dir = path.join(t.config.dataDir, 'outbox');
    const summary = await until(() =>
      fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).find((m) => m.includes('Bulk Add summary: requests.csv')) : undefined,
    );
    const mail = await simpleParser(summary);
    expect(mail.subject).toBe('Bulk Add summary: requests.csv — 3 created, 0 refreshed, 9 failed');
    expect(mail.text).toContain('Created 3, refreshed 0, failed 9.');
    expect(mail.attachments[0]!.filename).toBe('requests-failed-rows.csv');
  });

  it('issues a large batch slice by slice: every row once, each URL opening its own request, one notice per notified row', async () => {
    // 1,200 rows in batches of 1,000, each batch issued in slices of 512; row 700 repeats row 3.
    const lines = [HEADER];
    for (let i = 0; i < 1200; i++) {
      const name = i === 698 ? 'slice1' : `slice${i}`;
      lines.push(`${name},,${name}@corp.example,,macOS,Corporate Owned,No,,,,${i % 3 ? 'None' : 'Email'},`);
    }
    const job = await bulk('slices.csv', lines.join('\n'));
    expect(job.counts).toEqual({ created: 1199, updated: 0, unchanged: 0, refreshed: 0, failed: 1 });
    const out = await results(job.id);
    expect(out.map((r) => Number(r.Row))).toEqual(Array.from({ length: 1200 }, (_, i) => i + 2));
    expect(out[698]).toMatchObject({ Result: 'Failed', Code: 'DUPLICATE_IN_FILE' });
    const rows = await t.db.system('operator command', (tx) =>
      tx
        .selectFrom('enrollment_requests as r')
        .innerJoin('users as u', 'u.id', 'r.user_id')
        .select(['r.id', 'u.username', 'r.token_hash', 'r.passcode_hash', 'r.notify', 'r.import_row'])
        .where('r.import_job_id', '=', job.id)
        .execute(),
    );
    expect(rows).toHaveLength(1199);
    // Batches this large have their HMACs and notices made on the secrets thread: each is the request's own.
    const byUser = new Map(rows.map((r) => [r.username, r]));
    for (const r of out.filter((o) => o.Result === 'Created')) {
      const stored = byUser.get(r.Username!)!;
      expect(stored.import_row).toBe(Number(r.Row));
      if (r.Notify === 'None') {
        expect(stored.token_hash).toBe(tokenHash(t.secretKey, r['Enrollment URL']!.split('/').pop()!));
        expect(passcodeMatches(t.secretKey, stored.id, r.Passcode!, stored.passcode_hash)).toBe(true);
        expect(passcodeMatches(t.secretKey, rows[0]!.id === stored.id ? rows[1]!.id : rows[0]!.id, r.Passcode!, stored.passcode_hash)).toBe(false);
      } else expect(r['Enrollment URL']).toBe('');
    }
    const notices = await t.db.system('operator command', (tx) =>
      tx.selectFrom('outbox').select(['ref_id', 'sealed']).where('ref_id', 'in', tx.selectFrom('enrollment_requests').select('id').where('import_job_id', '=', job.id)).execute(),
    );
    expect(notices).toHaveLength(400);
    const byId = new Map(rows.map((r) => [r.id, r]));
    // (A notice sent already has had its sealed inputs erased.)
    const unsent = notices.filter((n) => n.sealed !== null);
    expect(unsent.length).toBeGreaterThan(100);
    for (const n of unsent) {
      const inputs = unseal<EnrollmentNoticeInputs>(t.secretKey, n.sealed!);
      const request = byId.get(n.ref_id!)!;
      expect(inputs).toMatchObject({ requestId: request.id, username: request.username, channel: 'email', to: `${request.username}@corp.example` });
      expect(tokenHash(t.secretKey, inputs.url.split('/').pop()!)).toBe(request.token_hash);
      expect(passcodeMatches(t.secretKey, request.id, inputs.passcode!, request.passcode_hash)).toBe(true);
    }
  });

  it('reports every bad vocabulary value as VALUE_INVALID naming its column, all in one row', async () => {
    const rows = [
      HEADER,
      'linked1,,,,Symbian,Borrowed,maybe,Sometimes,Corporate,perhaps,Pigeon,',
      'linked1,,not-an-email,12ab,,,,,,,,',
    ];
    const job = await bulk('vocab.csv', rows.join('\n'));
    const [a, b] = await results(job.id);
    expect(a!.Code.split(';')).toEqual(Array(7).fill('VALUE_INVALID'));
    for (const col of ['Platform', 'Ownership', 'Enroll Using iOS User Enrollment', 'Request Mode', 'Authentication Mode', 'Seamless Enrollment', 'Notify']) {
      expect(a!.Message).toContain(`${col}: `);
    }
    expect(a!.Message).toContain('Platform: "Symbian" is not one of iOS, iPhone, iPad, iPadOS, macOS');
    expect(b!.Message).toContain('Email Address: not an email address');
    expect(b!.Message).toContain('Phone Number: ');
    expect(b!.Message).toContain('Platform: a value is required');
    expect(b!.Message).toContain('Ownership: a value is required');
  });

  it('accepts every Yes/No spelling and platform synonym', async () => {
    const yes = ['Yes', 'yes', 'Y', 'y', 'TRUE', 'true', '1'];
    const no = ['No', 'n', 'FALSE', '0'];
    const lines = [HEADER];
    for (const [i, v] of yes.entries()) lines.push(`yes${i},,yes${i}@corp.example,,iPhone,Corporate Owned,No,,,${v},None,`);
    for (const [i, v] of no.entries()) lines.push(`no${i},,no${i}@corp.example,,${['iPad', 'ipados', 'IOS', 'MacOS'][i]},Employee Owned,${v},,,,None,`);
    const job = await bulk('spellings.csv', lines.join('\n'));
    expect(job.counts).toMatchObject({ created: yes.length + no.length, failed: 0 });
    const list = (await t.call(t.owner, 'GET', '/api/v1/enrollment-requests?limit=200')).json().items;
    for (let i = 0; i < yes.length; i++) expect(list.find((r: any) => r.username === `yes${i}`)).toMatchObject({ seamless: true, userEnrollment: false });
    expect(list.find((r: any) => r.username === 'no3')).toMatchObject({ platform: 'macos', userEnrollment: false, ownership: 'employee_owned' });
    expect(list.find((r: any) => r.username === 'no1')).toMatchObject({ platform: 'ios' });
  });

  it('BAD-INPUTS 46 and 47: a tab-delimited TXT with a BOM, CRLF and blank lines; a user with a Pending request gets it refreshed, notified again, no second one', async () => {
    const first = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { username: 'linked3', platform: 'ios', ownership: 'employee_owned', userEnrollment: true })).json();
    const before = await t.db.system('operator command', (tx) => tx.selectFrom('outbox').select('id').where('ref_id', '=', first.id).execute());
    const txt = '\uFEFF' + [HEADER.replace(/,/g, '\t'), '', 'linked3\t\t\t\tiOS\tEmployee Owned\tYes\t\t\t\tEmail\trefresh me', '', '', 'linked3\t\t\t\tiOS\tEmployee Owned\tYes\t\t\t\tEmail\ttwice', ''].join('\r\n');
    const job = await bulk('requests.txt', txt);
    expect(job).toMatchObject({ status: 'succeeded', counts: { created: 0, refreshed: 1, failed: 1 } });
    const out = await results(job.id);
    expect(out.map((r) => r.Result)).toEqual(['Refreshed', 'Failed']);
    expect(out[1]).toMatchObject({ Code: 'DUPLICATE_IN_FILE' });
    const mine = await requestsOf('linked3');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ id: first.id, status: 'pending', comments: 'refresh me' });
    const stored = await t.db.system('operator command', (tx) => tx.selectFrom('enrollment_requests').select('token_hash').where('id', '=', first.id).executeTakeFirstOrThrow());
    expect(stored.token_hash).not.toBe(tokenHash(t.secretKey, first.url.split('/').pop()));
    const after = await t.db.system('operator command', (tx) => tx.selectFrom('outbox').select('id').where('ref_id', '=', first.id).execute());
    expect(after.length).toBe(before.length + 1);
  });

  it('refuses files as the users import does: a workbook (415), a missing required column, a bad encoding — and changes nothing', async () => {
    const xlsx = await uploadRequests(t, t.owner, 'requests.xlsx', Buffer.from('PK\u0003\u0004'));
    expect(xlsx.statusCode).toBe(415);
    expect(xlsx.json().error.code).toBe('FILE_TYPE_INVALID');
    const count = async () => (await t.call(t.owner, 'GET', '/api/v1/enrollment-requests?limit=1')).json().total;
    const before = await count();
    const missing = await bulk('missing.csv', 'Username,Platform\nlinked1,iOS\n');
    expect(missing).toMatchObject({ status: 'failed', error: { code: 'IMPORT_HEADER_MISSING', line: 1 } });
    expect(missing.error.message).toContain('"Ownership"');
    const nul = await bulk('nul.csv', Buffer.from(`${HEADER}\nlinked1,,,,iOS,Corporate Owned\u0000,No,,,,Email,\n`, 'latin1'));
    expect(nul).toMatchObject({ status: 'failed', error: { code: 'FILE_ENCODING_INVALID' } });
    const ragged = await bulk('ragged.csv', `${HEADER}\nlinked1,,,,iOS,Corporate Owned\n`);
    expect(ragged).toMatchObject({ status: 'succeeded', counts: { failed: 1 } });
    expect((await results(ragged.id))[0]).toMatchObject({ Code: 'ROW_RAGGED' });
    expect(await count()).toBe(before);
  });

  it('serves the templates (CSV and tab-delimited TXT) with every column, and re-reads them', async () => {
    const csv = await t.call(t.owner, 'GET', '/api/v1/enrollment-requests/template?format=csv');
    expect(csv.headers['content-disposition']).toContain('enrollment-requests-template.csv');
    expect(csv.body.startsWith('\uFEFF' + HEADER + '\r\n')).toBe(true);
    const txt = await t.call(t.owner, 'GET', '/api/v1/enrollment-requests/template?format=txt');
    expect(txt.headers['content-type']).toContain('text/plain');
    expect(txt.body.startsWith('\uFEFF' + HEADER.replace(/,/g, '\t') + '\r\n')).toBe(true);
    expect(txt.body.split('\r\n').filter(Boolean)).toHaveLength(3);
  });

  it("refuses the template's example rows left in the file (TEMPLATE_EXAMPLE): no user created, no request, no notice", async () => {
    const txt = (await t.call(t.owner, 'GET', '/api/v1/enrollment-requests/template?format=txt')).body;
    const count = async () => (await t.call(t.owner, 'GET', '/api/v1/enrollment-requests?limit=1')).json().total;
    const before = await count();
    const notices = async () => Number((await t.db.system('operator command', (tx) => tx.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow())).n);
    const queued = await notices();
    // The template as downloaded, one row of its own added (the example's first row for a real user).
    const own = txt.split('\r\n')[1]!.replace('jane.doe', 'linked1');
    const job = await bulk('enrollment-requests-template.txt', `${txt.trimEnd()}\r\n${own}\r\n`);
    expect(job).toMatchObject({ status: 'succeeded', counts: { failed: 2 } });
    expect(job.counts.created + job.counts.refreshed).toBe(1); // linked1's request, new or its Pending one refreshed
    expect((await results(job.id)).map((r) => [r.Row, r.Code])).toEqual([['2', 'TEMPLATE_EXAMPLE'], ['3', 'TEMPLATE_EXAMPLE'], ['4', '']]);
    expect(await count()).toBe(before + job.counts.created);
    expect((await t.call(t.owner, 'GET', '/api/v1/users?q=sam.lee')).json().items).toEqual([]);
    expect(await notices()).toBe(queued + 2); // linked1's notice and the job's summary email
  });

  it('keeps roles: helpdesk cannot Bulk Add (403); Idempotency-Key returns the same job', async () => {
    const helpdesk = await t.adminWithRole('helpdesk');
    expect((await uploadRequests(t, helpdesk, 'x.csv', `${HEADER}\n`)).statusCode).toBe(403);
    const body = `${HEADER}\nlinked4,,,,macOS,Corporate Owned,No,,,,None,\n`;
    const a = await uploadRequests(t, t.owner, 'idem.csv', body, 'bulk-key-1');
    const b = await uploadRequests(t, t.owner, 'idem.csv', body, 'bulk-key-1');
    expect(b.json().id).toBe(a.json().id);
    await waitForJob(t, t.owner, a.json().id);
    const c = await uploadRequests(t, t.owner, 'other.csv', body + 'x\n', 'bulk-key-1');
    expect(c.statusCode).toBe(422);
  });
});

describe.each(ENGINES)('Bulk Add against a concurrent writer on %s', (engine) => {
  it('runs a batch again when a user it creates was created meanwhile: every row applied once, no row failed', async () => {
    const t = await createTestPippin(engine, {}, { runJobs: false });
    try {
      const rows = ['fresh1', 'fresh2', 'fresh3'].map((u) => `${u},,${u}@corp.example,,macOS,Corporate Owned,No,,,,None,`);
      const id = (await uploadRequests(t, t.owner, 'fresh.csv', [HEADER, ...rows].join('\n'))).json().id;
      const { createJobRunner } = await import('../../src/jobs/runner.js');
      const { runBulkAdd } = await import('../../src/enrollments/bulk-add.js');
      const uow = t.services.uow;
      // The first insert of the batch's new users loses fresh2, as to an admin creating it at that moment.
      let lose = true;
      let inserts = 0;
      const losing = withStores(uow, (s) => ({
        ...s,
        users: {
          ...s.users,
          insertMany: (users, marks) => {
            inserts++;
            const kept = users.filter((u) => !(lose && u.username === 'fresh2'));
            lose = false;
            return s.users.insertMany(kept, marks.filter((_, i) => kept.includes(users[i]!)));
          },
        },
      }));
      const clock = { now: () => new Date() };
      const random = { id: () => crypto.randomUUID(), bytes: (n: number) => crypto.getRandomValues(Buffer.alloc(n)) };
      const runner = createJobRunner(
        {
          uow,
          clock,
          random,
          handlers: {
            users_import: async () => ({ status: 'succeeded' }),
            enrollment_bulk_add: async (work) =>
              runBulkAdd(
                { uow: losing, clock, random, limits: TEST_IMPORT_LIMITS, filePath: await t.services.files.localPath(work.accountId, work.fileId!), work },
                { secretKey: t.secretKey, publicUrl: 'https://pippin.example' },
              ),
          },
        },
        { node: 'concurrent' },
      );
      expect(await runner.runOnce()).toBe(true);
      expect(inserts).toBe(2);
      const job = (await t.call(t.owner, 'GET', `/api/v1/jobs/${id}`)).json();
      expect(job).toMatchObject({ status: 'succeeded', counts: { created: 3, failed: 0 } });
      const lines = parse((await t.call(t.owner, 'GET', `/api/v1/jobs/${id}/results`)).body, { bom: true, columns: true }) as Record<string, string>[];
      expect(lines.map((l) => [l.Username, l.Result, l.Message])).toEqual([
        ['fresh1', 'Created', 'User fresh1 created'],
        ['fresh2', 'Created', 'User fresh2 created'],
        ['fresh3', 'Created', 'User fresh3 created'],
      ]);
      // Each URL given in the results opens its own request: the first try's secrets died with it.
      for (const l of lines) {
        const stored = await t.db.system('operator command', (tx) => tx.selectFrom('enrollment_requests').select('token_hash').where('token_hash', '=', tokenHash(t.secretKey, l['Enrollment URL']!.split('/').pop()!)).execute());
        expect(stored).toHaveLength(1);
      }
      expect((await t.call(t.owner, 'GET', '/api/v1/enrollment-requests?limit=200')).json().items).toHaveLength(3);
      expect((await t.call(t.owner, 'GET', '/api/v1/users/summary')).json().total).toBe(3);
    } finally {
      await t.close();
    }
  });
});
