/** Enrollment requests through the API on both engines: one at a time, the rules, resend, delete, expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSCODE_ALPHABET, tokenHash } from '../../src/enrollments/secrets.js';
import { createTestPippin, type Caller, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

describe.each(ENGINES)('Enrollment requests on %s', (engine) => {
  let t: TestPippin;
  let n = 0;
  beforeAll(async () => {
    t = await createTestPippin(engine, {}, { runJobs: false });
  });
  afterAll(() => t?.close());

  /** A new user, with a MAID unless told otherwise. */
  const user = async (extra: Record<string, unknown> = {}) => {
    const u = `emp${++n}`;
    const res = await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, managedAppleId: `${u}@appleid.example.com`, ...extra });
    expect(res.statusCode).toBe(201);
    return res.json();
  };
  const ask = (body: Record<string, unknown>, as: Caller = t.owner) => t.call(as, 'POST', '/api/v1/enrollment-requests', body);
  const ue = (userId: string, extra: Record<string, unknown> = {}) => ({ userId, platform: 'ios', ownership: 'employee_owned', userEnrollment: true, ...extra });
  const audit = async (action: string, objectId: string) => (await t.call(t.owner, 'GET', `/api/v1/audit?action=${action}&objectId=${objectId}`)).json().items as any[];
  /** Reads and writes past row-level security, as a test inspecting storage must. */
  const raw = <T>(fn: (tx: TestPippin['db']['kysely']) => Promise<T>) => t.db.system('operator command', fn as never) as Promise<T>;
  const row = (id: string) => raw((tx) => tx.selectFrom('enrollment_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
  const setAccount = async (patch: Record<string, unknown>) => expect((await t.call(t.owner, 'PATCH', '/api/v1/account', patch)).statusCode).toBe(200);

  it('creates a User Enrollment request: Request Type "MDM (Apple User Enrollment)", the URL and passcode once, only their HMACs stored, a notice queued, audited', async () => {
    const u = await user();
    const res = await ask(ue(u.id, { comments: 'her own iPhone' }));
    expect(res.statusCode).toBe(201);
    const r = res.json();
    expect(r).toMatchObject({
      userId: u.id, username: u.username, managedAppleId: u.managedAppleId, platform: 'ios', ownership: 'employee_owned', userEnrollment: true,
      requestMode: 'enrollment', authMode: 'passcode', authModeOverridden: false, seamless: false, notify: 'email', email: u.email,
      requestType: 'MDM (Apple User Enrollment)', status: 'pending', statusReason: null, refreshed: false, deviceId: null,
      requestedBy: { label: 'owner@example.com' },
    });
    const token = r.url.match(/^http:\/\/127\.0\.0\.1:8080\/enroll\/([A-Za-z0-9_-]+)$/)[1];
    expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(r.passcode).toMatch(new RegExp(`^[${PASSCODE_ALPHABET}]{8}$`));
    expect(Date.parse(r.expiresAt) - Date.parse(r.createdAt)).toBe(168 * 3600_000);
    const got = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).json();
    expect(got.url).toBeUndefined();
    expect(got.passcode).toBeUndefined();
    const stored = await row(r.id);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(stored)).not.toContain(r.passcode);
    expect(stored.token_hash).toBe(tokenHash(t.secretKey, token));
    const notices = await raw((tx) => tx.selectFrom('outbox').selectAll().where('ref_id', '=', r.id).execute());
    expect(notices.map((m) => m.kind)).toEqual(['enrollment_notice']);
    expect(notices[0]!.sealed).not.toContain(r.passcode);
    const [event] = await audit('request.create', r.id);
    expect(event.after).toMatchObject({ requestType: 'MDM (Apple User Enrollment)', status: 'pending' });
    expect(JSON.stringify(event)).not.toContain(r.passcode);
  });

  it('refreshes the Pending request of the same user and platform (new passcode and token, the old ones dead), never a second one', async () => {
    const u = await user();
    const first = (await ask(ue(u.id))).json();
    const again = await ask(ue(u.id, { notify: 'none' }));
    expect(again.statusCode).toBe(201);
    const second = again.json();
    expect(second).toMatchObject({ id: first.id, refreshed: true, notify: 'none', status: 'pending' });
    expect(second.url).not.toBe(first.url);
    expect(second.passcode).not.toBe(first.passcode);
    const stored = await row(first.id);
    expect(stored.token_hash).toBe(tokenHash(t.secretKey, second.url.split('/').pop()));
    const list = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests?userId=${u.id}`)).json();
    expect(list.items).toHaveLength(1);
    expect(await audit('request.refresh', first.id)).toHaveLength(1);
    // Another platform is another request.
    const mac = (await ask({ userId: u.id, platform: 'macos', ownership: 'corporate_owned' })).json();
    expect(mac).toMatchObject({ refreshed: false, requestType: 'MDM', platform: 'macos' });
    expect(mac.id).not.toBe(first.id);
  });

  it('makes one Pending request of several sent at once for the same user and platform; the others refresh it', async () => {
    const u = await user();
    const sent = await Promise.all(Array.from({ length: 5 }, () => ask(ue(u.id))));
    expect(sent.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(sent.map((r) => r.json().id)).size).toBe(1);
    expect(sent.filter((r) => r.json().refreshed)).toHaveLength(4);
    const list = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests?userId=${u.id}`)).json();
    expect(list.items.map((r: any) => r.status)).toEqual(['pending']);
    // The last one sent is the one whose token works.
    const stored = await row(list.items[0].id);
    expect(sent.map((r) => tokenHash(t.secretKey, r.json().url.split('/').pop()))).toContain(stored.token_hash);
  });

  it('renews a request only in the status it was read in: a request deleted meanwhile stays deleted', async () => {
    const { RowChanged } = await import('../../src/db/database.js');
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    expect((await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${r.id}`)).statusCode).toBe(200);
    const stored = await row(r.id);
    const fields = {
      email: u.email, phone: '', ownership: 'employee_owned', userEnrollment: true, requestMode: 'enrollment', authMode: 'passcode', authModeOverridden: false,
      seamless: false, notify: 'email', comments: '', tokenHash: 'renewed-token', passcodeHash: 'renewed-passcode', requestedBy: null, requestedByLabel: 'test',
      expiresAt: new Date(Date.now() + 3600_000).toISOString(), importJobId: null, importRow: null,
    } as const;
    // A resend read it Pending before the delete committed.
    await expect(t.services.uow.inAccount(t.accountId, (s) => s.requests.renew(r.id, fields, new Date().toISOString(), 'pending'))).rejects.toBeInstanceOf(RowChanged);
    expect(await row(r.id)).toMatchObject({ status: 'deleted', token_hash: stored.token_hash });
    expect((await t.call(t.owner, 'POST', `/api/v1/enrollment-requests/${r.id}/resend`)).json().error.code).toBe('REQUEST_CLOSED');
  });

  it('refuses User Enrollment with every broken rule listed (UE_NOT_ELIGIBLE), and creates nothing', async () => {
    const u = await user({ managedAppleId: null });
    const before = (await t.call(t.owner, 'GET', '/api/v1/enrollment-requests')).json().total;
    const res = await ask(ue(u.id, { ownership: 'corporate_owned', seamless: true, authMode: 'local' }));
    expect(res.statusCode).toBe(422);
    const body = res.json();
    expect(body.error.code).toBe('UE_NOT_ELIGIBLE');
    expect(body.error.details.issues.map((i: any) => i.code)).toEqual(['UE_NOT_WITH_SEAMLESS', 'UE_REQUIRES_EMPLOYEE_OWNED', 'UE_REQUIRES_MANAGED_APPLE_ID', 'UE_NOT_WITH_AUTH_OVERRIDE']);
    expect(body.error.details.issues[2].message).toBe('User Enrollment requires the user to have a linked Managed Apple ID');
    expect((await t.call(t.owner, 'GET', '/api/v1/enrollment-requests')).json().total).toBe(before);
    // Without User Enrollment the same user may have an ordinary request.
    expect((await ask({ userId: u.id, platform: 'ios', ownership: 'corporate_owned' })).json().requestType).toBe('MDM');
  });

  it('refuses Android and Windows with PLATFORM_NOT_SUPPORTED; an Android UE request breaks rule 1 as well', async () => {
    const u = await user();
    for (const platform of ['android', 'windows']) {
      const res = await ask({ userId: u.id, platform, ownership: 'corporate_owned' });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('PLATFORM_NOT_SUPPORTED');
    }
    const both = (await ask(ue(u.id, { platform: 'android' }))).json();
    expect(both.error.code).toBe('UE_NOT_ELIGIBLE');
    expect(both.error.details.issues.map((i: any) => i.code)).toEqual(['PLATFORM_NOT_SUPPORTED', 'UE_IOS_ONLY']);
  });

  it('resolves the request mode by the account: Activation is refused in an mdm account; in a mixed one the column, the MDM comment, then the default decide', async () => {
    const u = await user();
    const refused = await ask({ userId: u.id, platform: 'ios', ownership: 'corporate_owned', requestMode: 'activation' });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.code).toBe('REQUEST_MODE_NOT_AVAILABLE');
    await setAccount({ deploymentMode: 'mixed', defaultRequestMode: 'activation' });
    try {
      const blank = (await ask(ue(u.id))).json();
      expect(blank.error.details.issues.map((i: any) => i.code)).toEqual(['UE_NOT_FOR_ACTIVATION', 'UE_MIXED_MODE_REQUIRES_ENROLLMENT']);
      const byComment = await ask(ue(u.id, { comments: 'MDM please' }));
      expect(byComment.statusCode).toBe(201);
      expect(byComment.json()).toMatchObject({ requestMode: 'enrollment', requestType: 'MDM (Apple User Enrollment)' });
      const activation = (await ask({ userId: u.id, platform: 'macos', ownership: 'corporate_owned' })).json();
      expect(activation).toMatchObject({ requestMode: 'activation', requestType: 'SPS Activation' });
      await setAccount({ deploymentMode: 'sps' });
      const sps = (await ask(ue(u.id, { platform: 'ios' }))).json();
      expect(sps.error.details.issues.map((i: any) => i.code)).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
    } finally {
      await setAccount({ deploymentMode: 'mdm', defaultRequestMode: 'enrollment' });
    }
  });

  it('answers 404 for an unknown user (by id or by username), names a missing phone for SMS, and finds a user by username and domain', async () => {
    expect((await ask({ userId: '0190f3a0-0000-7000-8000-000000000000', platform: 'ios', ownership: 'corporate_owned' })).statusCode).toBe(404);
    expect((await ask({ username: 'nobody', platform: 'ios', ownership: 'corporate_owned' })).statusCode).toBe(404);
    const u = await user();
    const sms = await ask({ userId: u.id, platform: 'ios', ownership: 'corporate_owned', notify: 'sms' });
    expect(sms.statusCode).toBe(400);
    expect(sms.json().error.details.issues[0]).toMatchObject({ path: 'phone' });
    const byName = await ask({ username: u.username.toUpperCase(), domain: 'example.com', platform: 'ios', ownership: 'corporate_owned', notify: 'sms', phone: '+44 20 7946 0958' });
    expect(byName.statusCode).toBe(201);
    expect(byName.json()).toMatchObject({ userId: u.id, phone: '+44 20 7946 0958', notify: 'sms' });
    expect((await ask({ platform: 'ios', ownership: 'corporate_owned' })).statusCode).toBe(400);
  });

  it('resends with new secrets, deletes (the request then cannot be resent), and audits both', async () => {
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    const resent = await t.call(t.owner, 'POST', `/api/v1/enrollment-requests/${r.id}/resend`);
    expect(resent.statusCode).toBe(200);
    expect(resent.json()).toMatchObject({ id: r.id, status: 'pending' });
    expect(resent.json().url).not.toBe(r.url);
    expect(resent.json().passcode).not.toBe(r.passcode);
    expect(await raw((tx) => tx.selectFrom('outbox').select('id').where('ref_id', '=', r.id).execute())).toHaveLength(2);
    const deleted = await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${r.id}`);
    expect(deleted.json()).toMatchObject({ id: r.id, status: 'deleted' });
    const closed = await t.call(t.owner, 'POST', `/api/v1/enrollment-requests/${r.id}/resend`);
    expect(closed.statusCode).toBe(409);
    expect(closed.json().error.code).toBe('REQUEST_CLOSED');
    expect(await audit('request.resend', r.id)).toHaveLength(1);
    expect(await audit('request.delete', r.id)).toHaveLength(1);
  });

  it('sweeps Pending requests past their expiry to Expired (audited); an expired request can be resent', async () => {
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    const keep = (await ask({ userId: u.id, platform: 'macos', ownership: 'corporate_owned' })).json();
    await raw((tx) => tx.updateTable('enrollment_requests').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', r.id).execute());
    expect(await t.services.enrollments.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).json().status).toBe('expired');
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${keep.id}`)).json().status).toBe('pending');
    expect(await audit('request.expire', r.id)).toHaveLength(1);
    const again = await t.call(t.owner, 'POST', `/api/v1/enrollment-requests/${r.id}/resend`);
    expect(again.json()).toMatchObject({ status: 'pending' });
    expect(Date.parse(again.json().expiresAt)).toBeGreaterThan(Date.now());
  });

  it('marks a Pending request Failed, with the reason, when its notification gave up', async () => {
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    await t.services.enrollments.notificationFailed(t.accountId, r.id, 'SMS webhook answered 500 (8 tries)');
    const got = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).json();
    expect(got).toMatchObject({ status: 'failed', statusReason: 'Notification failed: SMS webhook answered 500 (8 tries)' });
    expect(await audit('request.failed', r.id)).toHaveLength(1);
  });

  it('lists newest first with filters (status, request type, platform, user, q) and keyset pages', async () => {
    const a = await user({ username: 'filter-alpha', email: 'alpha@corp.example', managedAppleId: 'filter-alpha@appleid.example.com' });
    const ueReq = (await ask(ue(a.id))).json();
    const mdm = (await ask({ userId: a.id, platform: 'macos', ownership: 'corporate_owned' })).json();
    const list = async (qs: string) => (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests?${qs}`)).json();
    expect((await list(`userId=${a.id}`)).items.map((r: any) => r.id)).toEqual([mdm.id, ueReq.id]);
    expect((await list(`userId=${a.id}&requestType=${encodeURIComponent('MDM (Apple User Enrollment)')}`)).items.map((r: any) => r.id)).toEqual([ueReq.id]);
    expect((await list(`userId=${a.id}&requestType=MDM`)).items.map((r: any) => r.id)).toEqual([mdm.id]);
    expect((await list(`userId=${a.id}&platform=macos`)).items.map((r: any) => r.id)).toEqual([mdm.id]);
    expect((await list('q=FILTER-AL')).items.map((r: any) => r.id)).toEqual([mdm.id, ueReq.id]);
    expect((await list('q=alpha@corp')).items).toHaveLength(2);
    expect((await list(`userId=${a.id}&status=deleted`)).items).toHaveLength(0);
    const all = (await list('limit=200')).items.map((r: any) => r.id);
    const paged: string[] = [];
    for (let cursor: string | null = ''; cursor !== null; ) {
      const page: any = await list(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.items.map((r: any) => r.id));
      cursor = page.nextCursor;
    }
    expect(paged).toEqual(all);
    expect([...all].sort().reverse()).toEqual(all);
  });

  it('keeps accounts apart (404) and roles apart: helpdesk sends single requests, auditors only read', async () => {
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    const other = await t.otherAccount();
    expect((await t.call(other.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'POST', `/api/v1/enrollment-requests/${r.id}/resend`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'GET', '/api/v1/enrollment-requests')).json().items).toHaveLength(0);
    expect((await ask({ userId: u.id, platform: 'ios', ownership: 'corporate_owned' }, other.owner)).statusCode).toBe(404);
    const helpdesk = await t.adminWithRole('helpdesk');
    expect((await ask({ userId: u.id, platform: 'macos', ownership: 'corporate_owned' }, helpdesk)).statusCode).toBe(201);
    const auditor = await t.adminWithRole('auditor');
    expect((await t.call(auditor, 'GET', `/api/v1/enrollment-requests/${r.id}`)).statusCode).toBe(200);
    expect((await ask({ userId: u.id, platform: 'macos', ownership: 'corporate_owned' }, auditor)).statusCode).toBe(403);
    expect((await t.call(auditor, 'DELETE', `/api/v1/enrollment-requests/${r.id}`)).statusCode).toBe(403);
  });

  it('deletes a user’s requests with the user', async () => {
    const u = await user();
    const r = (await ask(ue(u.id))).json();
    expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${u.id}`)).statusCode).toBe(204);
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${r.id}`)).statusCode).toBe(404);
  });
});
