/**
 * Single-use SCEP challenges: each profile the portal serves carries a new one, bound to its
 * request and expiring with it. Only its HMAC is stored. The SCEP server redeems it once; the
 * certificate then issued is recorded against it, which is how the device's first check-in finds
 * its request.
 */
import { createHmac } from 'node:crypto';
import type { Clock, Random } from '../core/clock.js';
import type { Tx } from '../db/database.js';
import type { UnitOfWork } from '../stores.js';

export const challengeHash = (secretKey: Buffer, challenge: string) => createHmac('sha256', secretKey).update('scep-challenge\u0000').update(challenge).digest('base64url');

/** Issues challenges for the bound account (in the caller's transaction). */
export interface ChallengeStore {
  insert(c: { hash: string; requestId: string; expiresAt: string; at: string; accessTokenHash?: string | null }): Promise<void>;
}

export type Redeemed = { ok: true; accountId: string; requestId: string; hash: string } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'request_closed' };

/** Cross-account redemption (system path "SCEP challenge"). */
export interface ChallengeClaims {
  /** Marks the challenge used when it is known, unused, unexpired and its request Pending. */
  redeem(hash: string, at: string): Promise<Redeemed>;
  /** Records the certificate issued for a redeemed challenge. */
  issued(hash: string, certHash: string, serial: string): Promise<void>;
  /** A renewal: the new certificate takes the old one's place, for the challenge and for its device. */
  renewed(previousCertHash: string, certHash: string, serial: string): Promise<void>;
}

export function challengeStore(tx: Tx, accountId: string): ChallengeStore {
  return {
    async insert(c) {
      await tx.insertInto('scep_challenges').values({ challenge_hash: c.hash, account_id: accountId, request_id: c.requestId, expires_at: c.expiresAt, created_at: c.at, access_token_hash: c.accessTokenHash ?? null }).execute();
    },
  };
}

export function challengeClaims(tx: Tx): ChallengeClaims {
  return {
    async redeem(hash, at) {
      const row = await tx
        .selectFrom('scep_challenges as c')
        .innerJoin('enrollment_requests as r', 'r.id', 'c.request_id')
        .select(['c.account_id', 'c.request_id', 'c.used_at', 'c.expires_at', 'r.status'])
        .where('c.challenge_hash', '=', hash)
        .executeTakeFirst();
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.used_at) return { ok: false, reason: 'used' };
      if (row.expires_at <= at) return { ok: false, reason: 'expired' };
      if (row.status !== 'pending') return { ok: false, reason: 'request_closed' };
      const res = await tx.updateTable('scep_challenges').set({ used_at: at }).where('challenge_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return { ok: false, reason: 'used' };
      return { ok: true, accountId: row.account_id, requestId: row.request_id, hash };
    },
    async issued(hash, certHash, serial) {
      await tx.updateTable('scep_challenges').set({ cert_hash: certHash, cert_serial: serial }).where('challenge_hash', '=', hash).execute();
    },
    async renewed(previous, certHash, serial) {
      await tx.updateTable('scep_challenges').set({ cert_hash: certHash, cert_serial: serial }).where('cert_hash', '=', previous).execute();
      await tx.updateTable('devices').set({ cert_hash: certHash }).where('cert_hash', '=', previous).execute();
    },
  };
}

/** A new challenge for a request, stored hashed; the plain value goes into the profile only. */
export async function newChallenge(
  s: { challenges: ChallengeStore },
  deps: { secretKey: Buffer; random: Random; clock: Clock },
  request: { id: string; expiresAt: string },
  /** Account-driven enrolment: the access token the profile was served for; the device enrolled with it must keep carrying it. */
  accessTokenHash?: string,
): Promise<string> {
  const challenge = deps.random.bytes(24).toString('base64url');
  await s.challenges.insert({ hash: challengeHash(deps.secretKey, challenge), requestId: request.id, expiresAt: request.expiresAt, at: deps.clock.now().toISOString(), accessTokenHash });
  return challenge;
}

/** Redeems a challenge a SCEP request carries (one transaction, race-safe: a second redemption finds it used). */
export function redeemChallenge(uow: UnitOfWork, deps: { secretKey: Buffer; clock: Clock }, challenge: string): Promise<Redeemed> {
  return uow.system('SCEP challenge', (s) => s.challengeClaims.redeem(challengeHash(deps.secretKey, challenge), deps.clock.now().toISOString()));
}
