import { z } from 'zod';
import { JOB_KINDS, JOB_STATUSES } from './model.js';

export const jobSchema = z
  .object({
    id: z.string(),
    kind: z.enum(JOB_KINDS),
    status: z.enum(JOB_STATUSES),
    fileName: z.string(),
    progress: z.object({ processed: z.number().int(), total: z.number().int().nullable() }),
    counts: z.object({ created: z.number().int(), updated: z.number().int(), unchanged: z.number().int(), refreshed: z.number().int(), failed: z.number().int() }),
    warnings: z.array(z.string()),
    error: z.object({ code: z.string(), message: z.string(), line: z.number().int().nullable() }).nullable(),
    requestedBy: z.object({ id: z.string().nullable(), label: z.string() }),
    cancelRequested: z.boolean(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'Job' });
