import { AppError } from '../errors.js';

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

export function decodeCursor(cursor: string, arity: number): (string | number | null)[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === arity && v.every((x) => x === null || ['string', 'number'].includes(typeof x))) return v;
  } catch {
    /* fall through */
  }
  throw AppError.validation([{ path: 'cursor', message: 'Invalid cursor' }]);
}

export function capTotal(count: number): { total: number; totalCapped: boolean } {
  return count > TOTAL_CAP ? { total: TOTAL_CAP, totalCapped: true } : { total: count, totalCapped: false };
}
