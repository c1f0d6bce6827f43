import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/core/clock.js';
import { enqueueEnrollmentNotice, type EnrollmentNoticeInputs } from '../../src/notify/enrollment-notice.js';
import { PermanentSendError } from '../../src/notify/message.js';
import { createOutboxSender, fileTransport, MAX_ATTEMPTS, smtpTransport, type GivenUpMessage, type MailTransport } from '../../src/notify/sender.js';
import { fileSmsTransport, toE164, webhookSmsTransport, type SmsTransport } from '../../src/notify/sms.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { ENGINES, tempDir } from '../support/db.js';
import { notice, NOTICE_URL } from '../support/notice.js';
import { startSmtpServer } from '../support/smtp.js';

/** A clock that moves only when told. */
function fakeClock(start = Date.now()) {
  let ms = start;
  return { now: () => new Date(ms), advance: (by: number) => void (ms += by) };
}

/** A local SMS webhook: keeps each call (headers and JSON body) and answers `state.status`. */
async function startWebhook() {
  const calls: { authorization?: string; idempotencyKey?: string; contentType?: string; body: { to: string; body: string } }[] = [];
  const state = { status: 200 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push({
        authorization: req.headers.authorization,
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
        contentType: req.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      res.statusCode = state.status;
      res.end(state.status < 300 ? '{"ok":true}' : 'provider down');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  return { url, calls, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

type Clock = ReturnType<typeof fakeClock>;

const enqueue = (t: TestPippin, clock: Clock, inputs: EnrollmentNoticeInputs, accountId = t.accountId) =>
  t.services.uow.inAccount(accountId, (s) => enqueueEnrollmentNotice(s, inputs, { secretKey: t.secretKey, clock, random: systemRandom }));

const outboxRows = (t: TestPippin) => t.db.system('operator command', (tx) => tx.selectFrom('outbox').selectAll().orderBy('created_at').orderBy('id').execute());

/** A sender of the test's own, on the fake clock; `gaveUp` collects what its hook was told. */
function testSender(t: TestPippin, clock: Clock, sms: SmsTransport, transport: MailTransport = fileTransport(tempDir())) {
  const gaveUp: { m: GivenUpMessage; reason: string }[] = [];
  const sender = createOutboxSender({
    uow: t.services.uow, clock, secretKey: t.secretKey, transport, sms, from: 'Pippin <noreply@example.com>', publicUrl: 'https://mdm.example.com', rate: 1000,
    onGaveUp: async (m, reason) => void gaveUp.push({ m, reason }),
  });
  return { sender, gaveUp };
}

describe('phone numbers to E.164', () => {
  it.each([
    ['+44 20 7946 0958', undefined, '+442079460958'],
    ['0044 20 7946 0958', undefined, '+442079460958'],
    ['+1 (415) 555-0100', undefined, '+14155550100'],
    ['tel:+14155550100', undefined, '+14155550100'],
    ['+44 20 7946 0958 x12', undefined, '+442079460958'],
    ['(415) 555-0100', 'US', '+14155550100'],
    ['020 7946 0958', 'GB', '+442079460958'],
  ] as const)('%s (default country %s) is %s', (typed, country, e164) => {
    expect(toE164(typed, country)).toBe(e164);
  });

  it('refuses a number without a country code when no default country is set, saying so', () => {
    expect(() => toE164('(415) 555-0100')).toThrow(PermanentSendError);
    expect(() => toE164('(415) 555-0100')).toThrow('Phone Number "(415) 555-0100" is not a valid phone number: it has no country code (write it as +<country code> <number>)');
  });

  it.each(['+44 12', 'call me', '', '+999 1234 5678'])('refuses %j as no phone number', (typed) => {
    expect(() => toE164(typed)).toThrow(new RegExp(`^Phone Number "${typed.replace(/[+()]/g, '\\$&')}" is not a valid phone number`));
  });
});

describe('enrollment notices by SMS', () => {
  let hook: Awaited<ReturnType<typeof startWebhook>>;
  let t: TestPippin;
  let clock: Clock;
  beforeAll(async () => {
    hook = await startWebhook();
  });
  afterAll(() => hook?.close());
  beforeEach(async () => {
    t = await createTestPippin('sqlite', {}, { runJobs: false });
    clock = fakeClock();
    hook.calls.length = 0;
    hook.state.status = 200;
  });
  afterEach(() => t?.close());

  it('POSTs { to, body } as JSON to the webhook, the number in E.164, with the bearer token, and drops the sealed inputs once sent', async () => {
    const { sender } = testSender(t, clock, webhookSmsTransport({ url: hook.url, token: 'hook-secret-1' }));
    await enqueue(t, clock, notice({ channel: 'sms', to: '+44 20 7946 0958' }));
    expect(await sender.runOnce()).toBe(1);
    expect(hook.calls).toHaveLength(1);
    const [call] = hook.calls;
    const [row] = await outboxRows(t);
    expect(call).toMatchObject({ authorization: 'Bearer hook-secret-1', contentType: 'application/json', idempotencyKey: row!.id });
    expect(call!.body.to).toBe('+442079460958');
    expect(call!.body.body).toContain(NOTICE_URL);
    expect(call!.body.body).toContain('Passcode: K7QM4XPT.');
    expect(call!.body.body).toContain('enter jane.doe@appleid.example.com');
    expect(Object.keys(call!.body).sort()).toEqual(['body', 'to']);
    expect(row).toMatchObject({ status: 'sent', sealed: null, attempts: 0 });
  });

  it('sends no Authorization header without a token', async () => {
    await webhookSmsTransport({ url: hook.url }).send({ to: '+1 415 555 0100', body: 'hello' }, 'm1');
    expect(hook.calls[0]).toMatchObject({ authorization: undefined, body: { to: '+14155550100', body: 'hello' } });
  });

  it('retries a webhook answering 500 with backoff, and after the last attempt gives up and calls onGaveUp with the reason', async () => {
    hook.state.status = 500;
    const { sender, gaveUp } = testSender(t, clock, webhookSmsTransport({ url: hook.url, token: 'hook-secret-1' }));
    const inputs = notice({ channel: 'sms', to: '+44 20 7946 0958' });
    await enqueue(t, clock, inputs);

    expect(await sender.runOnce()).toBe(1);
    let [row] = await outboxRows(t);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, last_error: 'The SMS webhook answered 500 Internal Server Error' });
    expect(Date.parse(row!.next_attempt_at) - clock.now().getTime()).toBe(30_000);
    expect(await sender.runOnce()).toBe(0);
    clock.advance(30_000);
    for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
      expect(gaveUp).toEqual([]);
      expect(await sender.runOnce()).toBe(1);
      clock.advance(3600_000);
    }
    expect(hook.calls).toHaveLength(MAX_ATTEMPTS);
    expect(await sender.runOnce()).toBe(0);
    [row] = await outboxRows(t);
    expect(row).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS });
    const reason = `The SMS webhook answered 500 Internal Server Error (gave up after ${MAX_ATTEMPTS} attempts)`;
    expect(row!.last_error).toBe(reason);
    expect(gaveUp).toEqual([{ m: { accountId: t.accountId, kind: 'enrollment_notice', inputs }, reason }]);
  });

  it('gives up at once, without calling the webhook, on a number that is no phone number', async () => {
    const { sender, gaveUp } = testSender(t, clock, webhookSmsTransport({ url: hook.url }));
    const inputs = notice({ channel: 'sms', to: '(415) 555-0100' });
    await enqueue(t, clock, inputs);
    expect(await sender.runOnce()).toBe(1);
    expect(hook.calls).toEqual([]);
    const reason = 'Phone Number "(415) 555-0100" is not a valid phone number: it has no country code (write it as +<country code> <number>)';
    expect(gaveUp).toEqual([{ m: { accountId: t.accountId, kind: 'enrollment_notice', inputs }, reason }]);
    expect((await outboxRows(t))[0]).toMatchObject({ status: 'failed', attempts: 1, last_error: reason });
  });

  it('gives an email up at once when the SMTP server refuses it permanently (5xx), and retries a 4xx', async () => {
    const mail = await startSmtpServer();
    try {
      const { sender, gaveUp } = testSender(t, clock, fileSmsTransport(tempDir()), smtpTransport(`smtp://127.0.0.1:${mail.port}`));
      mail.state.refuse = true;
      mail.state.refuseCode = 550;
      await enqueue(t, clock, notice());
      await sender.runOnce();
      expect(gaveUp).toHaveLength(1);
      expect(gaveUp[0]!.reason).toMatch(/550.*no such mailbox/);
      mail.state.refuseCode = 451;
      clock.advance(1);
      await enqueue(t, clock, notice({ requestId: 'r2' }));
      await sender.runOnce();
      expect(gaveUp).toHaveLength(1);
      expect((await outboxRows(t)).map((r) => [r.status, r.attempts])).toEqual([['failed', 1], ['pending', 1]]);
    } finally {
      await mail.close();
    }
  });

  it('without SMS_WEBHOOK_URL writes each SMS as JSON under data/outbox/sms', async () => {
    await enqueue(t, clock, notice({ channel: 'sms', to: '+1 (415) 555-0100', userEnrollment: false }));
    expect(await t.services.outbox.runOnce()).toBe(1);
    const [row] = await outboxRows(t);
    expect(row).toMatchObject({ status: 'sent' });
    const file = path.join(t.config.dataDir, 'outbox', 'sms', `${row!.id}.json`);
    const sms = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(sms.to).toBe('+14155550100');
    expect(sms.body).toBe(`Example Corp: enrol your iPhone/iPad: open ${NOTICE_URL} in Safari. Passcode: K7QM4XPT. Expires 2031-01-08.`);
  });

  it('takes one token of the pacer for each message it sends', async () => {
    let takes = 0;
    const sender = createOutboxSender({
      uow: t.services.uow, clock, secretKey: t.secretKey, transport: fileTransport(tempDir()), sms: fileSmsTransport(tempDir()), from: 'x <x@example.com>', publicUrl: 'https://mdm.example.com',
      pacer: { take: async () => void takes++ },
    });
    for (const to of ['+44 20 7946 0958', '+1 415 555 0100', '+44 20 7946 0959']) await enqueue(t, clock, notice({ channel: 'sms', to }));
    expect(await sender.runOnce()).toBe(3);
    expect(takes).toBe(3);
  });
});

