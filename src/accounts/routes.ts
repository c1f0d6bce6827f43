import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { errors, idParams, pageOf, pageQuery, STANDARD_ERRORS } from '../http/schemas.js';
import { requestContext, SESSION_COOKIE } from '../http/auth.js';
import type { AccountService } from './service.js';
import type { AuthService } from './auth.js';
import { SESSION_HOURS } from './auth.js';
import type { Admin, ApiToken } from './model.js';
import {
  accountPatchSchema,
  accountSchema,
  adminCreateSchema,
  adminPatchSchema,
  adminSchema,
  createdTokenSchema,
  sessionCreateSchema,
  sessionSchema,
  tokenCreateSchema,
  tokenSchema,
} from './schemas.js';

const publicAdmin = ({ accountId: _a, ...admin }: Admin) => admin;
const publicToken = ({ accountId: _a, ...token }: ApiToken) => token;

export const accountRoutes: FastifyPluginAsyncZod<{ accounts: AccountService; auth: AuthService; secureCookies: boolean }> = async (
  app,
  { accounts, auth, secureCookies },
) => {
  app.post(
    '/session',
    {
      config: { public: true },
      schema: {
        tags: ['Session'],
        summary: 'Sign in',
        body: sessionCreateSchema,
        response: { 200: sessionSchema, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request, reply) => {
      const signed = await auth.signIn(request.body.email, request.body.password, requestContext(request));
      reply.setCookie(SESSION_COOKIE, signed.cookie, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookies,
        maxAge: SESSION_HOURS * 3600,
      });
      return { admin: publicAdmin(signed.admin), account: signed.account, csrfToken: signed.csrfToken };
    },
  );

  app.get(
    '/session',
    { schema: { tags: ['Session'], summary: 'The signed-in admin', response: { 200: sessionSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => {
      const cookie = request.cookies[SESSION_COOKIE];
      const resolved = cookie ? await auth.resolveSession(cookie, requestContext(request)) : null;
      if (!resolved || !request.session) {
        // An API token has no session to describe.
        throw new AppError('UNAUTHENTICATED', 'Sign in first');
      }
      return { admin: publicAdmin(resolved.admin), account: resolved.account, csrfToken: resolved.csrfToken };
    },
  );

  app.delete(
    '/session',
    { schema: { tags: ['Session'], summary: 'Sign out', response: { 204: z.null(), ...errors(...STANDARD_ERRORS) } } },
    async (request, reply) => {
      if (request.session) await auth.signOut(request.actor, request.session.id);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/account',
    { schema: { tags: ['Account'], summary: 'The account and its settings', response: { 200: accountSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => accounts.getAccount(request.actor),
  );

  app.patch(
    '/account',
    {
      schema: {
        tags: ['Account'],
        summary: 'Change account settings (owner)',
        body: accountPatchSchema,
        response: { 200: accountSchema, ...errors(...STANDARD_ERRORS, 409) },
      },
    },
    async (request) => accounts.updateAccount(request.actor, request.body),
  );

  app.get(
    '/admins',
    {
      schema: {
        tags: ['Admins'],
        summary: 'List admins (owner)',
        querystring: z.strictObject(pageQuery),
        response: { 200: pageOf(adminSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const page = await accounts.listAdmins(request.actor, request.query);
      return { ...page, items: page.items.map(publicAdmin) };
    },
  );

  app.get(
    '/admins/:id',
    { schema: { tags: ['Admins'], summary: 'One admin (owner)', params: idParams, response: { 200: adminSchema, ...errors(...STANDARD_ERRORS) } } },
    async (request) => publicAdmin(await accounts.getAdmin(request.actor, request.params.id)),
  );

  app.post(
    '/admins',
    {
      schema: {
        tags: ['Admins'],
        summary: 'Add an admin (owner)',
        body: adminCreateSchema,
        response: { 201: adminSchema, ...errors(...STANDARD_ERRORS, 409) },
      },
    },
    async (request, reply) => reply.status(201).send(publicAdmin(await accounts.createAdmin(request.actor, request.body))),
  );

  app.patch(
    '/admins/:id',
    {
      schema: {
        tags: ['Admins'],
        summary: 'Change role, disable or enable, or reset the password (owner)',
        params: idParams,
        body: adminPatchSchema,
        response: { 200: adminSchema, ...errors(...STANDARD_ERRORS, 409) },
      },
    },
    async (request) => publicAdmin(await accounts.updateAdmin(request.actor, request.params.id, request.body)),
  );

  app.delete(
    '/admins/:id',
    {
      schema: { tags: ['Admins'], summary: 'Remove an admin (owner)', params: idParams, response: { 204: z.null(), ...errors(...STANDARD_ERRORS, 409) } },
    },
    async (request, reply) => {
      await accounts.deleteAdmin(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/tokens',
    {
      schema: {
        tags: ['API tokens'],
        summary: "List API tokens (an owner sees the account's, others their own)",
        querystring: z.strictObject(pageQuery),
        response: { 200: pageOf(tokenSchema), ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request) => {
      const page = await auth.listTokens(request.actor, request.query);
      return { ...page, items: page.items.map(publicToken) };
    },
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags: ['API tokens'],
        summary: "Create an API token carrying its creator's role; the secret is shown once",
        body: tokenCreateSchema,
        response: { 201: createdTokenSchema, ...errors(...STANDARD_ERRORS) },
      },
    },
    async (request, reply) => {
      const { accountId: _a, ...created } = await auth.createToken(request.actor, request.body);
      return reply.status(201).send(created);
    },
  );

  app.delete(
    '/tokens/:id',
    { schema: { tags: ['API tokens'], summary: 'Revoke an API token', params: idParams, response: { 204: z.null(), ...errors(...STANDARD_ERRORS) } } },
    async (request, reply) => {
      await auth.deleteToken(request.actor, request.params.id);
      return reply.status(204).send(null);
    },
  );
};
