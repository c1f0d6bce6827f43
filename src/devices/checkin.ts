/**
 * The MDM check-in protocol's state changes (PUT /mdm/checkin and the Idle of PUT /mdm/connect),
 * once the HTTP layer has verified the signature and parsed the plist: which device the identity
 * certificate belongs to, Authenticate binding the certificate to a new device of its request,
 * TokenUpdate enrolling it (the request Completed), CheckOut. Devices get status codes only: 400
 * for anything wrong, never 401; 403 only for an enrolment Pippin itself ended.
 */
import type { Clock, Random } from '../core/clock.js';
import type { Actor } from '../accounts/roles.js';
import { auditEvent, type AuditInput } from '../audit/record.js';
import type { Stores, UnitOfWork } from '../stores.js';
import type { CheckinMessage } from './model.js';
import type { DeviceRecord } from './store.js';

export type CheckinOutcome = { status: 200 } | { status: 400; reason: string } | { status: 403; reason: string };

const bad = (reason: string): CheckinOutcome => ({ status: 400, reason });
const OK: CheckinOutcome = { status: 200 };

const deviceActor = (accountId: string, label: string, ip: string | null): Actor => ({ kind: 'system', accountId, adminId: null, label, role: 'owner', ip, requestId: null });

/** The identifiers a message claims must be the device's own (a spoof otherwise). */
function identityMismatch(device: DeviceRecord, msg: CheckinMessage): string | null {
  if (device.enrollmentType === 'user') {
    if (msg.udid) return 'a User Enrollment check-in carries a UDID';
    if (msg.enrollmentId !== device.enrollmentId) return 'the EnrollmentID differs from the one bound to this certificate';
  } else if (msg.udid !== device.udid) return 'the UDID differs from the one bound to this certificate';
  return null;
}

/** An account-driven enrolment's requests must carry its access token (`Authorization: Bearer`). */
function bearerMismatch(expectedHash: string | null, bearerHash: string | null): string | null {
  if (!expectedHash) return null;
  if (!bearerHash) return 'the access token (Authorization: Bearer) is missing';
  return bearerHash === expectedHash ? null : 'the access token is not the one this enrolment was given';
}

