import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { csvText } from '../bulk/writers.js';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import { JOB_KINDS, JOB_STATUSES } from './model.js';
import { jobSchema } from './schemas.js';
import type { JobService } from './service.js';

export const jobRoutes: FastifyPluginAsyncZod<{ jobs: JobService }> = async (app, { jobs }) => {
  app.get(
    '/jobs',
    {
      schema: {
        tags: ['Jobs'],
        summary: 'Imports of the account, newest first',
        querystring: z.strictObject({ ...pageQuery, kind: z.enum(JOB_KINDS).optional(), status: z.enum(JOB_STATUSES).optional() }),
        response: { 200: pageOf(jobSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return jobs.list(request.actor, filter, { limit, cursor });
    },
  );

  app.get(
    '/jobs/:id',
    { schema: { tags: ['Jobs'], summary: 'One job: status, progress, counts, warnings, error', params: idParams, response: { 200: jobSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => jobs.get(request.actor, request.params.id),
  );

  app.post(
    '/jobs/:id/cancel',
    { schema: { tags: ['Jobs'], summary: 'Stop after the current batch (rows already applied stay)', params: idParams, response: { 200: jobSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => jobs.cancel(request.actor, request.params.id),
  );

  app.get(
    '/jobs/:id/results',
    {
      schema: {
        tags: ['Jobs'],
        summary: 'The results file (CSV): the input columns, then Row, Result, Code, Message',
        params: idParams,
        querystring: z.strictObject({ failed: z.enum(['true', 'false']).optional() }),
        produces: ['text/csv'],
        response: { 200: z.any().describe('CSV with a UTF-8 BOM'), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request, reply) => {
      const { job, header, lines } = await jobs.results(request.actor, request.params.id, request.query.failed === 'true');
      const body = Readable.from(
        (async function* () {
          yield '\uFEFF' + csvText([header]);
          yield* lines;
        })(),
      );
      const base = job.fileName.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_') || 'import';
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${base}-results.csv"`).send(body);
    },
  );
};
