import { z } from 'zod';
import { AUTH_MODES, REQUEST_MODES } from '../accounts/model.js';
import { EMAIL_PATTERN, PHONE_PATTERN, USER_LIMITS } from '../directory/model.js';
import { COMMENTS_MAX, NAMED_PLATFORMS, NOTIFY_CHANNELS, OWNERSHIPS, PLATFORMS, REQUEST_STATUSES, REQUEST_TYPES } from './model.js';

/** Enrollment request schemas, shared by the routes, the OpenAPI document and the console. */

export const requestSchema = z
  .object({
    id: z.string(),
    userId: z.string(),
    username: z.string(),
    domain: z.string(),
    fullName: z.string(),
    managedAppleId: z.string().nullable(),
    email: z.string(),
    phone: z.string(),
    platform: z.enum(PLATFORMS),
    ownership: z.enum(OWNERSHIPS),
    userEnrollment: z.boolean(),
    requestMode: z.enum(REQUEST_MODES),
    authMode: z.enum(AUTH_MODES),
    authModeOverridden: z.boolean(),
    seamless: z.boolean(),
    notify: z.enum(NOTIFY_CHANNELS),
    comments: z.string(),
    requestType: z.enum(REQUEST_TYPES),
    status: z.enum(REQUEST_STATUSES),
    statusReason: z.string().nullable(),
    requestedBy: z.object({ id: z.string().nullable(), label: z.string() }),
    expiresAt: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deviceId: z.string().nullable(),
  })
  .meta({ id: 'EnrollmentRequest' });

/** Create and resend answer with the secrets, this once. */
export const issuedRequestSchema = requestSchema
  .extend({
    url: z.string().describe('The enrollment link (shown once)'),
    passcode: z.string().nullable().describe('The one-time passcode (shown once); null when the request needs none'),
    refreshed: z.boolean().describe("True when the user's Pending request for this platform was refreshed instead of a new one created"),
  })
  .meta({ id: 'IssuedEnrollmentRequest' });

export const requestCreateSchema = z
  .strictObject({
    userId: z.uuid({ error: 'Not a valid id' }).optional(),
    username: z.string().trim().min(1).max(USER_LIMITS.usernameMax).optional(),
    domain: z.string().trim().max(253).optional(),
    platform: z.enum(NAMED_PLATFORMS),
    ownership: z.enum(OWNERSHIPS),
    userEnrollment: z.boolean().default(false),
    requestMode: z.enum(REQUEST_MODES).optional(),
    authMode: z.enum(AUTH_MODES).optional(),
    seamless: z.boolean().optional(),
    notify: z.enum(NOTIFY_CHANNELS).default('email'),
    email: z.string().trim().max(USER_LIMITS.emailMax).regex(EMAIL_PATTERN, 'Not an email address').optional(),
    phone: z.string().trim().max(USER_LIMITS.phoneMax).regex(PHONE_PATTERN, 'Digits, spaces, + - ( ) . and an extension only').optional(),
    comments: z.string().max(COMMENTS_MAX).optional(),
  })
  .refine((b) => !!b.userId !== !!b.username, { message: 'Give either userId or username (with domain)', path: ['userId'] });

export const requestListQuerySchema = {
  status: z.enum(REQUEST_STATUSES).optional(),
  requestType: z.enum(REQUEST_TYPES).optional(),
  platform: z.enum(PLATFORMS).optional(),
  userId: z.uuid({ error: 'Not a valid id' }).optional(),
  q: z.string().trim().max(254).optional(),
};