export function createCheckinService(deps: { uow: UnitOfWork; clock: Clock; random: Random; hashToken: (token: string) => string }) {
  const { uow, clock, random } = deps;
  const hashBearer = (bearer: string | undefined) => (bearer ? deps.hashToken(bearer) : null);
  const audit = (s: Stores, accountId: string, label: string, ip: string | null, input: AuditInput) => s.audit.append(auditEvent(deviceActor(accountId, label, ip), input, clock, random));
  const byCert = (certHash: string) => uow.system('check-in resolution by certificate', (s) => s.deviceResolver.byCertHash(certHash));
  const accountOfCert = new Map<string, string>();
  /**
   * Runs `fn` for the device bound to the certificate, in its account's transaction, once its access
   * token (for an account-driven enrolment) checks out: missing or wrong → 400; revoked (an
   * enrolment Pippin ended) → 403. A certificate's account never changes once bound, so known ones
   * skip the cross-account look-up: one transaction a check-in, not two.
   */
  async function inDeviceAccount(certHash: string, bearer: string | undefined, fn: (s: Stores, device: DeviceRecord) => Promise<CheckinOutcome>): Promise<CheckinOutcome> {
    let accountId = accountOfCert.get(certHash);
    if (!accountId) {
      const found = await byCert(certHash);
      if (!found) return bad('no enrolment is bound to this certificate');
      accountId = found.accountId;
      if (accountOfCert.size >= 100_000) accountOfCert.delete(accountOfCert.keys().next().value!);
      accountOfCert.set(certHash, accountId);
    }
    const bearerHash = hashBearer(bearer);
    return uow.inAccount(accountId, async (s) => {
      const device = await s.devices.byCertHash(certHash);
      if (!device) return bad('no enrolment is bound to this certificate');
      const tokenProblem = bearerMismatch(device.accessTokenHash, bearerHash);
      if (tokenProblem) return bad(tokenProblem);
      if (device.accessTokenHash && (await s.accessTokens.revoked(device.accessTokenHash))) return { status: 403, reason: 'the enrolment was ended: its access token is revoked' };
      return fn(s, device);
    });
  }
  const label = (d: { udid?: string | null; enrollmentId?: string | null }) => `device ${d.udid ?? d.enrollmentId ?? 'unknown'}`;

  async function authenticate(certHash: string, msg: CheckinMessage, plist: string, ip: string | null, bearer: string | null): Promise<CheckinOutcome> {
    const existing = await byCert(certHash);
    const issued = existing
      ? { accountId: existing.accountId, requestId: existing.requestId!, accessTokenHash: existing.accessTokenHash }
      : await uow.system('check-in resolution by certificate', (s) => s.deviceResolver.issuedFor(certHash));
    if (!issued) return bad('the certificate was not issued for an enrolment');
    const tokenProblem = bearerMismatch(issued.accessTokenHash, bearer);
    if (tokenProblem) return bad(tokenProblem);
    return uow.inAccount(issued.accountId, async (s) => {
      const request = await s.requests.get(issued.requestId);
      if (!request) return bad('the enrolment request is gone');
      const userEnrollment = request.userEnrollment;
      if (userEnrollment && (msg.udid || !msg.enrollmentId)) return bad('a User Enrollment Authenticate carries an EnrollmentID and no UDID');
      if (!userEnrollment && !msg.udid) return bad('a device enrolment Authenticate carries a UDID');
      const at = clock.now().toISOString();
      const details = {
        platform: request.platform,
        enrollmentType: userEnrollment ? ('user' as const) : ('device' as const),
        enrollmentMethod: issued.accessTokenHash ? ('account_driven' as const) : ('profile' as const),
        enrollmentId: userEnrollment ? msg.enrollmentId! : null,
        udid: userEnrollment ? null : msg.udid!,
        serialNumber: userEnrollment ? null : (msg.serialNumber ?? null),
        osVersion: msg.osVersion ?? '',
        productName: msg.productName ?? '',
        topic: msg.topic ?? null,
        authenticatePlist: plist,
        at,
      };
      let id: string;
      if (existing) {
        const mismatch = identityMismatch(existing, msg);
        if (mismatch) {
          await audit(s, issued.accountId, label(msg), ip, { action: 'checkin.refused', objectType: 'device', objectId: existing.id, after: { messageType: 'Authenticate', reason: mismatch } });
          return bad(mismatch);
        }
        id = existing.id;
        await s.devices.reauthenticate(id, details);
      } else {
        if (request.status !== 'pending') return bad(`the enrolment request is ${request.status}`);
        id = random.id();
        await s.devices.insert({ id, userId: request.userId, requestId: request.id, certHash, accessTokenHash: issued.accessTokenHash, ...details });
      }
      await audit(s, issued.accountId, label(msg), ip, { action: 'checkin.authenticate', objectType: 'device', objectId: id, after: { requestId: request.id, enrollmentType: details.enrollmentType, osVersion: details.osVersion, productName: details.productName } });
      return OK;
    });
  }

  return {
    /** One check-in message from the device holding the identity certificate with this SHA-256. */
    async checkin(certHash: string, msg: CheckinMessage, plist: string, ip: string | null = null, bearer?: string): Promise<CheckinOutcome> {
      if (msg.messageType === 'Authenticate') return authenticate(certHash, msg, plist, ip, hashBearer(bearer));
      return inDeviceAccount(certHash, bearer, async (s, device) => {
        const at = clock.now().toISOString();
        const mismatch = identityMismatch(device, msg);
        if (mismatch) {
          await audit(s, device.accountId, label(msg), ip, { action: 'checkin.refused', objectType: 'device', objectId: device.id, after: { messageType: msg.messageType, reason: mismatch } });
          return bad(mismatch);
        }
        if (msg.messageType === 'TokenUpdate') {
          const update = { token: msg.token ?? null, pushMagic: msg.pushMagic ?? null, topic: msg.topic ?? device.topic };
          const enrolled = device.status === 'authenticated';
          await s.devices.tokenUpdate(device.id, { ...update, plist, at, enrol: enrolled });
          // The enrolling TokenUpdate is an enrolment step and audited; later ones (a rotated push token)
          // are device telemetry: the device record keeps the latest token, magic and raw plist.
          if (enrolled) await audit(s, device.accountId, label(device), ip, { action: 'checkin.token_update', objectType: 'device', objectId: device.id, after: { first: true } });
          if (enrolled && device.userId) await s.users.countDevices(device.userId, 1);
          if (enrolled && device.requestId && (await s.requests.complete(device.requestId, device.id, at))) {
            await audit(s, device.accountId, label(device), ip, { action: 'request.complete', objectType: 'enrollment_request', objectId: device.requestId, after: { status: 'completed', deviceId: device.id } });
          }
          return OK;
        }
        if (msg.messageType === 'CheckOut') {
          await s.devices.setStatus(device.id, 'checked_out', at);
          if (device.status === 'enrolled' && device.userId) await s.users.countDevices(device.userId, -1);
          await audit(s, device.accountId, label(device), ip, { action: 'checkin.checkout', objectType: 'device', objectId: device.id });
          return OK;
        }
        return bad(`the message type ${msg.messageType} is not handled`);
      });
    },

    /** PUT /mdm/connect: the device's report (Idle until commands exist). Known devices get an empty 200. */
    async connect(certHash: string, status: string | undefined, bearer?: string): Promise<CheckinOutcome> {
      return inDeviceAccount(certHash, bearer, async (s, device) => {
        if (device.status === 'authenticated') return bad('no enrolled device is bound to this certificate');
        await s.devices.touch(device.id, clock.now().toISOString());
        return status ? OK : bad('the report has no Status');
      });
    },
  };
}

export type CheckinService = ReturnType<typeof createCheckinService>;
