/**
 * The account-driven User Enrollment endpoints, at fixed paths: discovery
 * (`/.well-known/com.apple.remotemanagement`, and `/a/:accountKey/…` for organisations that
 * redirect their own domain's well-known URL here — a redirect drops the query string), the
 * device's `POST /mdm/enroll`, and the sign-in web view `GET|POST /mdm/authenticate`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { systemClock } from '../core/clock.js';
import { FailureLimit } from '../core/failure-limit.js';
import { bearerOf } from '../devices/checkin-routes.js';
import { AUTH_RESULT_URL, ENROL_MAX_BYTES, type AccountDrivenService, type AuthView } from './account-driven.js';
import { escapeHtml } from '../core/html.js';
import { credentialFields, credentialHint, failureAlert, page } from './portal-pages.js';
import { PORTAL_FAILURES_PER_MINUTE } from './portal-routes.js';

function renderAuth(view: Exclude<AuthView, { kind: 'redirect' }>, userIdentifier: string): { status: number; html: string } {
  if (view.kind === 'refused') {
    return {
      status: 403,
      html: page('Sign in to enrol', 'Device enrollment', `<div class="card"><h1>You cannot enrol this device yet</h1><p>There is no enrollment waiting for this account. Ask your IT team to send you a User Enrollment request, then try again.</p></div>`),
    };
  }
  if (view.kind === 'locked') {
    return { status: 403, html: page('Enrollment locked', view.accountName, `<div class="card"><h1>Too many attempts</h1><p>This enrollment request is locked after too many wrong attempts.</p><p>Contact your IT team: they can send you a new request.</p></div>`) };
  }
  return {
    status: view.error ? 401 : 200,
    html: page(
      'Sign in to enrol',
      view.accountName,
      `<div class="card"><h1>Sign in to enrol</h1><p>You are enrolling this device for <b class="value">${escapeHtml(view.managedAppleId)}</b> with User Enrollment: ${escapeHtml(view.accountName)} will manage only its work apps and data.</p>
${failureAlert(view.error, view.attemptsLeft)}<form method="post" action="/mdm/authenticate?user-identifier=${encodeURIComponent(userIdentifier)}">${credentialFields(view.local)}<button type="submit">Sign in</button></form>
${credentialHint(view.local)}</div>`,
    ),
  };
}

/** The scheme of the sign-in's result URL, as a CSP source. */
const AUTH_RESULT_SCHEME = new URL(AUTH_RESULT_URL).protocol;

export const accountDrivenRoutes: FastifyPluginAsync<{ accountDriven: AccountDrivenService; limit?: FailureLimit }> = async (app, opts) => {
  const svc = opts.accountDriven;
  const limit = opts.limit ?? new FailureLimit(systemClock, { max: PORTAL_FAILURES_PER_MINUTE, windowMs: 60_000 });
  app.removeAllContentTypeParsers();
  // The enrol body is bytes whatever its Content-Type (devices send pkcs7-signature, xml, even form types).
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ENROL_MAX_BYTES }, (req, body, done) => {
    if (req.url.startsWith('/mdm/authenticate')) return done(null, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    done(null, body);
  });
  app.setErrorHandler((_err, _request, reply) => reply.status(400).send());

  const discovery = async (reply: FastifyReply, q: { userIdentifier?: string; accountKey?: string }, ip: string) => {
    const d = await svc.discover(q, ip);
    // A refused discovery belongs to no account, so it is in the server log rather than an account's audit log.
    if (d.status !== 200) reply.log.info({ domain: q.userIdentifier?.split('@').pop() ?? null, accountKey: q.accountKey ?? null, outcome: 'com.apple.well-known.failed' }, 'account-driven discovery refused');
    return reply.status(d.status).header('cache-control', 'no-store').type('application/json').send(d.body);
  };
  app.get<{ Querystring: Record<string, string | undefined> }>('/.well-known/com.apple.remotemanagement', { schema: { hide: true } }, async (request, reply) =>
    discovery(reply, { userIdentifier: request.query['user-identifier'] }, request.ip),
  );
  app.get<{ Params: { accountKey: string } }>('/a/:accountKey/.well-known/com.apple.remotemanagement', { schema: { hide: true } }, async (request, reply) =>
    discovery(reply, { accountKey: request.params.accountKey }, request.ip),
  );

  app.post('/mdm/enroll', { schema: { hide: true } }, async (request, reply) => {
    const out = await svc.enrol(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0), bearerOf(request), request.ip);
    if (out.status === 200) return reply.status(200).header('cache-control', 'no-store').type('application/x-apple-aspen-config').send(out.profile);
    if (out.status === 401) {
      // The challenge names no account yet (the token does), so it is logged here rather than audited.
      request.log.info({ bearer: !!bearerOf(request) }, 'enrol challenged: web authentication required');
      return reply.status(401).header('www-authenticate', out.wwwAuthenticate).send();
    }
    request.log.info({ reason: out.reason }, 'enrol refused');
    return reply.status(400).send();
  });

  const show = (reply: FastifyReply, view: AuthView, userIdentifier: string) => {
    // The sign-in form's POST answers 308 to the custom scheme: a CSP of form-action 'self' (helmet's
    // default) makes the web view block that redirect, so the page's form may also go there.
    const csp = reply.getHeader('content-security-policy');
    if (typeof csp === 'string') reply.header('content-security-policy', csp.replace("form-action 'self'", `form-action 'self' ${AUTH_RESULT_SCHEME}`));
    if (view.kind === 'redirect') return reply.status(308).header('cache-control', 'no-store').header('location', view.location).send();
    const { status, html } = renderAuth(view, userIdentifier);
    return reply.status(status).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8').send(html);
  };
  const limited = (request: FastifyRequest, reply: FastifyReply) => {
    const wait = limit.retryAfter(request.ip);
    if (!wait) return false;
    reply.status(429).header('retry-after', String(wait)).type('text/plain; charset=utf-8').send('Too many attempts from your network. Try again in a minute.');
    return true;
  };
  const identifier = (request: FastifyRequest) => String((request.query as Record<string, unknown>)['user-identifier'] ?? '').slice(0, 320);

  app.get('/mdm/authenticate', { schema: { hide: true } }, async (request, reply) => {
    if (limited(request, reply)) return reply;
    const id = identifier(request);
    const view = await svc.authPage(id);
    if (view.kind === 'refused') limit.failed(request.ip);
    return show(reply, view, id);
  });
  app.post('/mdm/authenticate', { schema: { hide: true } }, async (request, reply) => {
    if (limited(request, reply)) return reply;
    const id = identifier(request);
    const body = (request.body && typeof request.body === 'object' && !Buffer.isBuffer(request.body) ? request.body : {}) as Record<string, unknown>;
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string).slice(0, 500) : undefined);
    const view = await svc.authenticate(id, { passcode: str('passcode'), username: str('username'), password: str('password') }, request.ip);
    if (view.failed) limit.failed(request.ip);
    return show(reply, view, id);
  });
};
