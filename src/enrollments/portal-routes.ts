/**
 * The employee portal's routes, at the root (`/enroll/:token`): HTML forms, no JavaScript needed.
 * Failures (unknown links, wrong passcodes) are limited per IP address — 30 a minute, then 429 with
 * Retry-After — while successful enrolments from one address (a NAT) are not limited.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { systemClock } from '../core/clock.js';
import { FailureLimit } from '../core/failure-limit.js';
import type { PortalService, PortalView } from './portal.js';
import { renderPortal } from './portal-pages.js';

export const PORTAL_FAILURES_PER_MINUTE = 30;

export const portalRoutes: FastifyPluginAsync<{ portal: PortalService; limit?: FailureLimit }> = async (app, opts) => {
  const limit = opts.limit ?? new FailureLimit(systemClock, { max: PORTAL_FAILURES_PER_MINUTE, windowMs: 60_000 });
  // The sign-in and download forms post url-encoded fields; nothing else is accepted here.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const show = (reply: FastifyReply, view: PortalView, token: string, userAgent?: string) => {
    const { status, html } = renderPortal(view, `/enroll/${encodeURIComponent(token)}`, { userAgent });
    return reply.status(status).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8').send(html);
  };
  const limited = (reply: FastifyReply, ip: string) => {
    const wait = limit.retryAfter(ip);
    if (!wait) return false;
    reply.status(429).header('retry-after', String(wait)).type('text/plain; charset=utf-8').send('Too many attempts from your network. Try again in a minute.');
    return true;
  };
  const field = (body: unknown, name: string) => {
    const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
    return typeof v === 'string' ? v.slice(0, 500) : undefined;
  };

  app.get<{ Params: { token: string } }>('/enroll/:token', { schema: { hide: true } }, async (request, reply) => {
    if (limited(reply, request.ip)) return reply;
    const view = await opts.portal.open(request.params.token, request.ip);
    if (view.kind === 'invalid') limit.failed(request.ip);
    return show(reply, view, request.params.token, request.headers['user-agent']);
  });

  app.post<{ Params: { token: string } }>('/enroll/:token', { schema: { hide: true } }, async (request, reply) => {
    if (limited(reply, request.ip)) return reply;
    const body = request.body;
    const view = await opts.portal.signIn(request.params.token, { passcode: field(body, 'passcode'), username: field(body, 'username'), password: field(body, 'password') }, request.ip);
    if (view.failed) limit.failed(request.ip);
    return show(reply, view, request.params.token);
  });

  app.post<{ Params: { token: string } }>('/enroll/:token/profile', { schema: { hide: true } }, async (request, reply) => {
    if (limited(reply, request.ip)) return reply;
    const out = await opts.portal.profile(request.params.token, field(request.body, 'ticket') ?? '', request.ip);
    if ('profile' in out) {
      return reply
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="${out.fileName}"`)
        .type('application/x-apple-aspen-config')
        .send(out.profile);
    }
    if (out.kind === 'invalid') limit.failed(request.ip);
    return show(reply, out, request.params.token);
  });
};
