import { AppError } from '../errors.js';
import { UUID_PATTERN } from './clock.js';

/** Lists answer with at most this exact total; beyond it `totalCapped` is set. */
export const TOTAL_CAP = 10_000;
export const LIMIT_MAX = 200;
export const LIMIT_DEFAULT = 50;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
  totalCapped: boolean;
}

export interface PageRequest {
  limit?: number;
  cursor?: string;
  /** Skip counting `total` (it is then 0): for readers that walk every page, such as exports. */
  skipTotal?: boolean;
}

/** An opaque keyset cursor: the sort key values of the last item returned. */
export function encodeCursor(values: (string | number | null)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * What each value of a cursor must be, in order: a sort key (text, a number, or null), a row's id
 * (a UUID), or an instant (ISO 8601 text). A cursor is checked against them before any query sees
 * it, so a forged one is a 400, not a database error (PostgreSQL refuses text that is no uuid or
 * timestamp).
 */
export type CursorPart = 'key' | 'id' | 'instant';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const FITS: Record<CursorPart, (v: unknown) => boolean> = {
  key: (v) => v === null || typeof v === 'string' || typeof v === 'number',
  id: (v) => typeof v === 'string' && UUID_PATTERN.test(v),
  instant: (v) => typeof v === 'string' && INSTANT.test(v) && !Number.isNaN(Date.parse(v)),
};

export function decodeCursor(cursor: string, parts: readonly CursorPart[]): (string | number | null)[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === parts.length && v.every((x, i) => FITS[parts[i]!](x))) return v;
  } catch {
    /* fall through */
  }
  throw AppError.validation([{ path: 'cursor', message: 'Invalid cursor' }]);
}

export function capTotal(count: number): { total: number; totalCapped: boolean } {
  return count > TOTAL_CAP ? { total: TOTAL_CAP, totalCapped: true } : { total: count, totalCapped: false };
}
