/**
 * Check-in plists real devices sent (nanomdm's mdm/testdata: an iPad on iOS 9.3.5 and an iMac on
 * macOS 10.12.6; see test/fixtures/checkin/README.md) decode with Pippin's plist reader, and are
 * accepted byte for byte at PUT /mdm/checkin under the identity of a simulated device that enrolled
 * through the real path: request → portal (passcode) → signed profile → SCEP PKIOperation (the test
 * client's codec) → the fixture's Authenticate, then its TokenUpdate (same UDID), each with a
 * detached Mdm-Signature by that identity → the request Completed and the device listed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/apple/ca.js';
import { parseSignedData, signedData } from '../../src/apple/cms.js';
import { parsePlist, type PlistDict } from '../../src/apple/plist.js';
import { readCheckin } from '../../src/devices/model.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { buildScepRequest, csrFor, readCertRep, selfSigned } from '../support/scep-client.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/checkin');
const fixture = (name: string) => fs.readFileSync(path.join(dir, name));
const TOPIC = 'com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9';

/** What each real message says, as its plist holds it. */
const DEVICES = [
  {
    name: 'an iPad on iOS 9.3.5',
    platform: 'ios' as const,
    authenticate: 'Authenticate.1.plist',
    tokenUpdate: 'TokenUpdate.1.plist',
    udid: '663b07bb783e9ade1dae4fbb92ea12afc0ce5b69',
    serialNumber: 'F5JM992LF193',
    productName: 'iPad2,5',
    osVersion: '9.3.5',
    token: 'R+juwGLC9ynsFwPBs+GPGXHYXwC+dkRdNAgLqnAbX1E=',
    pushMagic: 'CEFDF0BD-E342-4A27-8742-E930EA116B0A',
  },
  {
    name: 'an iMac on macOS 10.12.6',
    platform: 'macos' as const,
    authenticate: 'Authenticate.2.plist',
    tokenUpdate: 'TokenUpdate.2.plist',
    udid: '66ADE930-5FDF-5EC4-8429-15640684C489',
    serialNumber: 'C02MT66KFLHH',
    productName: 'iMac14,2',
    osVersion: '10.12.6',
    token: 'G6fJAGbFD3domiTzpCXK9oowD3KeiORgqUFgItXWQsw=',
    pushMagic: '888CEB39-BFFA-40F6-89FA-B60752EB63C2',
  },
];

