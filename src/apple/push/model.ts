/**
 * The APNs MDM push certificate of an account, as the console and the profile code see it. Pure,
 * and free of Node imports: the console takes its limits and status rules from here.
 */

/** Every MDM push topic starts so (the certificate's subject UID, `com.apple.mgmt.External.<uuid>`). */
export const PUSH_TOPIC_PREFIX = 'com.apple.mgmt.';

/** A certificate this close to its expiry (or past it) is shown as a warning. */
export const EXPIRY_WARNING_DAYS = 30;

/** Upload limits, shared by the route's schema and the console's form. */
export const PUSH_UPLOAD_LIMITS = {
  /** A PEM certificate (or chain) or a PEM key, in characters. */
  pemMax: 64 * 1024,
  /** A .p12 file in bytes (a push certificate's is about 3 KB). */
  p12MaxBytes: 64 * 1024,
  passwordMax: 1024,
} as const;

/** The stored certificate (its key stays sealed in the store and never reaches this type). */
export interface PushCertificate {
  topic: string;
  subject: string;
  certificatePem: string;
  notBefore: string;
  notAfter: string;
  uploadedBy: string;
  uploadedAt: string;
}

/** What `GET /apple/push-certificate` answers. */
export interface PushCertificateStatus {
  /** True when a certificate was uploaded. */
  configured: boolean;
  /** The uploaded certificate's topic, else the generated test topic when test topics are allowed, else null. */
  topic: string | null;
  subject: string | null;
  notBefore: string | null;
  notAfter: string | null;
  /** Whole days until expiry (negative once expired); null without a certificate. */
  expiresInDays: number | null;
  /** True when expiry is EXPIRY_WARNING_DAYS away or less (or past). */
  expiringSoon: boolean;
  expired: boolean;
  uploadedBy: string | null;
  uploadedAt: string | null;
  /** True when profiles use the generated test topic: real devices cannot be reached. */
  testTopic: boolean;
}

const DAY_MS = 86_400_000;

/** The status shown for a stored certificate (or none) at `now`; `testTopic` when none and test topics are allowed. */
export function pushStatus(cert: PushCertificate | null, now: Date, testTopic: string | null): PushCertificateStatus {
  if (!cert) {
    return {
      configured: false,
      topic: testTopic,
      subject: null,
      notBefore: null,
      notAfter: null,
      expiresInDays: null,
      expiringSoon: false,
      expired: false,
      uploadedBy: null,
      uploadedAt: null,
      testTopic: testTopic !== null,
    };
  }
  const left = new Date(cert.notAfter).getTime() - now.getTime();
  const expiresInDays = Math.floor(left / DAY_MS);
  return {
    configured: true,
    topic: cert.topic,
    subject: cert.subject,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    expiresInDays,
    expiringSoon: left <= EXPIRY_WARNING_DAYS * DAY_MS,
    expired: left <= 0,
    uploadedBy: cert.uploadedBy,
    uploadedAt: cert.uploadedAt,
    testTopic: false,
  };
}
