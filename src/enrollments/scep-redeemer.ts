/**
 * Who may have a device identity from Pippin's SCEP server: the holder of a request's single-use
 * challenge (the profile the portal served carries it), while the request is Pending; and, for a
 * renewal, the holder of a certificate that is still bound to an enrolment. The issued
 * certificate's hash is recorded against the challenge (and, on renewal, rebinds the device), so
 * the device's check-ins find their request.
 */
import type { Clock, Random } from '../core/clock.js';
import type { Actor } from '../accounts/roles.js';
import { auditEvent } from '../audit/record.js';
import type { UnitOfWork } from '../stores.js';
import type { ChallengeRedeemer, ScepGrant } from '../apple/scep.js';
import { redeemChallenge } from './challenges.js';

const REFUSALS = {
  unknown: 'the challenge is not one Pippin issued',
  used: 'the challenge was used already',
  expired: 'the challenge expired with its request',
  request_closed: 'the request is no longer Pending',
} as const;

export function scepRedeemer(deps: { uow: UnitOfWork; clock: Clock; random: Random; secretKey: Buffer }): ChallengeRedeemer {
  /** The challenge behind each grant, until its certificate is recorded. */
  const challengeOf = new WeakMap<ScepGrant, string>();
  const renewalOf = new WeakMap<ScepGrant, string>();
  return {
    async redeem(challenge) {
      const r = await redeemChallenge(deps.uow, deps, challenge);
      if (!r.ok) return { ok: false, failInfo: 'badRequest', reason: REFUSALS[r.reason] };
      const grant: ScepGrant = { ok: true, accountId: r.accountId, requestId: r.requestId, subject: `CN=Pippin device ${r.requestId}` };
      challengeOf.set(grant, r.hash);
      return grant;
    },
    async renew(previous) {
      const bound = await deps.uow.system('check-in resolution by certificate', async (s) => (await s.deviceResolver.byCertHash(previous.certHash)) ?? (await s.deviceResolver.issuedFor(previous.certHash)));
      if (!bound || !bound.requestId) return { ok: false, failInfo: 'badCertId', reason: 'the certificate is not bound to an enrolment' };
      if ('status' in bound && bound.status === 'checked_out') return { ok: false, failInfo: 'badCertId', reason: 'the device checked out' };
      const grant: ScepGrant = { ok: true, accountId: bound.accountId, requestId: bound.requestId, subject: previous.subject || undefined };
      renewalOf.set(grant, previous.certHash);
      return grant;
    },
    async recordIssued(grant, cert) {
      const challenge = challengeOf.get(grant);
      const previous = renewalOf.get(grant);
      await deps.uow.system('SCEP challenge', async (s) => {
        if (challenge) await s.challengeClaims.issued(challenge, cert.certHash, cert.serial);
        if (previous) await s.challengeClaims.renewed(previous, cert.certHash, cert.serial);
      });
      const actor: Actor = { kind: 'system', accountId: grant.accountId, adminId: null, label: 'SCEP server', role: 'owner', ip: null, requestId: null };
      await deps.uow.inAccount(grant.accountId, (s) =>
        s.audit.append(
          auditEvent(actor, {
            action: previous ? 'scep.certificate_renewed' : 'scep.certificate_issued',
            objectType: 'enrollment_request',
            objectId: grant.requestId,
            after: { serial: cert.serial, subject: cert.subject, notAfter: cert.notAfter.toISOString(), sha256: cert.certHash },
          }, deps.clock, deps.random),
        ),
      );
    },
  };
}
