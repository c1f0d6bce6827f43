/**
 * Apple setup: the account's APNs MDM push certificate. Upload (owner), status (owner and admin),
 * and what the profile and check-in code asks: the topic to put in profiles, and the credentials to
 * push with. The topic is baked into every installed profile, so a renewal must keep it while any
 * device is enrolled.
 */
import { AppError } from '../../errors.js';
import type { Clock, Random } from '../../core/clock.js';
import { authorize, can, type Actor } from '../../accounts/roles.js';
import { auditEvent } from '../../audit/record.js';
import { seal, unseal } from '../../notify/seal.js';
import type { UnitOfWork } from '../../stores.js';
import { parsePushCertificate, type PushCertificateInput } from './parse.js';
import { pushStatus, type PushCertificateStatus } from './model.js';
import { testTopicFor } from './test-topic.js';

/** The purpose the private keys are sealed under (never opened as anything else). */
const SEAL_PURPOSE = 'pippin apns push key v1';

export interface PushCertificateDeps {
  uow: UnitOfWork;
  clock: Clock;
  random: Random;
  secretKey: Buffer;
  /** PIPPIN_ALLOW_TEST_TOPIC: without a certificate, profiles use a generated test topic. */
  allowTestTopic: boolean;
}

/** An upload as the API takes it: a PEM pair, or a .p12 (base64) with its password. */
export type PushUpload = { certificatePem: string; privateKeyPem: string } | { p12Base64: string; password: string };

/** What APNs needs to push to an account's devices. */
export interface PushCredentials {
  topic: string;
  certificatePem: string;
  privateKeyPem: string;
  notAfter: string;
}

/**
 * Owners manage the certificate; admins may see its status (its expiry concerns them too). The
 * roles table has no read-only Apple permission, so the rule is spelled out here.
 */
function authorizeRead(actor: Actor): void {
  if (actor.role === 'admin' || can(actor.role, 'apple.manage')) return;
  authorize(actor, 'apple.manage');
}

export function createPushCertificateService(deps: PushCertificateDeps) {
  const { uow, clock, random, secretKey, allowTestTopic } = deps;
  const testTopic = (accountId: string) => (allowTestTopic ? testTopicFor(accountId) : null);

  return {
    /** The account's certificate as the console shows it (or the test topic in use, or nothing). */
    async status(actor: Actor): Promise<PushCertificateStatus> {
      authorizeRead(actor);
      const cert = await uow.inAccount(actor.accountId, (s) => s.pushCertificates.get());
      return pushStatus(cert, clock.now(), testTopic(actor.accountId));
    },

    /**
     * Stores an uploaded certificate (first upload or renewal). Refuses an unreadable, mismatched,
     * expired or non-MDM certificate (PUSH_CERTIFICATE_INVALID), and a renewal whose topic differs
     * from the stored one while devices are enrolled (PUSH_TOPIC_CHANGED).
     */
    async upload(actor: Actor, body: PushUpload): Promise<PushCertificateStatus> {
      authorize(actor, 'apple.manage');
      const input: PushCertificateInput = 'p12Base64' in body ? { p12: Buffer.from(body.p12Base64, 'base64'), password: body.password } : body;
      const parsed = parsePushCertificate(input, clock.now());
      return uow.inAccount(actor.accountId, async (s) => {
        const before = await s.pushCertificates.get();
        if (before && before.topic !== parsed.topic) {
          const enrolled = await s.pushCertificates.countEnrolledDevices();
          if (enrolled > 0) {
            throw new AppError(
              'PUSH_TOPIC_CHANGED',
              `This certificate's topic (${parsed.topic}) is not the current one (${before.topic}), and ${enrolled} enrolled device${enrolled === 1 ? ' uses' : 's use'} the current one: renew the existing certificate at the Apple Push Certificates Portal with the same Apple ID instead of creating a new one`,
              { topic: parsed.topic, currentTopic: before.topic, enrolledDevices: enrolled },
            );
          }
        }
        const at = clock.now().toISOString();
        await s.pushCertificates.put({
          topic: parsed.topic,
          subject: parsed.subject,
          certificatePem: parsed.certificatePem,
          keySealed: seal(secretKey, parsed.privateKeyPem, SEAL_PURPOSE),
          notBefore: parsed.notBefore.toISOString(),
          notAfter: parsed.notAfter.toISOString(),
          uploadedBy: actor.label,
          uploadedAt: at,
        });
        const view = (c: { topic: string; subject: string; notAfter: string }) => ({ topic: c.topic, subject: c.subject, notAfter: c.notAfter });
        await s.audit.append(
          auditEvent(
            actor,
            {
              action: 'apple.push_certificate.upload',
              objectType: 'push_certificate',
              objectId: parsed.topic,
              before: before ? view(before) : null,
              after: { ...view({ ...parsed, notAfter: parsed.notAfter.toISOString() }), notBefore: parsed.notBefore.toISOString(), fingerprint: parsed.fingerprint, renewal: !!before },
            },
            clock,
            random,
          ),
        );
        return pushStatus(await s.pushCertificates.get(), clock.now(), testTopic(actor.accountId));
      });
    },

    /**
     * The topic profiles of this account carry: the uploaded certificate's (`test: false`, even once
     * expired: the topic stays right, pushes fail until it is renewed), else the generated test topic
     * when PIPPIN_ALLOW_TEST_TOPIC is set (`test: true`), else null, and then no profile may be served.
     */
    async pushTopic(accountId: string): Promise<{ topic: string; test: boolean } | null> {
      const cert = await uow.inAccount(accountId, (s) => s.pushCertificates.get());
      if (cert) return { topic: cert.topic, test: false };
      return allowTestTopic ? { topic: testTopicFor(accountId), test: true } : null;
    },

    /** The certificate and its unsealed key, for pushing over APNs; null without an uploaded certificate. */
    async credentials(accountId: string): Promise<PushCredentials | null> {
      const cert = await uow.inAccount(accountId, (s) => s.pushCertificates.get());
      if (!cert) return null;
      return { topic: cert.topic, certificatePem: cert.certificatePem, privateKeyPem: unseal<string>(secretKey, cert.keySealed, SEAL_PURPOSE), notAfter: cert.notAfter };
    },
  };
}

export type PushCertificateService = ReturnType<typeof createPushCertificateService>;
