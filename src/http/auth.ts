import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import type { Actor } from '../accounts/roles.js';
import type { AuthService, RequestContext } from '../accounts/auth.js';

export const SESSION_COOKIE = 'pippin_session';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set for every authenticated route. */
    actor: Actor;
    /** The cookie session behind the actor, when it is one. */
    session: { id: string; csrfToken: string } | null;
  }
  interface FastifyContextConfig {
    /** The route needs no signed-in caller. */
    public?: boolean;
  }
}

export function requestContext(request: FastifyRequest): RequestContext {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua : null, requestId: String(request.id) };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Resolves the caller of every /api route that is not public: a Bearer API token (no CSRF), or the
 * session cookie, whose writes must carry `x-csrf-token`.
 */
export const authPlugin = fp(async (app: FastifyInstance, opts: { auth: AuthService }) => {
  app.decorateRequest('actor', null as unknown as Actor);
  app.decorateRequest('session', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public || !request.url.startsWith('/api/')) return;
    const ctx = requestContext(request);
    const authz = request.headers.authorization;
    if (authz) {
      const m = /^Bearer\s+(\S+)$/i.exec(authz);
      const actor = m ? await opts.auth.resolveToken(m[1]!, ctx) : null;
      if (!actor) throw new AppError('UNAUTHENTICATED', 'The API token is not valid');
      request.actor = actor;
      return;
    }
    const cookie = request.cookies[SESSION_COOKIE];
    const resolved = cookie ? await opts.auth.resolveSession(cookie, ctx) : null;
    if (!resolved) throw new AppError('UNAUTHENTICATED', 'Sign in first');
    request.actor = resolved.actor;
    request.session = { id: resolved.sessionId, csrfToken: resolved.csrfToken };
    if (!SAFE_METHODS.has(request.method)) {
      const sent = request.headers['x-csrf-token'];
      if (typeof sent !== 'string' || !sameString(sent, resolved.csrfToken)) {
        throw AppError.forbidden('Missing or invalid x-csrf-token header');
      }
    }
  });
});
