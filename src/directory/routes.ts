import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import type { UserSort } from './model.js';
import type { DirectoryService } from './service.js';
import { importHeaders, startImportFromUpload, type Uploads } from '../jobs/upload.js';
import type { JobService } from '../jobs/service.js';
import { jobSchema } from '../jobs/schemas.js';
import { csvStream, fromArray, xlsxStream } from '../bulk/writers.js';
import { USER_EXPORT_COLUMNS, USER_TEMPLATE_COLUMNS, USER_TEMPLATE_EXAMPLE, USER_TEMPLATE_INSTRUCTIONS, userExportRow } from './file-format.js';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
/** A streamed file download (not serialised as JSON). */
const fileBody = z.any().describe('The file (CSV with a UTF-8 BOM, or XLSX)');
import { userCreateSchema, userListQuerySchema, userPatchSchema, userSchema, userSummarySchema } from './schemas.js';

export const directoryRoutes: FastifyPluginAsyncZod<{ directory: DirectoryService; jobs: JobService; uploads: Uploads }> = async (
  app,
  { directory, jobs, uploads },
) => {
  app.post(
    '/users/imports',
    {
      schema: {
        tags: ['Users'],
        summary: 'Bulk Import Users: upload a CSV, TXT or XLSX file (multipart field `file`); answers 202 with the job',
        headers: importHeaders,
        consumes: ['multipart/form-data'],
        response: { 202: jobSchema, ...errors(...STANDARD_ERRORS, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      startImportFromUpload(request, reply, { jobs, uploads, kind: 'users_import', extensions: ['csv', 'txt', 'xlsx'], refusal: (name) => `${name}: upload a .csv, .txt (tab-delimited) or .xlsx file` }),
  );

  app.get(
    '/users',
    {
      schema: {
        tags: ['Users'],
        summary: 'List users: prefix search, the Managed Apple ID filter, sorts and keyset paging',
        querystring: z.strictObject({ ...pageQuery, ...userListQuerySchema }),
        response: { 200: pageOf(userSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const { limit, cursor, sort, ...filter } = request.query;
      const descending = !!sort?.startsWith('-');
      return directory.list(
        request.actor,
        { ...filter, sort: (sort?.replace(/^-/, '') as UserSort | undefined) ?? 'username', descending },
        { limit, cursor },
      );
    },
  );

  app.get(
    '/users/summary',
    { schema: { tags: ['Users'], summary: 'Exact directory figures', response: { 200: userSummarySchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => directory.summary(request.actor),
  );

  app.get(
    '/users/template',
    {
      schema: {
        tags: ['Users'],
        summary: 'The Bulk Upload Users template (CSV, or XLSX with an Instructions sheet)',
        querystring: z.strictObject({ format: z.enum(['csv', 'xlsx']).default('csv') }),
        produces: ['text/csv', XLSX_TYPE],
        response: { 200: fileBody, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request, reply) => {
      const format = request.query.format;
      const rows = fromArray([[USER_TEMPLATE_EXAMPLE]]);
      const body =
        format === 'csv'
          ? csvStream(USER_TEMPLATE_COLUMNS, rows)
          : xlsxStream('Users', USER_TEMPLATE_COLUMNS, rows, [{ name: 'Instructions', lines: USER_TEMPLATE_INSTRUCTIONS, widths: [44, 100] }]);
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : XLSX_TYPE)
        .header('content-disposition', `attachment; filename="users-template.${format}"`)
        .send(body);
    },
  );

  app.get(
    '/users/export',
    {
      schema: {
        tags: ['Users'],
        summary: "Export the users matching the list's filters and sort, streamed (owner, admin)",
        querystring: z.strictObject({ format: z.enum(['csv', 'xlsx']).default('csv'), ...userListQuerySchema }),
        produces: ['text/csv', XLSX_TYPE],
        response: { 200: fileBody, ...errors(...STANDARD_ERRORS, 422) },
      },
    },
    async (request, reply) => {
      const { format, sort, ...filter } = request.query;
      const users = await directory.exportUsers(
        request.actor,
        { ...filter, sort: (sort?.replace(/^-/, '') as UserSort | undefined) ?? 'username', descending: !!sort?.startsWith('-') },
        format,
      );
      const rows = (async function* () {
        for await (const batch of users) yield batch.map(userExportRow);
      })();
      const stamp = new Date().toISOString().slice(0, 10);
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : XLSX_TYPE)
        .header('content-disposition', `attachment; filename="users-${stamp}.${format}"`)
        .send(format === 'csv' ? csvStream(USER_EXPORT_COLUMNS, rows) : xlsxStream('Users', USER_EXPORT_COLUMNS, rows));
    },
  );

  app.get(
    '/users/:id',
    { schema: { tags: ['Users'], summary: 'One user', params: idParams, response: { 200: userSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => directory.get(request.actor, request.params.id),
  );

  app.post(
    '/users',
    {
      schema: {
        tags: ['Users'],
        summary: 'Add a user (admin, owner)',
        body: userCreateSchema,
        response: { 201: userSchema, ...errors(...STANDARD_ERRORS, 409, 422) },
      },
    },
    async (request, reply) => reply.status(201).send(await directory.create(request.actor, request.body)),
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags: ['Users'],
        summary: 'Change a user; managedAppleId null unlinks (admin, owner)',
        params: idParams,
        body: userPatchSchema,
        response: { 200: userSchema, ...errors(...STANDARD_ERRORS, 409, 422) },
      },
    },
    async (request) => directory.update(request.actor, request.params.id, request.body),
  );

  app.delete(
    '/users/:id',
    {
      schema: { tags: ['Users'], summary: 'Delete a user (admin, owner)', params: idParams, response: { 204: z.null(), ...errors(...STANDARD_ERRORS, 409) } },
    },
    async (request, reply) => {
      await directory.delete(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );
};
