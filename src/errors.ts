/**
 * The one error type of Pippin. Every failure that reaches a client is an AppError with a code from
 * the closed set below; `http/errors.ts` maps codes to HTTP status in one table, and the README's
 * error table documents each code (a test keeps the two in step).
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ADMIN_EXISTS: 409,
  USERNAME_EXISTS: 409,
  MAID_EXISTS: 409,
  LAST_OWNER: 409,
  IMPORT_RUNNING: 409,
  DOMAIN_CLAIMED: 409,
  REQUEST_CLOSED: 409,
  PUSH_TOPIC_CHANGED: 409,
  USER_HAS_DEVICES: 409,
  WRITE_CONFLICT: 409,
  IMPORT_HEADER_MISSING: 422,
  IMPORT_HEADER_DUPLICATE: 422,
  IMPORT_TOO_MANY_ROWS: 413,
  FILE_TOO_LARGE: 413,
  FILE_EMPTY: 422,
  FILE_ENCODING_INVALID: 422,
  FILE_TYPE_INVALID: 415,
  CSV_MALFORMED: 422,
  EXPORT_TOO_LARGE_FOR_XLSX: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  MAID_INVALID: 422,
  MAID_DOMAIN_NOT_ALLOWED: 422,
  UE_NOT_ELIGIBLE: 422,
  PLATFORM_NOT_SUPPORTED: 422,
  REQUEST_MODE_NOT_AVAILABLE: 422,
  PUSH_CERTIFICATE_INVALID: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DATABASE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ValidationIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  /** Seconds a client should wait before trying again (RATE_LIMITED, WRITE_CONFLICT, DATABASE_UNAVAILABLE). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, retryAfter?: number) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }

  static validation(issues: ValidationIssue[], message = 'The request is not valid'): AppError {
    return new AppError('VALIDATION_FAILED', message, { issues });
  }

  static notFound(what = 'The object'): AppError {
    return new AppError('NOT_FOUND', `${what} was not found`);
  }

  static forbidden(message = 'Your role does not allow this'): AppError {
    return new AppError('FORBIDDEN', message);
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
