import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import type { UserSort } from './model.js';
import type { DirectoryService } from './service.js';
import { userCreateSchema, userListQuerySchema, userPatchSchema, userSchema, userSummarySchema } from './schemas.js';

export const directoryRoutes: FastifyPluginAsyncZod<{ directory: DirectoryService }> = async (app, { directory }) => {
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
