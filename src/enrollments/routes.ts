import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import { importHeaders, startImportFromUpload, type Uploads } from '../jobs/upload.js';
import { csvStream, csvText, fromArray } from '../bulk/writers.js';
import type { JobService } from '../jobs/service.js';
import { jobSchema } from '../jobs/schemas.js';
import type { EnrollmentService } from './service.js';
import { issuedRequestSchema, requestCreateSchema, requestListQuerySchema, requestSchema } from './schemas.js';
import { REQUEST_TEMPLATE_COLUMNS, REQUEST_TEMPLATE_EXAMPLES } from './file-format.js';

const fileBody = z.any().describe('The file (CSV, or tab-delimited TXT, UTF-8 with a BOM)');

export const enrollmentRoutes: FastifyPluginAsyncZod<{ enrollments: EnrollmentService; jobs: JobService; uploads: Uploads }> = async (
  app,
  { enrollments, jobs, uploads },
) => {
  app.get(
    '/enrollment-requests',
    {
      schema: {
        tags: ['Enrollment requests'],
        summary: 'Enrollment requests, newest first: filters by status, request type (the display string), platform and user; q is a prefix of the username, email or MAID',
        querystring: z.strictObject({ ...pageQuery, ...requestListQuerySchema }),
        response: { 200: pageOf(requestSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const { limit, cursor, ...query } = request.query;
      return enrollments.list(request.actor, query, { limit, cursor });
    },
  );

  app.post(
    '/enrollment-requests',
    {
      schema: {
        tags: ['Enrollment requests'],
        summary: "Send one request (or refresh the user's Pending one for the platform); the answer alone carries the URL and passcode",
        body: requestCreateSchema,
        response: { 201: issuedRequestSchema, ...errors(...STANDARD_ERRORS, 409, 422) },
      },
    },
    async (request, reply) => reply.status(201).send(await enrollments.create(request.actor, request.body)),
  );

  app.get(
    '/enrollment-requests/template',
    {
      schema: {
        tags: ['Enrollment requests'],
        summary: 'The Bulk Add template: CSV, or TXT (tab-delimited)',
        querystring: z.strictObject({ format: z.enum(['csv', 'txt']).default('csv') }),
        produces: ['text/csv', 'text/plain'],
        response: { 200: fileBody, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request, reply) => {
      const format = request.query.format;
      const body =
        format === 'csv'
          ? csvStream(REQUEST_TEMPLATE_COLUMNS, fromArray([REQUEST_TEMPLATE_EXAMPLES]))
          : Readable.from(['\uFEFF' + csvText([REQUEST_TEMPLATE_COLUMNS.map((c) => c.header), ...REQUEST_TEMPLATE_EXAMPLES], '\t')]);
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="enrollment-requests-template.${format}"`)
        .send(body);
    },
  );

  app.post(
    '/enrollment-requests/bulk',
    {
      schema: {
        tags: ['Enrollment requests'],
        summary: 'Bulk Add: upload a CSV or TXT file (multipart field `file`); answers 202 with the job',
        headers: importHeaders,
        consumes: ['multipart/form-data'],
        response: { 202: jobSchema, ...errors(...STANDARD_ERRORS, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      startImportFromUpload(request, reply, { jobs, uploads, kind: 'enrollment_bulk_add', extensions: ['csv', 'txt'], refusal: (name) => `${name}: Bulk Add takes a .csv or .txt (tab-delimited) file` }),
  );

  app.get(
    '/enrollment-requests/:id',
    { schema: { tags: ['Enrollment requests'], summary: 'One enrollment request', params: idParams, response: { 200: requestSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => enrollments.get(request.actor, request.params.id),
  );

  app.post(
    '/enrollment-requests/:id/resend',
    {
      schema: {
        tags: ['Enrollment requests'],
        summary: 'New passcode, link and expiry, Pending again, notified again (not for Completed or Deleted requests)',
        params: idParams,
        response: { 200: issuedRequestSchema, ...errors(...STANDARD_ERRORS, 409) },
      },
    },
    async (request) => enrollments.resend(request.actor, request.params.id),
  );

  app.delete(
    '/enrollment-requests/:id',
    {
      schema: { tags: ['Enrollment requests'], summary: 'Mark a request Deleted: its link and passcode stop working', params: idParams, response: { 200: requestSchema, ...errors(...STANDARD_ERRORS) } },
    },
    async (request) => enrollments.delete(request.actor, request.params.id),
  );
};
