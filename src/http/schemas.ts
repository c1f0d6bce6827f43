import { z } from 'zod';
import { LIMIT_MAX } from '../core/paging.js';

/** Schemas every route shares. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
    requestId: z.string(),
  })
  .meta({ id: 'Error' });

export const idParams = z.strictObject({ id: z.uuid({ error: 'Not a valid id' }) });

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(LIMIT_MAX).optional(),
  cursor: z.string().max(2000).optional(),
};

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable(), total: z.number().int(), totalCapped: z.boolean() });
}

/** Standard error responses for a route's schema (response schemas are a whitelist). */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, errorBodySchema]));
}

export const STANDARD_ERRORS = [400, 401, 403, 404, 429, 500];

export const isoDate = z.string();
