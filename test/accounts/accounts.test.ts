import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/accounts/model.js';
import { can } from '../../src/accounts/roles.js';
import { AppError } from '../../src/errors.js';
import { createTestPippin, OWNER, type Caller, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

describe.each(ENGINES)('accounts, sessions, tokens, roles and audit on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine);
  });
  afterAll(() => t?.close());

  const audit = async (action: string) => {
    const res = await t.call(t.owner, 'GET', `/api/v1/audit?action=${action}&limit=200`);
    expect(res.statusCode).toBe(200);
    return res.json().items as any[];
  };

  describe('first start', () => {
    it('created the Default account with the documented defaults', async () => {
      const res = await t.call(t.owner, 'GET', '/api/v1/account');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        name: 'Default',
        deploymentMode: 'mdm',
        defaultRequestMode: 'enrollment',
        defaultAuthMode: 'passcode',
        seamlessEnrollment: false,
        requestExpiryHours: 168,
        passcodeLength: 8,
        defaultDomain: 'example.com',
        managedAppleIdDomains: [],
        useEmailAsManagedAppleId: false,
        requireGenuineAppleDevices: false,
      });
    });
  });

  describe('sessions', () => {
    it('signs in with a cookie that is httpOnly and SameSite', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: OWNER });
      expect(res.statusCode).toBe(200);
      const cookie = res.cookies.find((c) => c.name === 'pippin_session')!;
      expect(cookie.httpOnly).toBe(true);
      expect(cookie.sameSite).toBe('Strict');
      expect(res.json().admin).toMatchObject({ email: OWNER.email, role: 'owner' });
      expect(res.json().admin.passwordHash).toBeUndefined();
    });

    it('gives the same answer for a wrong password and an unknown email', async () => {
      const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: OWNER.email, password: 'not-the-password' }, remoteAddress: '10.9.0.1' });
      const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: 'nobody@example.com', password: 'not-the-password' }, remoteAddress: '10.9.0.1' });
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      expect(wrong.json().error).toEqual(unknown.json().error);
      const failures = await audit('session.sign_in_failed');
      expect(failures.some((e) => e.actor.label === OWNER.email && e.ip === '10.9.0.1')).toBe(true);
    });

    it('slows repeated failures per email and IP with 429 and Retry-After, the same for unknown emails', async () => {
      for (const email of ['victim@example.com', OWNER.email]) {
        const attempt = () =>
          t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email, password: 'guess-guess-guess' }, remoteAddress: '10.8.0.1' });
        const codes: number[] = [];
        for (let i = 0; i < 7; i++) codes.push((await attempt()).statusCode);
        expect(codes.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
        const limited = await attempt();
        expect(limited.statusCode).toBe(429);
        expect(limited.json().error.code).toBe('RATE_LIMITED');
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      }
      // Another IP is not slowed by these failures.
      const other = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: OWNER, remoteAddress: '10.8.0.2' });
      expect(other.statusCode).toBe(200);
    });

    it('reads and ends the session, recording sign-in and sign-out', async () => {
      const me = await t.signIn(OWNER.email, OWNER.password);
      const got = await t.call(me, 'GET', '/api/v1/session');
      expect(got.statusCode).toBe(200);
      expect(got.json().csrfToken).toBe(me.csrf);
      expect((await t.call(me, 'DELETE', '/api/v1/session')).statusCode).toBe(204);
      expect((await t.call(me, 'GET', '/api/v1/session')).statusCode).toBe(401);
      expect((await audit('session.sign_in')).length).toBeGreaterThan(0);
      expect((await audit('session.sign_out')).some((e) => e.actor.id === me.adminId)).toBe(true);
    });

    it('refuses a cookie write without the CSRF token, and accepts it with the token', async () => {
      const refused = await t.call(t.owner, 'PATCH', '/api/v1/account', { name: 'No CSRF' }, { csrf: false });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('FORBIDDEN');
      const wrong = await t.call(t.owner, 'PATCH', '/api/v1/account', { name: 'Wrong CSRF' }, { csrf: false, headers: { 'x-csrf-token': 'nope' } });
      expect(wrong.statusCode).toBe(403);
      expect((await t.call(t.owner, 'GET', '/api/v1/account')).json().name).not.toMatch(/CSRF/);
      const ok = await t.call(t.owner, 'PATCH', '/api/v1/account', { name: 'With CSRF' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().name).toBe('With CSRF');
    });

    it('ends the sessions of a disabled admin', async () => {
      const h = await t.adminWithRole('helpdesk');
      expect((await t.call(h, 'GET', '/api/v1/account')).statusCode).toBe(200);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/admins/${h.adminId}`, { disabled: true })).statusCode).toBe(200);
      expect((await t.call(h, 'GET', '/api/v1/account')).statusCode).toBe(401);
      const again = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { email: h.email, password: h.password } });
      expect(again.statusCode).toBe(401);
    });
  });

  describe('account settings', () => {
    it('updates settings, normalising domains, and audits before and after', async () => {
      const res = await t.call(t.owner, 'PATCH', '/api/v1/account', {
        managedAppleIdDomains: ['AppleID.Example.COM', 'appleid.example.com', 'corp.example.org'],
        requestExpiryHours: 72,
        seamlessEnrollment: true,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ managedAppleIdDomains: ['appleid.example.com', 'corp.example.org'], requestExpiryHours: 72, seamlessEnrollment: true });
      const [event] = await audit('account.update');
      expect(event.before).toBeTruthy();
      expect(event.after.requestExpiryHours).toBe(72);
    });

    it('refuses a Managed Apple ID domain that another account holds (DOMAIN_CLAIMED) and changes nothing', async () => {
      await t.call(t.owner, 'PATCH', '/api/v1/account', { managedAppleIdDomains: ['mine.example.com'] });
      const other = await t.otherAccount();
      const res = await t.call(other.owner, 'PATCH', '/api/v1/account', { name: 'Thief', managedAppleIdDomains: ['free.example.net', 'MINE.example.com'] });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('DOMAIN_CLAIMED');
      expect(res.json().error.details.issues[0].path).toBe('managedAppleIdDomains.1');
      const after = (await t.call(other.owner, 'GET', '/api/v1/account')).json();
      expect(after.name).not.toBe('Thief');
      expect(after.managedAppleIdDomains).toEqual([]);
      // The free domain is still free: the refused write left nothing behind.
      expect((await t.call(other.owner, 'PATCH', '/api/v1/account', { managedAppleIdDomains: ['free.example.net'] })).statusCode).toBe(200);
    });

    it('validates ranges and enumerations', async () => {
      for (const body of [{ passcodeLength: 5 }, { requestExpiryHours: 0 }, { deploymentMode: 'cloud' }, { name: '' }, { managedAppleIdDomains: ['localhost'] }]) {
        const res = await t.call(t.owner, 'PATCH', '/api/v1/account', body);
        expect(res.statusCode, JSON.stringify(body)).toBe(400);
      }
    });
  });

  describe('admins', () => {
    it('adds, lists, changes and removes admins, auditing each without secrets', async () => {
      const created = await t.call(t.owner, 'POST', '/api/v1/admins', { email: 'New.Admin@Example.com', role: 'admin', password: 'a-long-password' });
      expect(created.statusCode).toBe(201);
      const id = created.json().id;
      const dup = await t.call(t.owner, 'POST', '/api/v1/admins', { email: 'new.admin@example.COM', role: 'auditor', password: 'a-long-password' });
      expect(dup.statusCode).toBe(409);
      expect(dup.json().error.code).toBe('ADMIN_EXISTS');
      const list = (await t.call(t.owner, 'GET', '/api/v1/admins')).json();
      expect(list.items.map((a: { email: string }) => a.email)).toContain('New.Admin@Example.com');
      expect(list.total).toBe(list.items.length);
      const changed = await t.call(t.owner, 'PATCH', `/api/v1/admins/${id}`, { role: 'auditor', password: 'another-long-password' });
      expect(changed.json().role).toBe('auditor');
      expect((await t.call(t.owner, 'DELETE', `/api/v1/admins/${id}`)).statusCode).toBe(204);
      expect((await t.call(t.owner, 'GET', `/api/v1/admins/${id}`)).statusCode).toBe(404);
      const events = [...(await audit('admin.create')), ...(await audit('admin.update')), ...(await audit('admin.delete'))].filter((e) => e.objectId === id);
      expect(events.map((e) => e.action).sort()).toEqual(['admin.create', 'admin.delete', 'admin.update']);
      expect(JSON.stringify(events)).not.toMatch(/a-long-password|another-long-password|scrypt/);
    });

    it('keeps at least one active owner (LAST_OWNER)', async () => {
      const fresh = await t.otherAccount();
      const self = fresh.owner.adminId;
      for (const [method, body] of [['PATCH', { role: 'admin' }], ['PATCH', { disabled: true }], ['DELETE', undefined]] as const) {
        const res = await t.call(fresh.owner, method, `/api/v1/admins/${self}`, body);
        expect(res.statusCode).toBe(409);
        expect(res.json().error.code).toBe('LAST_OWNER');
      }
      expect((await t.call(fresh.owner, 'GET', `/api/v1/admins/${self}`)).json()).toMatchObject({ role: 'owner', disabled: false });
    });
  });

  describe('API tokens', () => {
    it('creates a token shown once, authenticates with it without CSRF, and revokes it', async () => {
      const created = await t.call(t.owner, 'POST', '/api/v1/tokens', { name: 'ci', expiresInDays: 30 });
      expect(created.statusCode).toBe(201);
      const { token, id, prefix } = created.json();
      expect(token).toMatch(/^pip_/);
      expect(token.startsWith(prefix)).toBe(true);
      const listed = (await t.call(t.owner, 'GET', '/api/v1/tokens')).json();
      expect(listed.items.find((x: { id: string }) => x.id === id).token).toBeUndefined();
      const bearer = { authorization: `Bearer ${token}` };
      const patched = await t.app.inject({ method: 'PATCH', url: '/api/v1/account', headers: bearer, payload: { name: 'By token' } });
      expect(patched.statusCode).toBe(200);
      const [event] = await audit('account.update');
      expect(event.actor).toMatchObject({ type: 'token', id });
      expect((await t.call(t.owner, 'DELETE', `/api/v1/tokens/${id}`)).statusCode).toBe(204);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/account', headers: bearer })).statusCode).toBe(401);
      expect((await audit('token.create')).some((e) => e.objectId === id && !JSON.stringify(e).includes(token))).toBe(true);
      expect((await audit('token.delete')).some((e) => e.objectId === id)).toBe(true);
    });

    it("carries its creator's role", async () => {
      const helpdesk = await t.adminWithRole('helpdesk');
      const { token } = (await t.call(helpdesk, 'POST', '/api/v1/tokens', { name: 'helpdesk token' })).json();
      const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/account', headers: { authorization: `Bearer ${token}` }, payload: { name: 'nope' } });
      expect(res.statusCode).toBe(403);
      const audited = await t.app.inject({ method: 'GET', url: '/api/v1/audit', headers: { authorization: `Bearer ${token}` } });
      expect(audited.statusCode).toBe(403);
    });

    it("stops working while its admin is disabled, and acts with the admin's current role", async () => {
      const a = await t.adminWithRole('admin');
      const { token } = (await t.call(a, 'POST', '/api/v1/tokens', { name: 'while enabled' })).json();
      const get = () => t.app.inject({ method: 'GET', url: '/api/v1/users/export', headers: { authorization: `Bearer ${token}` } });
      expect((await get()).statusCode).toBe(200);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/admins/${a.adminId}`, { disabled: true })).statusCode).toBe(200);
      expect((await get()).statusCode).toBe(401);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/admins/${a.adminId}`, { disabled: false, role: 'helpdesk' })).statusCode).toBe(200);
      expect((await get()).statusCode).toBe(403); // helpdesk may not export
    });

    it('refuses malformed, unknown and tampered tokens', async () => {
      const { token } = (await t.call(t.owner, 'POST', '/api/v1/tokens', { name: 'tamper' })).json();
      const tampered = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
      for (const bad of ['pip_', 'pip_abc', 'nope', tampered, `pip_${Buffer.alloc(64).toString('base64url')}`]) {
        const res = await t.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: `Bearer ${bad}` } });
        expect(res.statusCode, bad).toBe(401);
      }
    });

    it('shows an owner every token of the account and others only their own', async () => {
      const a = await t.adminWithRole('admin');
      const made = (await t.call(a, 'POST', '/api/v1/tokens', { name: 'mine' })).json();
      const ownerView = (await t.call(t.owner, 'GET', '/api/v1/tokens?limit=200')).json();
      expect(ownerView.items.some((x: { id: string }) => x.id === made.id)).toBe(true);
      const b = await t.adminWithRole('admin');
      const bView = (await t.call(b, 'GET', '/api/v1/tokens')).json();
      expect(bView.items).toEqual([]);
      expect((await t.call(b, 'DELETE', `/api/v1/tokens/${made.id}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/tokens/${made.id}`)).statusCode).toBe(204);
    });
  });

  describe('roles', () => {
    // Each kind of write, and who may do it.
    const writes: { name: string; permission: Parameters<typeof can>[1]; run: (c: Caller, target: string) => Promise<{ statusCode: number }> }[] = [
      { name: 'PATCH /account', permission: 'account.update', run: (c) => t.call(c, 'PATCH', '/api/v1/account', { requestExpiryHours: 100 }) },
      { name: 'POST /admins', permission: 'admins.manage', run: (c) => t.call(c, 'POST', '/api/v1/admins', { email: `made-by-${c.adminId}@example.com`, role: 'helpdesk', password: 'long-enough-pw' }) },
      { name: 'PATCH /admins/:id', permission: 'admins.manage', run: (c, target) => t.call(c, 'PATCH', `/api/v1/admins/${target}`, { role: 'auditor' }) },
      { name: 'DELETE /admins/:id', permission: 'admins.manage', run: (c, target) => t.call(c, 'DELETE', `/api/v1/admins/${target}`) },
      { name: 'POST /tokens', permission: 'tokens.own', run: (c) => t.call(c, 'POST', '/api/v1/tokens', { name: 'x' }) },
      { name: 'GET /audit', permission: 'audit.read', run: (c) => t.call(c, 'GET', '/api/v1/audit') },
      { name: 'GET /admins', permission: 'admins.manage', run: (c) => t.call(c, 'GET', '/api/v1/admins') },
    ];

    for (const role of ROLES) {
      for (const w of writes) {
        const allowed = can(role, w.permission);
        it(`${role} ${allowed ? 'may' : 'may not'} ${w.name}`, async () => {
          const caller = role === 'owner' ? await t.adminWithRole('owner') : await t.adminWithRole(role as Role);
          const target = await t.adminWithRole('helpdesk');
          const res = await w.run(caller, target.adminId);
          if (allowed) expect(res.statusCode).toBeLessThan(300);
          else {
            expect(res.statusCode).toBe(403);
            expect((res as any).json().error.code).toBe('FORBIDDEN');
          }
        });
      }
    }

    it('are enforced by the services themselves, not only by routes', async () => {
      const actor = { kind: 'admin' as const, accountId: t.accountId, adminId: t.owner.adminId, label: 'x', role: 'auditor' as const, ip: null, requestId: null };
      await expect(t.services.accounts.updateAccount(actor, { name: 'x' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(t.services.accounts.createAdmin(actor, { email: 'svc@example.com', role: 'owner', password: 'long-enough-pw' })).rejects.toBeInstanceOf(AppError);
      await expect(t.services.audit.list({ ...actor, role: 'helpdesk' }, {}, {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    });
  });

  describe('isolation between accounts', () => {
    it("answers 404 for another account's admins and tokens, and shows none of its data", async () => {
      const other = await t.otherAccount();
      const theirToken = (await t.call(other.owner, 'POST', '/api/v1/tokens', { name: 'theirs' })).json();
      expect((await t.call(t.owner, 'GET', `/api/v1/admins/${other.owner.adminId}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/admins/${other.owner.adminId}`, { role: 'auditor' })).statusCode).toBe(404);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/admins/${other.owner.adminId}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/tokens/${theirToken.id}`)).statusCode).toBe(404);
      const mine = (await t.call(t.owner, 'GET', '/api/v1/admins?limit=200')).json();
      expect(mine.items.some((a: { id: string }) => a.id === other.owner.adminId)).toBe(false);
      const events = (await t.call(t.owner, 'GET', '/api/v1/audit?limit=200')).json();
      expect(events.items.some((e: { objectId: string }) => e.objectId === theirToken.id)).toBe(false);
      expect((await t.call(other.owner, 'GET', `/api/v1/admins/${other.owner.adminId}`)).json().role).toBe('owner');
    });
  });

  describe('audit log', () => {
    it('filters by actor, action, object and time, and pages with a cursor', async () => {
      const start = new Date(Date.now() - 1000).toISOString();
      for (let i = 0; i < 3; i++) await t.call(t.owner, 'PATCH', '/api/v1/account', { requestExpiryHours: 10 + i });
      const byAction = (await t.call(t.owner, 'GET', `/api/v1/audit?action=account.update&from=${encodeURIComponent(start)}&limit=2`)).json();
      expect(byAction.items).toHaveLength(2);
      expect(byAction.items[0].after.requestExpiryHours).toBe(12);
      expect(byAction.nextCursor).toBeTruthy();
      const next = (await t.call(t.owner, 'GET', `/api/v1/audit?action=account.update&from=${encodeURIComponent(start)}&limit=2&cursor=${byAction.nextCursor}`)).json();
      expect(next.items[0].after.requestExpiryHours).toBe(10);
      const byActor = (await t.call(t.owner, 'GET', `/api/v1/audit?actor=${encodeURIComponent(OWNER.email.toUpperCase())}&action=account.update`)).json();
      expect(byActor.items.length).toBeGreaterThanOrEqual(3);
      const byObject = (await t.call(t.owner, 'GET', `/api/v1/audit?objectType=account&objectId=${t.accountId}`)).json();
      expect(byObject.items.every((e: { objectId: string }) => e.objectId === t.accountId)).toBe(true);
      const future = (await t.call(t.owner, 'GET', `/api/v1/audit?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`)).json();
      expect(future).toMatchObject({ items: [], total: 0, totalCapped: false, nextCursor: null });
      expect((await t.call(t.owner, 'GET', '/api/v1/audit?from=yesterday')).statusCode).toBe(400);
      expect((await t.call(t.owner, 'GET', '/api/v1/audit?cursor=garbage')).statusCode).toBe(400);
    });

    it('cannot be changed or deleted through the database handle Pippin uses', async () => {
      const { sql } = await import('kysely');
      await expect(
        t.db.forAccount(t.accountId, (tx) => sql`update audit_events set action = 'forged'`.execute(tx)),
      ).rejects.toThrow();
      await expect(t.db.forAccount(t.accountId, (tx) => sql`delete from audit_events`.execute(tx))).rejects.toThrow();
      expect((await audit('session.sign_in')).length).toBeGreaterThan(0);
    });
  });
});