describe.each(ENGINES)('GET /api/v1/outbox/summary on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine, {}, { runJobs: false });
    const clock = fakeClock();
    const mail: MailTransport = {
      async send() {
        throw new Error('421 mail server busy');
      },
    };
    const { sender } = testSender(t, clock, fileSmsTransport(tempDir()), mail);
    for (const to of ['+44 20 7946 0958', '+1 415 555 0100']) {
      await enqueue(t, clock, notice({ channel: 'sms', to }));
      clock.advance(1);
    }
    await enqueue(t, clock, notice());
    clock.advance(1);
    await enqueue(t, clock, notice({ channel: 'sms', to: '555' }));
    await sender.runOnce();
  });
  afterAll(() => t?.close());

  const expected = { queued: 1, retrying: 1, sent: 2, failed: 1, lastError: 'Phone Number "555" is not a valid phone number: it has no country code (write it as +<country code> <number>)' };

  it('counts the account’s messages by state, with the newest error', async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/outbox/summary');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(expected);
    expect((await t.call(t.owner, 'GET', '/api/v1/outbox/summary?kind=enrollment_notice')).json()).toEqual(expected);
    expect((await t.call(t.owner, 'GET', '/api/v1/outbox/summary?kind=import_summary')).json()).toEqual({ queued: 0, retrying: 0, sent: 0, failed: 0, lastError: null });
  });

  it('is readable by every role that reads requests, refuses an unknown kind, and shows another account nothing', async () => {
    for (const role of ['admin', 'helpdesk', 'auditor'] as const) {
      const res = await t.call(await t.adminWithRole(role), 'GET', '/api/v1/outbox/summary');
      expect(res.statusCode, role).toBe(200);
      expect(res.json()).toEqual(expected);
    }
    expect((await t.call(t.owner, 'GET', '/api/v1/outbox/summary?kind=newsletter')).statusCode).toBe(400);
    expect((await t.call(null, 'GET', '/api/v1/outbox/summary')).statusCode).toBe(401);
    const other = await t.otherAccount();
    expect((await t.call(other.owner, 'GET', '/api/v1/outbox/summary')).json()).toEqual({ queued: 0, retrying: 0, sent: 0, failed: 0, lastError: null });
  });
});
