import { z } from 'zod';
import { PLATFORMS } from '../enrollments/model.js';
import { DEVICE_STATUSES, ENROLLMENT_METHODS, ENROLLMENT_TYPES } from './model.js';

/** Device schemas, shared by the routes, the OpenAPI document and the console. */
export const deviceSchema = z
  .object({
    id: z.string(),
    userId: z.string().nullable(),
    username: z.string().nullable(),
    requestId: z.string().nullable(),
    platform: z.enum(PLATFORMS),
    enrollmentType: z.enum(ENROLLMENT_TYPES),
    enrollmentMethod: z.enum(ENROLLMENT_METHODS),
    enrollmentId: z.string().nullable(),
    udid: z.string().nullable(),
    serialNumber: z.string().nullable(),
    osVersion: z.string(),
    productName: z.string(),
    status: z.enum(DEVICE_STATUSES),
    enrolledAt: z.string().nullable(),
    lastSeenAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Device' });

export const deviceListQuerySchema = {
  userId: z.uuid({ error: 'Not a valid id' }).optional(),
  status: z.enum(['enrolled', 'checked_out']).optional(),
  platform: z.enum(PLATFORMS).optional(),
};
