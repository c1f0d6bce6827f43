/**
 * The HTTP side of starting an import: the multipart upload read and spooled (counted and hashed),
 * its name checked against the formats the kind takes, then the job queued. Both import routes
 * (Bulk Import Users, Bulk Add) answer 202 with the job through this.
 */
import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { spool } from '../bulk/file-store.js';
import type { JobService } from './service.js';
import type { JobKind } from './model.js';

export interface Uploads {
  dir: string;
  maxBytes: number;
}

/** The header an import route accepts. */
export const importHeaders = z.object({ 'idempotency-key': z.string().min(1).max(200).optional() });

export async function startImportFromUpload(
  request: FastifyRequest,
  reply: FastifyReply,
  opts: { jobs: JobService; uploads: Uploads; kind: JobKind; extensions: readonly string[]; refusal: (name: string) => string },
) {
  if (!request.isMultipart()) throw AppError.validation([{ path: 'file', message: 'Send the file as multipart/form-data, field "file"' }]);
  const part = await request.file({ limits: { fileSize: opts.uploads.maxBytes, files: 1 } });
  if (!part || part.fieldname !== 'file') throw AppError.validation([{ path: 'file', message: 'Send the file in the multipart field "file"' }]);
  const name = part.filename || `upload.${opts.extensions[0]}`;
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (!name.includes('.') || !opts.extensions.includes(ext)) {
    part.file.resume();
    throw new AppError('FILE_TYPE_INVALID', opts.refusal(name));
  }
  const spooled = await spool(part.file, name, opts.uploads.dir, opts.uploads.maxBytes);
  try {
    const key = (request.headers['idempotency-key'] as string | undefined) ?? null;
    const { job } = await opts.jobs.startImport(request.actor, opts.kind, spooled, key);
    return reply.status(202).send(job);
  } finally {
    await fs.promises.rm(spooled.path, { force: true });
  }
}