describe('real device check-in plists (nanomdm testdata)', () => {
  it('each decodes with parsePlist, and readCheckin reads its MessageType, UDID, EnrollmentID and Topic', () => {
    for (const d of DEVICES) {
      const auth = readCheckin(parsePlist(fixture(d.authenticate)) as PlistDict as Record<string, unknown>);
      expect(auth).toMatchObject({ messageType: 'Authenticate', udid: d.udid, topic: TOPIC, serialNumber: d.serialNumber, productName: d.productName, osVersion: d.osVersion });
      expect(auth!.enrollmentId).toBeUndefined();
      const token = readCheckin(parsePlist(fixture(d.tokenUpdate)) as PlistDict as Record<string, unknown>);
      expect(token).toMatchObject({ messageType: 'TokenUpdate', udid: d.udid, topic: TOPIC, token: d.token, pushMagic: d.pushMagic });
      expect(token!.enrollmentId).toBeUndefined();
    }
    // The iPad's TokenUpdate also carries an UnlockToken (the escrow keybag), read as data.
    const unlock = (parsePlist(fixture('TokenUpdate.1.plist')) as PlistDict).UnlockToken;
    expect(Buffer.isBuffer(unlock) && unlock.subarray(0, 4).toString()).toBe('DATA');
    // And the Mac's Authenticate its Challenge and model keys.
    expect(parsePlist(fixture('Authenticate.2.plist'))).toMatchObject({ Challenge: Buffer.from('apple'), DeviceName: 'Fruit', Model: 'iMac14,2', ModelName: 'iMac', BuildVersion: '16G2136' });
  });

  describe('accepted under a simulated device identity', () => {
    let t: TestPippin;
    let n = 0;
    beforeAll(async () => {
      t = await createTestPippin('sqlite', { PIPPIN_ALLOW_TEST_TOPIC: 'true' }, { runJobs: false });
    });
    afterAll(() => t?.close());

    const form = (fields: Record<string, string>) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });

    /** A request for the platform, walked through the portal and SCEP as a device would; returns the identity SCEP issued. */
    async function enrol(platform: 'ios' | 'macos'): Promise<{ user: any; request: any; identity: Identity }> {
      const u = `real${++n}`;
      const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example` })).json();
      const request = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform, ownership: 'corporate_owned', notify: 'none' })).json();
      const link = new URL(request.url).pathname;
      const notice = await t.app.inject({ method: 'POST', url: link, ...form({ passcode: request.passcode }) });
      expect(notice.statusCode).toBe(200);
      const ticket = notice.body.match(/name="ticket" value="([^"]+)"/)![1]!;
      const download = await t.app.inject({ method: 'POST', url: `${link}/profile`, ...form({ ticket }) });
      expect(download.statusCode).toBe(200);
      const profile = parsePlist(parseSignedData(download.rawPayload).content!) as any;
      const challenge = profile.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.security.scep').PayloadContent.Challenge as string;

      const caCertDer = Buffer.from((await t.app.inject({ method: 'GET', url: '/mdm/scep?operation=GetCACert' })).rawPayload);
      const device = await selfSigned();
      const { message } = buildScepRequest({ caCertDer, csrDer: await csrFor(device.keys, challenge), signer: device });
      const scep = await t.app.inject({ method: 'POST', url: '/mdm/scep?operation=PKIOperation', headers: { 'content-type': 'application/x-pki-message' }, payload: message });
      expect(scep.statusCode).toBe(200);
      const rep = readCertRep(scep.rawPayload, { caCertDer, key: device.key });
      expect(rep.status).toBe('SUCCESS');
      return { user, request, identity: { cert: new X509Certificate(rep.certificate!), certDer: rep.certificate!, key: device.key, chain: [] } };
    }

    /** PUT /mdm/checkin with the body exactly as the device sent it, signed (detached) by the identity. */
    const checkin = (body: Buffer, identity: Identity) =>
      t.app.inject({
        method: 'PUT',
        url: '/mdm/checkin',
        headers: { 'content-type': 'application/x-apple-aspen-mdm-checkin', 'mdm-signature': signedData({ content: body, signer: identity, detached: true }).toString('base64') },
        payload: body,
      });

    for (const d of DEVICES) {
      it(`${d.name}: its Authenticate then its TokenUpdate → 200, the request Completed, the device listed with what it said`, async () => {
        const { user, request, identity } = await enrol(d.platform);
        const authBody = fixture(d.authenticate);
        const auth = await checkin(authBody, identity);
        expect(auth.statusCode).toBe(200);
        expect(auth.body).toBe('');
        expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json().status).toBe('pending');

        const tokenBody = fixture(d.tokenUpdate);
        const token = await checkin(tokenBody, identity);
        expect(token.statusCode).toBe(200);
        expect(token.body).toBe('');
        const done = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json();
        expect(done.status).toBe('completed');
        const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${user.id}`)).json().items;
        expect(device).toMatchObject({
          id: done.deviceId,
          platform: d.platform,
          enrollmentType: 'device',
          udid: d.udid,
          enrollmentId: null,
          serialNumber: d.serialNumber,
          productName: d.productName,
          osVersion: d.osVersion,
          status: 'enrolled',
        });
        // The raw plists are kept as the device sent them.
        const row = await t.db.kysely.selectFrom('devices').select(['authenticate_plist', 'token_update_plist', 'push_magic', 'topic']).where('id', '=', device.id).executeTakeFirstOrThrow();
        expect(row).toEqual({ authenticate_plist: authBody.toString('utf8'), token_update_plist: tokenBody.toString('utf8'), push_magic: d.pushMagic, topic: TOPIC });
      });
    }

    it('a real TokenUpdate under another enrolment’s identity (its UDID not the one bound) is refused with 400', async () => {
      const { request, identity } = await enrol('ios');
      const own = Buffer.from(fixture('Authenticate.1.plist').toString('utf8').replace('663b07bb783e9ade1dae4fbb92ea12afc0ce5b69', 'ffffffffffffffffffffffffffffffffffffffff'));
      expect((await checkin(own, identity)).statusCode).toBe(200);
      expect((await checkin(fixture('TokenUpdate.1.plist'), identity)).statusCode).toBe(400);
      expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json().status).toBe('pending');
    });
  });
});
