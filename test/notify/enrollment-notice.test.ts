import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeQr } from '../support/qr.js';
import type { ParsedMail } from 'mailparser';
import { systemClock, systemRandom } from '../../src/core/clock.js';
import { enqueueEnrollmentNotice, renderEnrollmentEmail, renderEnrollmentSms, type EnrollmentNoticeInputs } from '../../src/notify/enrollment-notice.js';
import { notice, NOTICE_URL as URL_ } from '../support/notice.js';
import { PermanentSendError } from '../../src/notify/message.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { startSmtpServer, until } from '../support/smtp.js';

describe('the enrollment notice email, through the outbox to a real SMTP server', () => {
  let mail: Awaited<ReturnType<typeof startSmtpServer>>;
  let t: TestPippin;
  beforeAll(async () => {
    mail = await startSmtpServer();
    t = await createTestPippin('sqlite', { SMTP_URL: `smtp://127.0.0.1:${mail.port}`, SMTP_FROM: 'Pippin <noreply@example.com>' }, { runJobs: false });
  });
  afterAll(async () => {
    await t?.close();
    await mail?.close();
  });

  const send = async (inputs: EnrollmentNoticeInputs): Promise<ParsedMail> => {
    const before = mail.received.length;
    await t.services.uow.inAccount(t.accountId, (s) => enqueueEnrollmentNotice(s, inputs, { secretKey: t.secretKey, clock: systemClock, random: systemRandom }));
    await t.services.outbox.runOnce();
    return until(() => mail.received[before]);
  };

  it('carries the link, the passcode, the User Enrollment steps with the Managed Apple ID, the expiry and a QR code of the link', async () => {
    const email = await send(notice());
    expect(email.subject).toBe('Example Corp: enrol your iPhone or iPad (User Enrollment)');
    expect(email.from?.text).toContain('noreply@example.com');
    expect((email.to as { value: { address: string; name: string }[] }).value[0]).toEqual({ address: 'jane.doe@corp.example', name: 'Jane Doe' });
    for (const body of [email.text!, email.html as string]) {
      expect(body).toContain(URL_);
      expect(body).toContain('K7QM4XPT');
      expect(body).toContain('jane.doe@appleid.example.com');
      expect(body).toContain('iOS 13 to 17');
      expect(body).toContain('Settings ▸ Profile Downloaded');
      expect(body).toContain('Wednesday 8 January 2031, 14:00 UTC');
    }
    const settings = 'Settings ▸ General ▸ VPN & Device Management ▸ Sign In to Work or School Account';
    expect(email.text).toContain(settings);
    expect(email.html).toContain(settings.replace('&', '&amp;'));
    expect(email.text).toContain('On iOS 15 or later');
    expect(email.text).toMatch(/^ {2}1\. Open Settings ▸ General ▸ VPN & Device Management ▸ Sign In to Work or School Account and enter jane\.doe@appleid\.example\.com\.$/m);

    const [qr] = email.attachments;
    expect(email.attachments).toHaveLength(1);
    expect(qr!.contentType).toBe('image/png');
    expect(qr!.contentDisposition).toBe('inline');
    expect(email.html).toContain(`src="cid:${qr!.cid}"`);
    expect(decodeQr(qr!.content)).toBe(URL_);

    const row = await t.db.system('operator command', (tx) => tx.selectFrom('outbox').selectAll().where('kind', '=', 'enrollment_notice').executeTakeFirstOrThrow());
    expect(row).toMatchObject({ status: 'sent', sealed: null, attempts: 0 });
  });

  it('escapes a hostile full name in HTML and lets no line break of a name into a header', async () => {
    const email = await send(notice({ fullName: 'Eve <script>alert(1)</script>\r\nBcc: spy@evil.example', accountName: 'Evil\r\nBcc: spy2@evil.example Corp', requestId: '0191f2a4-8b7c-7d2e-9f10-aaaaaaaaaaaa' }));
    expect(email.html).not.toContain('<script>');
    expect(email.html).toContain('Eve &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(email.bcc).toBeUndefined();
    expect(email.headers.has('bcc')).toBe(false);
    expect(email.subject).toBe('Evil Bcc: spy2@evil.example Corp: enrol your iPhone or iPad (User Enrollment)');
    const to = (email.to as { value: { address: string; name: string }[] }).value;
    expect(to).toHaveLength(1);
    expect(to[0]!.address).toBe('jane.doe@corp.example');
    expect(to[0]!.name).toBe('Eve <script>alert(1)</script> Bcc: spy@evil.example');
  });
});

describe('enrollment notice templates', () => {
  it('gives the profile steps for an ordinary iOS request', async () => {
    const email = await renderEnrollmentEmail(notice({ userEnrollment: false, managedAppleId: null }));
    expect(email.subject).toBe('Example Corp: enrol your iPhone or iPad');
    expect(email.text).not.toContain('VPN & Device Management');
    expect(email.text).toContain(`1. Open this link in Safari on your iPhone or iPad: ${URL_}`);
    expect(email.text).toContain('2. When asked, enter the passcode K7QM4XPT.');
    expect(email.text).toContain('3. Allow the download, then open Settings ▸ Profile Downloaded, tap Install');
  });

  it('gives the System Settings steps on macOS, and a User Enrollment flag there changes nothing', async () => {
    const email = await renderEnrollmentEmail(notice({ platform: 'macos', userEnrollment: true }));
    expect(email.subject).toBe('Example Corp: enrol your Mac');
    expect(email.text).toContain('Open this link in Safari on your Mac');
    expect(email.text).toContain('System Settings ▸ Privacy & Security ▸ Profiles');
    expect(email.html).toContain('System Settings ▸ Privacy &amp; Security ▸ Profiles');
    expect(email.text).not.toContain('Profile Downloaded');
  });

  it('asks for the directory password in auth mode local, for nothing when seamless, and says a resend replaces the earlier one', async () => {
    const local = await renderEnrollmentEmail(notice({ userEnrollment: false, authMode: 'local', passcode: null }));
    expect(local.text).toContain('When asked, sign in with your username jdoe and your Example Corp password.');
    expect(local.text).not.toContain('passcode K');
    expect(local.html).toContain('<strong>jdoe</strong>');
    const seamless = await renderEnrollmentEmail(notice({ userEnrollment: false, seamless: true, passcode: null, resend: true }));
    expect(seamless.text).toContain('No passcode is needed');
    expect(seamless.text).not.toContain('When asked');
    expect(seamless.subject).toBe('Reminder: Example Corp: enrol your iPhone or iPad');
    expect(seamless.text).toContain('This invitation replaces any earlier one');
  });

  it('refuses an address that cannot receive mail as a permanent failure', async () => {
    await expect(renderEnrollmentEmail(notice({ to: 'jane\r\nBcc: x@evil.example' }))).rejects.toThrow(PermanentSendError);
    await expect(renderEnrollmentEmail(notice({ to: 'not an address' }))).rejects.toThrow('Email Address "not an address" is not a valid email address');
  });

  it('writes a short plain-ASCII SMS with the link, the passcode and, for User Enrollment, the Managed Apple ID hint', () => {
    const ue = renderEnrollmentSms(notice({ channel: 'sms', to: '+44 20 7946 0958' }));
    expect(ue.to).toBe('+44 20 7946 0958');
    expect(ue.body).toContain(URL_);
    expect(ue.body).toContain('Passcode: K7QM4XPT.');
    expect(ue.body).toContain('Sign In to Work or School Account, enter jane.doe@appleid.example.com');
    expect(ue.body).toMatch(/^[\x20-\x7e]+$/);
    const plain = renderEnrollmentSms(notice({ channel: 'sms', userEnrollment: false, authMode: 'local', passcode: null }));
    expect(plain.body).toBe(`Example Corp: enrol your iPhone/iPad: open ${URL_} in Safari. Sign in as jdoe. Expires 2031-01-08.`);
    expect(plain.body.length).toBeLessThanOrEqual(160);
  });
});
