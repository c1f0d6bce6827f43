import { z } from 'zod';
import { domainNameProblem } from '../core/names.js';
import { AUTH_TYPES, EMAIL_PATTERN, PHONE_PATTERN, USER_LIMITS, USER_SORTS, USER_STATUSES, USERNAME_PATTERN } from './model.js';

/** Directory schemas, shared by the routes, the OpenAPI document and the console forms. */

export const userSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    domain: z.string(),
    email: z.string(),
    fullName: z.string(),
    phone: z.string(),
    groups: z.array(z.string()),
    authType: z.enum(AUTH_TYPES),
    managedAppleId: z.string().nullable(),
    status: z.enum(USER_STATUSES),
    devices: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    warnings: z.array(z.object({ code: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'User' });

const username = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(USER_LIMITS.usernameMax)
  .refine((v) => v === '' || USERNAME_PATTERN.test(v), 'Control characters are not allowed');
const domain = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    if (v === '') return; // the account's default domain
    const problem = domainNameProblem(v.toLowerCase(), { fullyQualified: false });
    if (problem) ctx.addIssue({ code: 'custom', message: `The domain ${problem}` });
  });
const email = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(USER_LIMITS.emailMax)
  .refine((v) => v === '' || EMAIL_PATTERN.test(v), 'Not an email address');
const fullName = z.string().trim().max(USER_LIMITS.fullNameMax).regex(/^[^\p{Cc}]*$/u, 'Control characters are not allowed');
const phone = z
  .string()
  .trim()
  .max(USER_LIMITS.phoneMax)
  .refine((v) => v === '' || PHONE_PATTERN.test(v), 'Digits, spaces, + - ( ) . and an extension only');
const groups = z
  .array(z.string().trim().min(1, 'A group name is empty').max(USER_LIMITS.groupMax).regex(/^[^;\p{Cc}]*$/u, 'A group name cannot contain ;'))
  .max(USER_LIMITS.groupsMax)
  .transform((list) => [...new Set(list)]);
// Shape only: the Managed Apple ID rules are the service's (MAID_INVALID, MAID_DOMAIN_NOT_ALLOWED, MAID_EXISTS).
const managedAppleId = z.string().max(1000).nullable();
const password = z.string().min(USER_LIMITS.passwordMin, `At least ${USER_LIMITS.passwordMin} characters`).max(USER_LIMITS.passwordMax);

export const userCreateSchema = z.strictObject({
  username,
  domain: domain.optional(),
  email,
  fullName: fullName.optional(),
  phone: phone.optional(),
  groups: groups.optional(),
  authType: z.enum(AUTH_TYPES).optional(),
  managedAppleId: managedAppleId.optional(),
  status: z.enum(USER_STATUSES).optional(),
  password: password.optional(),
});

export const userPatchSchema = z.strictObject({
  username: username.optional(),
  domain: domain.optional(),
  email: email.optional(),
  fullName: fullName.optional(),
  phone: phone.optional(),
  groups: groups.optional(),
  authType: z.enum(AUTH_TYPES).optional(),
  managedAppleId: managedAppleId.optional(),
  status: z.enum(USER_STATUSES).optional(),
  password: password.nullable().optional(),
});

export const userSortParam = z.enum([...USER_SORTS, ...USER_SORTS.map((s) => `-${s}` as const)] as [string, ...string[]]);

export const userListQuerySchema = {
  q: z.string().max(200).optional(),
  managedAppleId: z.enum(['present', 'missing']).optional(),
  sort: userSortParam.optional(),
};

export const userSummarySchema = z
  .object({ total: z.number().int(), managedAppleIdLinked: z.number().int(), managedAppleIdMissing: z.number().int() })
  .meta({ id: 'UserSummary' });
