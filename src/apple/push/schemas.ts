import { z } from 'zod';
import { PUSH_UPLOAD_LIMITS } from './model.js';

/** Push certificate schemas, shared by the routes, the OpenAPI document and the console. */

export const pushStatusSchema = z
  .object({
    configured: z.boolean().describe('True when a push certificate was uploaded'),
    topic: z.string().nullable().describe('The APNs topic profiles carry: the certificate’s, else the generated test topic, else null'),
    subject: z.string().nullable(),
    notBefore: z.string().nullable(),
    notAfter: z.string().nullable(),
    expiresInDays: z.number().int().nullable().describe('Whole days until expiry; negative once expired'),
    expiringSoon: z.boolean().describe('Expiry is 30 days away or less (or past)'),
    expired: z.boolean(),
    uploadedBy: z.string().nullable(),
    uploadedAt: z.string().nullable(),
    testTopic: z.boolean().describe('True when profiles use a generated test topic (PIPPIN_ALLOW_TEST_TOPIC): real devices cannot be reached'),
  })
  .meta({ id: 'PushCertificateStatus' });

/** Base64 of a .p12 of at most p12MaxBytes (4 characters per 3 bytes, line breaks allowed). */
const P12_BASE64_MAX = Math.ceil(PUSH_UPLOAD_LIMITS.p12MaxBytes / 3) * 4 + 4096;

export const pushUploadPemSchema = z.strictObject({
  certificatePem: z.string().trim().min(1).max(PUSH_UPLOAD_LIMITS.pemMax).describe('The push certificate, PEM (a chain may follow it)'),
  privateKeyPem: z.string().trim().min(1).max(PUSH_UPLOAD_LIMITS.pemMax).describe('Its private key, unencrypted PEM (PKCS#8 or PKCS#1)'),
});

export const pushUploadP12Schema = z.strictObject({
  p12Base64: z
    .string()
    .trim()
    .min(1)
    .max(P12_BASE64_MAX)
    .regex(/^[A-Za-z0-9+/=\s_-]+$/, 'Not base64')
    .describe('The .p12 (PKCS#12) file, base64'),
  password: z.string().max(PUSH_UPLOAD_LIMITS.passwordMax).describe('The .p12 file’s password (may be empty)'),
});

export const pushUploadSchema = z.union([pushUploadPemSchema, pushUploadP12Schema]).meta({ id: 'PushCertificateUpload' });
