import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.js';
import { errors, STANDARD_ERRORS } from '../../http/schemas.js';
import { PUSH_UPLOAD_LIMITS } from './model.js';
import { pushStatusSchema, pushUploadSchema } from './schemas.js';
import type { PushCertificateService } from './service.js';

const PEM_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/;

/**
 * A multipart upload turned into the JSON body the schema checks: a `file` (a .p12, or one PEM file
 * holding the certificate and its key) with a `password` field, or `certificate` and `privateKey`
 * PEM files (or the same as text fields `certificatePem`, `privateKeyPem`).
 */
async function multipartBody(request: FastifyRequest): Promise<Record<string, string>> {
  const body: Record<string, string> = {};
  const max = Math.max(PUSH_UPLOAD_LIMITS.p12MaxBytes, PUSH_UPLOAD_LIMITS.pemMax);
  for await (const part of request.parts({ limits: { files: 2, fields: 4, fileSize: max, fieldSize: PUSH_UPLOAD_LIMITS.pemMax } })) {
    if (part.type === 'field') {
      if (['password', 'certificatePem', 'privateKeyPem'].includes(part.fieldname)) body[part.fieldname] = String(part.value);
      continue;
    }
    const content = await part.toBuffer();
    if (part.file.truncated) throw new AppError('FILE_TOO_LARGE', `${part.filename || 'The file'} is too large for a push certificate (at most ${max / 1024} KB)`);
    const text = content.toString('latin1');
    if (part.fieldname === 'certificate') body.certificatePem = text;
    else if (part.fieldname === 'privateKey') body.privateKeyPem = text;
    else if (part.fieldname === 'file' && text.trimStart().startsWith('-----BEGIN')) {
      body.certificatePem = text;
      body.privateKeyPem = PEM_KEY.exec(text)?.[0] ?? '';
    } else if (part.fieldname === 'file') body.p12Base64 = content.toString('base64');
  }
  if ('p12Base64' in body) body.password ??= '';
  return body;
}

export const pushCertificateRoutes: FastifyPluginAsyncZod<{ push: PushCertificateService }> = async (app, { push }) => {
  app.get(
    '/apple/push-certificate',
    {
      schema: {
        tags: ['Apple setup'],
        summary: 'The APNs MDM push certificate: topic, subject, expiry (a warning 30 days ahead); or the test topic in use (owner and admin)',
        response: { 200: pushStatusSchema, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => push.status(request.actor),
  );

  app.put(
    '/apple/push-certificate',
    {
      schema: {
        tags: ['Apple setup'],
        summary:
          'Upload or renew the APNs MDM push certificate (owner): JSON { certificatePem, privateKeyPem } or { p12Base64, password }, or multipart (file + password). A renewal must keep the topic while devices are enrolled',
        consumes: ['application/json', 'multipart/form-data'],
        body: pushUploadSchema,
        response: { 200: pushStatusSchema, ...errors(...STANDARD_ERRORS, 409, 413, 422) },
      },
      // Multipart fields become the same body as JSON, so one schema checks both.
      preValidation: async (request) => {
        if (request.isMultipart()) request.body = (await multipartBody(request)) as typeof request.body;
      },
    },
    async (request) => push.upload(request.actor, request.body),
  );
};
