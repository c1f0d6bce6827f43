import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, STANDARD_ERRORS } from '../http/schemas.js';
import { ENROLLMENT_NOTICE } from './enrollment-notice.js';
import { IMPORT_SUMMARY } from './import-summary.js';
import type { OutboxService } from './service.js';

export const OUTBOX_KINDS = [ENROLLMENT_NOTICE, IMPORT_SUMMARY] as const;

export const outboxSummarySchema = z
  .object({
    queued: z.number().int().describe('Waiting to be sent, including those being retried'),
    retrying: z.number().int().describe('Of the queued, those that failed at least once'),
    sent: z.number().int(),
    failed: z.number().int().describe('Given up: a permanent failure, or every attempt failed'),
    lastError: z.string().nullable().describe('The error of the newest message that has one'),
  })
  .meta({ id: 'OutboxSummary' });

export const outboxRoutes: FastifyPluginAsyncZod<{ outbox: OutboxService }> = async (app, { outbox }) => {
  app.get(
    '/outbox/summary',
    {
      schema: {
        tags: ['Outbox'],
        summary: 'Exact figures of the email and SMS outbox (enrollment notices with kind=enrollment_notice)',
        querystring: z.strictObject({ kind: z.enum(OUTBOX_KINDS).optional() }),
        response: { 200: outboxSummarySchema, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => outbox.summary(request.actor, { kind: request.query.kind }),
  );
};
