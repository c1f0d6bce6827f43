import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import type { AuditService } from './service.js';

const eventSchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.object({ type: z.enum(['admin', 'token', 'system', 'device']), id: z.string().nullable(), label: z.string() }),
    ip: z.string().nullable(),
    action: z.string(),
    objectType: z.string().nullable(),
    objectId: z.string().nullable(),
    before: z.record(z.string(), z.unknown()).nullable(),
    after: z.record(z.string(), z.unknown()).nullable(),
    requestId: z.string().nullable(),
  })
  .meta({ id: 'AuditEvent' });

const instant = z.iso.datetime({ offset: true, error: 'An ISO-8601 date-time, e.g. 2026-01-31T00:00:00Z' });

export const auditRoutes: FastifyPluginAsyncZod<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/audit',
    {
      schema: {
        tags: ['Audit'],
        summary: 'The audit log, newest first (owner, admin, auditor)',
        querystring: z.strictObject({
          ...pageQuery,
          actor: z.string().max(254).optional(),
          action: z.string().max(100).optional(),
          objectType: z.string().max(50).optional(),
          objectId: z.string().max(100).optional(),
          from: instant.optional(),
          to: instant.optional(),
        }),
        response: { 200: pageOf(eventSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const { limit, cursor, from, to, ...filter } = request.query;
      return audit.list(
        request.actor,
        { ...filter, from: from ? new Date(from).toISOString() : undefined, to: to ? new Date(to).toISOString() : undefined },
        { limit, cursor },
      );
    },
  );
};
