import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderImportSummary } from '../../src/notify/import-summary.js';
import type { Job } from '../../src/jobs/model.js';
import { MAX_ATTEMPTS, retryAt } from '../../src/notify/sender.js';
import { seal, unseal } from '../../src/notify/seal.js';
import { createTestPippin, uploadUsers, waitForJob, type TestPippin } from '../support/app.js';
import { startSmtpServer, until } from '../support/smtp.js';

describe('the bulk upload summary email', () => {
  let mail: Awaited<ReturnType<typeof startSmtpServer>>;
  let t: TestPippin;
  beforeAll(async () => {
    mail = await startSmtpServer();
    t = await createTestPippin('sqlite', { SMTP_URL: `smtp://127.0.0.1:${mail.port}`, SMTP_FROM: 'Pippin <noreply@example.com>' });
  });
  afterAll(async () => {
    await t?.close();
    await mail?.close();
  });

  it('reaches the admin who started the import, with counts, the first 20 failures and the failed rows attached', async () => {
    const lines = ['Username,Email Address,Managed Apple ID'];
    for (let i = 0; i < 5; i++) lines.push(`ok${i},ok${i}@corp.example,ok${i}@appleid.example.com`);
    for (let i = 0; i < 25; i++) lines.push(`bad${i},bad${i}@corp.example,not a maid ${i}`);
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'linking.csv', lines.join('\n'))).json().id);
    expect(job.counts).toMatchObject({ created: 5, failed: 25 });
    const email = await until(() => mail.received[0]);
    expect(email.subject).toBe('Bulk upload summary: linking.csv — 5 created, 0 updated, 25 failed');
    expect(email.from?.text).toContain('noreply@example.com');
    expect((email.to as { text: string }).text).toBe('owner@example.com');
    expect(email.text).toContain('25 rows failed; the other rows were applied.');
    expect(email.text).toContain('Created 5, updated 0, unchanged 0, failed 25.');
    expect(email.text!.match(/^ {2}Row \d+ — MAID_INVALID/gm)).toHaveLength(20);
    expect(email.text).toContain('Row 7 — MAID_INVALID: Managed Apple ID is not valid');
    expect(email.html).toContain('<table');
    expect(email.attachments).toHaveLength(1);
    const attachment = email.attachments[0]!;
    expect(attachment.filename).toBe('linking-failed-rows.csv');
    const rows = parse(attachment.content, { bom: true }) as string[][];
    expect(rows[0]).toEqual(['Username', 'Email Address', 'Managed Apple ID', 'Row', 'Result', 'Code', 'Message']);
    expect(rows).toHaveLength(26);
    expect(rows.slice(1).every((r) => r[4] === 'Failed')).toBe(true);
  });

  it('retries a refused delivery with backoff', async () => {
    mail.state.refuse = true;
    const before = mail.received.length;
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'retry.csv', 'Username,Email Address\nretry1,r@corp.example\n')).json().id);
    const row = await until(async () => {
      const r = await t.db.system('operator command', (tx) => tx.selectFrom('outbox').selectAll().orderBy('created_at', 'desc').executeTakeFirst());
      return r && r.attempts > 0 ? r : undefined;
    });
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row.last_error).toMatch(/451|try later/);
    expect(Date.parse(row.next_attempt_at) - Date.now()).toBeGreaterThan(20_000);
    mail.state.refuse = false;
    await t.db.system('operator command', (tx) => tx.updateTable('outbox').set({ next_attempt_at: new Date(0).toISOString() }).where('id', '=', row.id).execute());
    await t.services.outbox.runOnce();
    const email = await until(() => mail.received[before]);
    expect(email.subject).toContain('retry.csv');
    const sent = await t.db.system('operator command', (tx) => tx.selectFrom('outbox').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow());
    expect(sent).toMatchObject({ status: 'sent', sealed: null });
    expect(job.status).toBe('succeeded');
  });
});

describe('the outbox without SMTP', () => {
  it('writes each message as an .eml file under the data directory', async () => {
    const t = await createTestPippin('sqlite');
    try {
      await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'eml.csv', 'Username,Email Address\neml1,e@corp.example\n')).json().id);
      const dir = path.join(t.config.dataDir, 'outbox');
      const file = await until(() => (fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => f.endsWith('.eml')) : undefined));
      const email = await simpleParser(fs.readFileSync(path.join(dir, file)));
      expect(email.subject).toBe('Bulk upload summary: eml.csv — 1 created, 0 updated, 0 failed');
      expect(email.attachments).toHaveLength(0);
    } finally {
      await t.close();
    }
  });
});

describe('outbox parts', () => {
  it('backs off 30 s, doubling, to an hour, and gives up after the last attempt', () => {
    const now = new Date(0);
    expect(retryAt(now, 0)).toBe(new Date(30_000).toISOString());
    expect(retryAt(now, 1)).toBe(new Date(60_000).toISOString());
    expect(retryAt(now, 6)).toBe(new Date(1_920_000).toISOString());
    expect(retryAt(now, MAX_ATTEMPTS - 1)).toBeNull();
  });

  it('seals inputs so only the secret key opens them', () => {
    const key = Buffer.alloc(32, 7);
    const sealed = seal(key, { to: 'a@b.example', secret: 'passcode-123' });
    expect(sealed).not.toContain('passcode');
    expect(unseal(key, sealed)).toEqual({ to: 'a@b.example', secret: 'passcode-123' });
    expect(() => unseal(Buffer.alloc(32, 8), sealed)).toThrow();
  });

  it('lets no line break of a file name into a header, and escapes it in HTML (BAD-INPUTS 45)', async () => {
    const job: Job = {
      id: 'j', kind: 'users_import', status: 'succeeded', fileName: 'Bob\r\nBcc: x@evil.example<script>.csv', progress: { processed: 1, total: 1 },
      counts: { created: 1, updated: 0, unchanged: 0, refreshed: 0, failed: 0 }, warnings: [], error: null, requestedBy: { id: null, label: 'x' },
      cancelRequested: false, createdAt: '', startedAt: null, finishedAt: null,
    };
    const email = await renderImportSummary({ to: 'a@b.example', jobId: 'j' }, { job: { ...job }, resultsHeader: [], failedChunks: async function* () {} }, 'https://mdm.example.com');
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.subject).toContain('Bob Bcc: x@evil.example');
    expect(email.html).not.toContain('<script>');
    expect(email.html).toContain('&lt;script&gt;');
  });
});
