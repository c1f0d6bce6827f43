import { z } from 'zod';
import { domainNameProblem } from '../core/names.js';
import { ACCOUNT_LIMITS, AUTH_MODES, DEPLOYMENT_MODES, EMAIL_MAX, PASSWORD_LIMITS, REQUEST_MODES, ROLES } from './model.js';

/** Request and response schemas of the accounts feature, shared by routes, the OpenAPI document and the console. */

const domain = (fullyQualified: boolean) =>
  z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      const problem = domainNameProblem(v.toLowerCase(), { fullyQualified });
      if (problem) ctx.addIssue({ code: 'custom', message: `The domain ${problem}` });
    });

export const email = z.string().trim().max(EMAIL_MAX).regex(/^[^\s@]+@[^\s@]+$/, 'Not an email address');
export const password = z.string().min(PASSWORD_LIMITS.min, `At least ${PASSWORD_LIMITS.min} characters`).max(PASSWORD_LIMITS.max);
export const role = z.enum(ROLES);

export const accountSchema = z
  .object({
    id: z.string(),
    key: z.string(),
    name: z.string(),
    deploymentMode: z.enum(DEPLOYMENT_MODES),
    defaultRequestMode: z.enum(REQUEST_MODES),
    defaultDomain: z.string(),
    managedAppleIdDomains: z.array(z.string()),
    defaultAuthMode: z.enum(AUTH_MODES),
    seamlessEnrollment: z.boolean(),
    requestExpiryHours: z.number().int(),
    passcodeLength: z.number().int(),
    useEmailAsManagedAppleId: z.boolean(),
    requireGenuineAppleDevices: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Account' });

export const accountPatchSchema = z.strictObject({
  name: z.string().trim().min(1, 'Required').max(ACCOUNT_LIMITS.nameMax).optional(),
  deploymentMode: z.enum(DEPLOYMENT_MODES).optional(),
  defaultRequestMode: z.enum(REQUEST_MODES).optional(),
  defaultDomain: domain(false).optional(),
  managedAppleIdDomains: z.array(domain(true)).max(ACCOUNT_LIMITS.managedAppleIdDomainsMax).optional(),
  defaultAuthMode: z.enum(AUTH_MODES).optional(),
  seamlessEnrollment: z.boolean().optional(),
  requestExpiryHours: z.number().int().min(ACCOUNT_LIMITS.requestExpiryHours.min).max(ACCOUNT_LIMITS.requestExpiryHours.max).optional(),
  passcodeLength: z.number().int().min(ACCOUNT_LIMITS.passcodeLength.min).max(ACCOUNT_LIMITS.passcodeLength.max).optional(),
  useEmailAsManagedAppleId: z.boolean().optional(),
  requireGenuineAppleDevices: z.boolean().optional(),
});

export const adminSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    role,
    disabled: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastSignInAt: z.string().nullable(),
  })
  .meta({ id: 'Admin' });

export const adminCreateSchema = z.strictObject({ email, role, password });
export const adminPatchSchema = z.strictObject({ role: role.optional(), disabled: z.boolean().optional(), password: password.optional() });

export const sessionCreateSchema = z.strictObject({ email: z.string().max(EMAIL_MAX), password: z.string().max(PASSWORD_LIMITS.max) });
export const sessionSchema = z
  .object({ admin: adminSchema, account: z.object({ id: z.string(), name: z.string() }), csrfToken: z.string() })
  .meta({ id: 'Session' });

export const tokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    adminId: z.string(),
    adminEmail: z.string(),
    role,
    prefix: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiToken' });
export const tokenCreateSchema = z.strictObject({
  name: z.string().trim().min(1, 'Required').max(100),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
export const createdTokenSchema = tokenSchema.extend({ token: z.string() }).meta({ id: 'CreatedApiToken' });
