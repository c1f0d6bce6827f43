/** Apple setup on both engines: GET|PUT /api/v1/apple/push-certificate, pushTopic, roles, isolation, audit. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPippin, type Caller, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';
import { makeP12, makePushCertificate, type PemPair } from '../support/push-cert.js';
import { testTopicFor } from '../../src/apple/push/test-topic.js';

const URL_ = '/api/v1/apple/push-certificate';

describe.each(ENGINES)('the APNs push certificate on %s', (engine) => {
  let t: TestPippin;
  let first: PemPair;
  beforeAll(async () => {
    t = await createTestPippin(engine);
    first = makePushCertificate();
  });
  afterAll(() => t?.close());

  const put = (as: Caller, body: unknown) => t.call(as, 'PUT', URL_, body);
  const get = (as: Caller) => t.call(as, 'GET', URL_);
  const p12Body = (pair: PemPair, password: string, legacy = false) => ({ p12Base64: makeP12(pair, password, { legacy }).toString('base64'), password });
  const stored = () => t.db.system('operator command', (tx) => tx.selectFrom('push_certificates').selectAll().where('account_id', '=', t.accountId).executeTakeFirst());
  const addDevice = (accountId: string, status: 'enrolled' | 'checked_out', topic: string) =>
    t.db.system('operator command', (tx) =>
      tx
        .insertInto('devices')
        .values({
          id: randomUUID(), account_id: accountId, platform: 'ios', enrollment_type: 'device', enrollment_method: 'profile', status, topic,
          os_version: '17.5', product_name: 'iPhone15,2', created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
        })
        .execute(),
    );
  const setDevices = (status: 'enrolled' | 'checked_out') => t.db.system('operator command', (tx) => tx.updateTable('devices').set({ status }).where('account_id', '=', t.accountId).execute());

  it('says nothing is configured before an upload, and pushTopic is null without test topics', async () => {
    const res = await get(t.owner);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      configured: false, topic: null, subject: null, notBefore: null, notAfter: null, expiresInDays: null, expiringSoon: false, expired: false, uploadedBy: null, uploadedAt: null, testTopic: false,
    });
    expect(await t.services.pushCertificates.pushTopic(t.accountId)).toBeNull();
  });

  it('refuses what cannot be used with 422 PUSH_CERTIFICATE_INVALID, storing nothing', async () => {
    const other = makePushCertificate();
    const cases: [unknown, string, RegExp][] = [
      [{ ...p12Body(first, 'right'), password: 'wrong' }, 'password', /^The password of the \.p12 file is wrong$/],
      [{ ...p12Body(first, 'right', true), password: 'wrong' }, 'password', /^The password of the \.p12 file is wrong$/],
      [{ certificatePem: first.certificatePem, privateKeyPem: other.privateKeyPem }, 'key_mismatch', /does not belong to this certificate/],
      [makePushCertificate({ days: -1 }), 'expired', /expired on .*renew it at the Apple Push Certificates Portal/],
      [makePushCertificate({ uid: 'com.example.app' }), 'not_push', /not an MDM push certificate: its topic com\.example\.app does not start with com\.apple\.mgmt\./],
      [makePushCertificate({ uid: null }), 'not_push', /its subject has no UID/],
      [{ p12Base64: Buffer.from('not a p12').toString('base64'), password: '' }, 'format', /not a \.p12/],
    ];
    for (const [body, reason, message] of cases) {
      const b = body as Record<string, unknown>;
      const res = await put(t.owner, 'p12Base64' in b ? b : { certificatePem: b.certificatePem, privateKeyPem: b.privateKeyPem });
      expect(res.statusCode, reason).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'PUSH_CERTIFICATE_INVALID', details: { reason } });
      expect(res.json().error.message).toMatch(message);
    }
    expect(await stored()).toBeUndefined();
  });

  it('checks the shape: one of the two bodies, no unknown fields', async () => {
    for (const body of [{}, { certificatePem: first.certificatePem }, { p12Base64: 'AAAA' }, { certificatePem: 'x', privateKeyPem: 'y', extra: 1 }, { p12Base64: '%%%', password: '' }]) {
      const res = await put(t.owner, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('only the owner uploads; owner and admin read; helpdesk and auditor are refused', async () => {
    for (const role of ['admin', 'helpdesk', 'auditor'] as const) {
      const who = await t.adminWithRole(role);
      const res = await put(who, { certificatePem: first.certificatePem, privateKeyPem: first.privateKeyPem });
      expect(res.statusCode, role).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
      expect((await get(who)).statusCode, role).toBe(role === 'admin' ? 200 : 403);
    }
    expect(await stored()).toBeUndefined();
  });

  it('stores a PEM upload: topic, subject, expiry; the key sealed; audited without secrets', async () => {
    const res = await put(t.owner, { certificatePem: first.certificatePem, privateKeyPem: first.privateKeyPem });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ configured: true, topic: first.topic, subject: expect.stringContaining(`UID=${first.topic}`), expiringSoon: false, expired: false, uploadedBy: 'owner@example.com', testTopic: false });
    expect(body.expiresInDays).toBeGreaterThanOrEqual(364);
    expect(new Date(body.notAfter).getTime() - new Date(body.notBefore).getTime()).toBe(365 * 86_400_000);
    expect((await get(t.owner)).json()).toEqual(body);

    const row = (await stored())!;
    expect(row.key_sealed).not.toMatch(/PRIVATE KEY/);
    expect(row.key_sealed).not.toContain(first.privateKeyPem.split('\n')[1]!);
    const creds = (await t.services.pushCertificates.credentials(t.accountId))!;
    expect(creds.topic).toBe(first.topic);
    expect(creds.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(await t.services.pushCertificates.pushTopic(t.accountId)).toEqual({ topic: first.topic, test: false });

    const audit = (await t.call(t.owner, 'GET', '/api/v1/audit?action=apple.push_certificate.upload')).json().items;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ objectType: 'push_certificate', objectId: first.topic, after: { topic: first.topic, renewal: false } });
    expect(JSON.stringify(audit[0])).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|password/i);
  });

  it('renews from a .p12 (modern and legacy) with the same topic, also while devices are enrolled', async () => {
    await addDevice(t.accountId, 'enrolled', first.topic);
    for (const legacy of [false, true]) {
      const res = await put(t.owner, p12Body(first, 'Keychain pw', legacy));
      expect(res.statusCode, `legacy ${legacy}`).toBe(200);
      expect(res.json()).toMatchObject({ configured: true, topic: first.topic });
    }
    // A renewal is the same Apple ID's certificate: a new certificate and key, the same topic.
    const renewed = makePushCertificate({ uid: first.topic });
    const res = await put(t.owner, p12Body(renewed, 'pw', true));
    expect(res.statusCode).toBe(200);
    expect((await t.services.pushCertificates.credentials(t.accountId))!.certificatePem.replace(/\s/g, '')).toBe(renewed.certificatePem.replace(/\s/g, ''));
  });

  it('refuses a different topic while a device is enrolled (409 PUSH_TOPIC_CHANGED), and takes it once none is', async () => {
    const other = makePushCertificate();
    const res = await put(t.owner, { certificatePem: other.certificatePem, privateKeyPem: other.privateKeyPem });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'PUSH_TOPIC_CHANGED', details: { topic: other.topic, currentTopic: first.topic, enrolledDevices: 1 } });
    expect(res.json().error.message).toMatch(/renew the existing certificate .* with the same Apple ID/);
    expect((await stored())!.topic).toBe(first.topic);

    await setDevices('checked_out');
    const ok = await put(t.owner, { certificatePem: other.certificatePem, privateKeyPem: other.privateKeyPem });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().topic).toBe(other.topic);
    expect(await t.services.pushCertificates.pushTopic(t.accountId)).toEqual({ topic: other.topic, test: false });
  });

  it('takes a multipart upload: a .p12 file with its password', async () => {
    const pair = makePushCertificate({ uid: (await stored())!.topic, days: 10 });
    const boundary = '----pippin-push';
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\npw\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="MDM_Pippin_Certificate.p12"\r\nContent-Type: application/x-pkcs12\r\n\r\n`),
      makeP12(pair, 'pw'),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await t.app.inject({ method: 'PUT', url: URL_, headers: { cookie: t.owner.cookie, 'x-csrf-token': t.owner.csrf, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    expect(res.statusCode, res.body).toBe(200);
    // Ten days left: the warning.
    expect(res.json()).toMatchObject({ topic: pair.topic, expiringSoon: true, expired: false });
    expect(res.json().expiresInDays).toBeLessThanOrEqual(10);
  });

  it('takes a multipart upload of one PEM file holding the certificate and its key', async () => {
    const pair = makePushCertificate({ uid: (await stored())!.topic });
    const boundary = '----pippin-pem';
    const payload = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="push.pem"\r\nContent-Type: application/x-pem-file\r\n\r\n${pair.certificatePem}${pair.privateKeyPem}\r\n--${boundary}--\r\n`,
    );
    const res = await t.app.inject({ method: 'PUT', url: URL_, headers: { cookie: t.owner.cookie, 'x-csrf-token': t.owner.csrf, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ topic: pair.topic, expiringSoon: false });
  });

  it('documents both upload bodies in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json();
    const op = doc.paths['/api/v1/apple/push-certificate'];
    expect(Object.keys(op)).toEqual(expect.arrayContaining(['get', 'put']));
    const body = JSON.stringify(op.put.requestBody) + JSON.stringify(doc.components?.schemas ?? {});
    for (const field of ['certificatePem', 'privateKeyPem', 'p12Base64', 'password']) expect(body).toContain(field);
  });

  it('keeps accounts apart: another account sees nothing and its devices do not hold this topic', async () => {
    const other = await t.otherAccount();
    expect((await get(other.owner)).json()).toMatchObject({ configured: false, topic: null });
    expect(await t.services.pushCertificates.pushTopic(other.accountId)).toBeNull();
    // An enrolled device in the other account does not stop this account changing topic.
    await addDevice(other.accountId, 'enrolled', 'com.apple.mgmt.External.elsewhere');
    const pair = makePushCertificate();
    expect((await put(t.owner, { certificatePem: pair.certificatePem, privateKeyPem: pair.privateKeyPem })).statusCode).toBe(200);
    // Its own upload is its own.
    const mine = makePushCertificate();
    expect((await put(other.owner, { certificatePem: mine.certificatePem, privateKeyPem: mine.privateKeyPem })).json().topic).toBe(mine.topic);
    expect((await get(t.owner)).json().topic).toBe(pair.topic);
  });
});

describe.each(ENGINES)('PIPPIN_ALLOW_TEST_TOPIC on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine, { PIPPIN_ALLOW_TEST_TOPIC: 'true' });
  });
  afterAll(() => t?.close());

  it('gives each account a stable generated topic of the real form until a certificate is uploaded', async () => {
    const expected = testTopicFor(t.accountId);
    expect(expected).toMatch(/^com\.apple\.mgmt\.External\.[0-9a-f-]{36}$/);
    const res = await t.call(t.owner, 'GET', URL_);
    expect(res.json()).toMatchObject({ configured: false, testTopic: true, topic: expected });
    expect(await t.services.pushCertificates.pushTopic(t.accountId)).toEqual({ topic: expected, test: true });
    const other = await t.otherAccount();
    expect((await t.services.pushCertificates.pushTopic(other.accountId))!.topic).not.toBe(expected);

    const pair = makePushCertificate();
    const up = await t.call(t.owner, 'PUT', URL_, { certificatePem: pair.certificatePem, privateKeyPem: pair.privateKeyPem });
    expect(up.json()).toMatchObject({ configured: true, testTopic: false, topic: pair.topic });
    expect(await t.services.pushCertificates.pushTopic(t.accountId)).toEqual({ topic: pair.topic, test: false });
  });
});
