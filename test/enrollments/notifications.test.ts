/**
 * A request's notices end to end: the API creates the request, the real outbox sender renders and
 * sends it — to a real SMTP server (its QR code read back to the URL) or an SMS webhook that keeps
 * failing, after which the request is Failed with the reason.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS } from '../../src/notify/sender.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { startSmtpServer, until } from '../support/smtp.js';
import { decodeQr } from '../support/qr.js';
import { freePort } from '../setup/postgres.js';

describe('enrollment notices from the API to the employee', () => {
  let mail: Awaited<ReturnType<typeof startSmtpServer>>;
  let hook: { url: string; calls: { auth: string | undefined; body: any }[]; close: () => Promise<void> };
  let t: TestPippin;
  beforeAll(async () => {
    mail = await startSmtpServer();
    const calls: { auth: string | undefined; body: any }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls.push({ auth: req.headers.authorization, body: JSON.parse(body) });
        res.writeHead(500).end('gateway down');
      });
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    hook = { url: `http://127.0.0.1:${port}/sms`, calls, close: () => new Promise((r) => server.close(() => r())) };
    t = await createTestPippin(
      'sqlite',
      { SMTP_URL: `smtp://127.0.0.1:${mail.port}`, SMTP_FROM: 'IT <it@example.com>', SMS_WEBHOOK_URL: hook.url, SMS_WEBHOOK_TOKEN: 'hook-token-1' },
      { runJobs: false },
    );
  });
  afterAll(async () => {
    await t?.close();
    await mail?.close();
    await hook?.close();
  });

  const outboxOf = (requestId: string) =>
    t.db.system('operator command', (tx) => tx.selectFrom('outbox').selectAll().where('ref_id', '=', requestId).execute());

  it('emails the User Enrollment steps with the MAID, the passcode and the link as a QR code that reads back to the URL', async () => {
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: 'qr.jane', email: 'qr.jane@corp.example', fullName: 'Jane <b>QR</b>', managedAppleId: 'qr.jane@appleid.example.com' })).json();
    const r = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'employee_owned', userEnrollment: true })).json();
    const before = (await t.call(t.owner, 'GET', '/api/v1/outbox/summary?kind=enrollment_notice')).json();
    expect(before.queued).toBeGreaterThanOrEqual(1);
    await t.services.outbox.runOnce();
    const email = await until(() => mail.received.find((m) => (m.to as { text: string }).text.includes('qr.jane@corp.example')));
    expect(email.text).toContain(r.url);
    expect(email.text).toContain(r.passcode);
    expect(email.text).toContain('Settings ▸ General ▸ VPN & Device Management ▸ Sign In to Work or School Account');
    expect(email.text).toContain('qr.jane@appleid.example.com');
    expect(email.html).not.toContain('<b>QR</b>');
    const qr = email.attachments.find((a) => a.contentType === 'image/png');
    expect(decodeQr(qr!.content)).toBe(r.url);
    const [row] = await outboxOf(r.id);
    expect(row).toMatchObject({ status: 'sent', sealed: null });
    const after = (await t.call(t.owner, 'GET', '/api/v1/outbox/summary?kind=enrollment_notice')).json();
    expect(after.sent).toBe(before.sent + 1);
  });

  it('retries an SMS webhook answering 500, then gives up and marks the request Failed with the reason', async () => {
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: 'sms.sam', email: 'sms.sam@corp.example', phone: '+44 20 7946 0958' })).json();
    const r = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'corporate_owned', notify: 'sms' })).json();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await t.services.outbox.runOnce();
      const [row] = await outboxOf(r.id);
      if (attempt < MAX_ATTEMPTS) {
        expect(row).toMatchObject({ status: 'pending', attempts: attempt });
        // The backoff's wait, skipped: the next attempt is due now.
        await t.db.system('operator command', (tx) => tx.updateTable('outbox').set({ next_attempt_at: new Date(0).toISOString() }).where('id', '=', row!.id).execute());
      } else expect(row).toMatchObject({ status: 'failed' });
    }
    expect(hook.calls).toHaveLength(MAX_ATTEMPTS);
    expect(hook.calls[0]).toMatchObject({ auth: 'Bearer hook-token-1', body: { to: '+442079460958' } });
    expect(hook.calls[0]!.body.body).toContain(r.url);
    const got = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).json();
    expect(got.status).toBe('failed');
    expect(got.statusReason).toMatch(/^Notification failed: .*500/);
    const audit = (await t.call(t.owner, 'GET', `/api/v1/audit?action=request.failed&objectId=${r.id}`)).json().items;
    expect(audit).toHaveLength(1);
  });

  it('fails a request at once when its phone number cannot be used for SMS', async () => {
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: 'sms.local', email: 'sms.local@corp.example', phone: '555 0100' })).json();
    const r = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'macos', ownership: 'corporate_owned', notify: 'sms' })).json();
    const calls = hook.calls.length;
    await t.services.outbox.runOnce();
    expect(hook.calls.length).toBe(calls);
    const got = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).json();
    expect(got).toMatchObject({ status: 'failed' });
    expect(got.statusReason).toContain('is not a valid phone number');
  });
});
