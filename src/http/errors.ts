import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isConflict, isTransient } from '../db/database.js';
import { AppError, ERROR_CODES, type ValidationIssue } from '../errors.js';

/** The one error body. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
  requestId: string;
}

/** Turns anything thrown into an AppError; unexpected errors become INTERNAL without internals. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(e)) {
    const where = e.validationContext ?? 'body';
    const issues: ValidationIssue[] = e.validation.map((v) => {
      const keys = (v.params as { keys?: string[] }).keys;
      let path = v.instancePath.split('/').filter(Boolean).join('.');
      let message = v.message ?? 'Invalid value';
      if (v.keyword === 'unrecognized_keys' && keys?.length) {
        path = [path, keys[0]].filter(Boolean).join('.');
        message = `Unknown field${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}`;
      }
      return { path: path || where, message };
    });
    return AppError.validation(issues, `The request ${where} is not valid`);
  }
  if (typeof e === 'object' && e !== null && isResponseSerializationError(e)) return new AppError('INTERNAL', 'Something went wrong on our side');
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return AppError.validation([{ path: 'body', message: 'The request body is too large' }], 'The request body is too large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return AppError.validation([{ path: 'body', message: 'The body is empty' }], 'The request body is empty');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return AppError.validation([{ path: 'body', message: e.message }], 'The request body is not JSON');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return AppError.validation([{ path: 'body', message: 'Malformed JSON' }], 'The request body is not valid JSON');
  }
  if (e.statusCode === 429) return new AppError('RATE_LIMITED', 'Too many requests');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500 && e.statusCode !== 404) {
    return AppError.validation([{ path: 'request', message: e.message }], e.message);
  }
  if (e.statusCode === 404) return new AppError('NOT_FOUND', e.message);
  // Past the store's own retries: other writers kept winning, or the database stayed out of reach.
  if (isConflict(e)) return new AppError('WRITE_CONFLICT', 'Other changes to the same records kept landing first, so this change was not saved; try it again', undefined, 1);
  if (isTransient(e)) return new AppError('DATABASE_UNAVAILABLE', 'The database is unreachable or too busy just now; try again shortly', undefined, 5);
  return new AppError('INTERNAL', 'Something went wrong on our side');
}

export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const appError = toAppError(err);
  if (appError.code === 'INTERNAL') request.log.error({ err }, 'unexpected error');
  else if (appError.code === 'DATABASE_UNAVAILABLE') request.log.warn({ err }, appError.message);
  else request.log.info({ code: appError.code }, appError.message);
  if (appError.retryAfter) reply.header('retry-after', String(appError.retryAfter));
  const body: ErrorBody = {
    error: { code: appError.code, message: appError.message, ...(appError.details ? { details: appError.details } : {}) },
    requestId: String(request.id),
  };
  return reply.status(ERROR_CODES[appError.code]).type('application/json').send(body);
}
