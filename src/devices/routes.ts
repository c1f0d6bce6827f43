import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import type { DeviceService } from './service.js';
import { deviceListQuerySchema, deviceSchema } from './schemas.js';

export const deviceRoutes: FastifyPluginAsyncZod<{ devices: DeviceService }> = async (app, { devices }) => {
  app.get(
    '/devices',
    {
      schema: {
        tags: ['Devices'],
        summary: 'Enrolled (and checked-out) devices, newest first; filters by user, status and platform',
        querystring: z.strictObject({ ...pageQuery, ...deviceListQuerySchema }),
        response: { 200: pageOf(deviceSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const { limit, cursor, ...query } = request.query;
      return devices.list(request.actor, query, { limit, cursor });
    },
  );
  app.get(
    '/devices/:id',
    { schema: { tags: ['Devices'], summary: 'One device', params: idParams, response: { 200: deviceSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => devices.get(request.actor, request.params.id),
  );
};
