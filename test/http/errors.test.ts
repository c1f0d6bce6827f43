import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RowChanged } from '../../src/db/database.js';
import { AppError, ERROR_CODES } from '../../src/errors.js';
import { toAppError } from '../../src/http/errors.js';
import { buildApp, JSON_BODY_LIMIT } from '../../src/http/app.js';
import { createTestPippin, type TestPippin } from '../support/app.js';

describe('the error catalogue', () => {
  it('documents every code in the README error table, and nothing else', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Errors'));
    const documented = new Map<string, number>();
    for (const m of section.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) documented.set(m[1]!, Number(m[2]));
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(documented.get(code), `README documents ${code}`).toBe(status);
    }
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('maps each code to its status', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(new AppError(code as keyof typeof ERROR_CODES, 'x').status).toBe(status);
    }
  });

  it('answers a race lost past every retry with WRITE_CONFLICT, and a database out of reach with DATABASE_UNAVAILABLE, both with Retry-After and no internals', () => {
    const pg = (code: string, message: string) => Object.assign(new Error(message), { code });
    for (const e of [new RowChanged('A user changed or was deleted while it was being updated'), pg('40001', 'could not serialize access'), pg('40P01', 'deadlock detected')]) {
      expect(toAppError(e)).toMatchObject({ code: 'WRITE_CONFLICT', status: 409, retryAfter: 1, message: expect.stringMatching(/not saved; try it again$/) });
    }
    for (const e of [pg('57P01', 'terminating connection due to administrator command'), pg('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), pg('SQLITE_BUSY', 'database is locked'), pg('SQLITE_IOERR_WRITE', 'disk I/O error')]) {
      const a = toAppError(e);
      expect(a).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503, retryAfter: 5 });
      expect(a.message).not.toContain(e.message);
    }
  });

  it('masks unexpected errors as INTERNAL', () => {
    const e = toAppError(new TypeError('secret stack detail'));
    expect(e.code).toBe('INTERNAL');
    expect(e.message).not.toMatch(/secret/);
  });
});

describe('HTTP error bodies', () => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin('sqlite');
  });
  afterAll(() => t.close());

  const expectError = (res: { statusCode: number; json(): any }, status: number, code: string) => {
    expect(res.statusCode).toBe(status);
    const body = res.json();
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(typeof body.requestId).toBe('string');
    return body;
  };

  it('refuses malformed JSON with VALIDATION_FAILED and changes nothing', async () => {
    const before = (await t.call(t.owner, 'GET', '/api/v1/account')).json();
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/account',
      headers: { cookie: t.owner.cookie, 'x-csrf-token': t.owner.csrf, 'content-type': 'application/json' },
      payload: '{"name": "half',
    });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect((await t.call(t.owner, 'GET', '/api/v1/account')).json()).toEqual(before);
  });

  it('names unknown fields, wrong types and over-long strings by path, with no partial write', async () => {
    const before = (await t.call(t.owner, 'GET', '/api/v1/account')).json();
    const res = await t.call(t.owner, 'PATCH', '/api/v1/account', {
      name: 'Changed',
      passcodeLength: 'eight',
      defaultDomain: 'x'.repeat(300),
      surprise: true,
    });
    const body = expectError(res, 400, 'VALIDATION_FAILED');
    const paths = body.error.details.issues.map((i: { path: string }) => i.path).sort();
    expect(paths).toEqual(['defaultDomain', 'passcodeLength', 'surprise']);
    expect((await t.call(t.owner, 'GET', '/api/v1/account')).json()).toEqual(before);
  });

  it('refuses an oversized body with VALIDATION_FAILED', async () => {
    const res = await t.call(t.owner, 'PATCH', '/api/v1/account', { name: 'x'.repeat(JSON_BODY_LIMIT + 10) });
    const body = expectError(res, 400, 'VALIDATION_FAILED');
    expect(body.error.message).toMatch(/too large/);
  });

  it('answers unknown API routes with a 404 JSON body', async () => {
    expectError(await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' }), 404, 'NOT_FOUND');
    expectError(await t.app.inject({ method: 'POST', url: '/api/nothing' }), 404, 'NOT_FOUND');
  });

  it('answers 401 UNAUTHENTICATED without a session, before looking at the body', async () => {
    expectError(await t.app.inject({ method: 'GET', url: '/api/v1/account' }), 401, 'UNAUTHENTICATED');
    expectError(
      await t.app.inject({ method: 'PATCH', url: '/api/v1/account', headers: { 'content-type': 'application/json' }, payload: '{bad' }),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('answers 500 INTERNAL without internals when something unexpected breaks', async () => {
    const failing = () => {
      throw new Error('database password is hunter2');
    };
    const app = await buildApp({
      services: { ...t.services, accounts: { ...t.services.accounts, getAccount: failing } },
      publicUrl: 'http://127.0.0.1',
      trustedProxies: [],
      uploads: { dir: '/tmp', maxBytes: 1024 },
    });
    const res = await app.inject({ method: 'GET', url: '/api/v1/account', headers: { cookie: t.owner.cookie } });
    const body = expectError(res, 500, 'INTERNAL');
    expect(JSON.stringify(body)).not.toMatch(/hunter2|stack|Error/);
    await app.close();
  });

  it('serves /healthz and the OpenAPI document generated from the route schemas', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const doc = (await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/api/v1/session', '/api/v1/account', '/api/v1/admins', '/api/v1/admins/{id}', '/api/v1/tokens', '/api/v1/tokens/{id}', '/api/v1/audit']) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    expect(JSON.stringify(doc.paths['/api/v1/account'].patch)).toContain('passcodeLength');
    const ui = await t.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });
});
