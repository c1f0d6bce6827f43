import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { AccountService } from '../accounts/service.js';
import type { AuthService } from '../accounts/auth.js';
import type { AuditService } from '../audit/service.js';
import type { DirectoryService } from '../directory/service.js';
import { directoryRoutes } from '../directory/routes.js';
import multipart from '@fastify/multipart';
import type { JobService } from '../jobs/service.js';
import { jobRoutes } from '../jobs/routes.js';
import { enrollmentRoutes } from '../enrollments/routes.js';
import type { EnrollmentService } from '../enrollments/service.js';
import type { DeviceService } from '../devices/service.js';
import { deviceRoutes } from '../devices/routes.js';
import { checkinRoutes, type CheckinAuthenticator } from '../devices/checkin-routes.js';
import type { CheckinService } from '../devices/checkin.js';
import { scepRoutes } from '../apple/scep-routes.js';
import type { ScepServer } from '../apple/scep.js';
import { portalRoutes } from '../enrollments/portal-routes.js';
import type { PortalService } from '../enrollments/portal.js';
import { accountDrivenRoutes } from '../enrollments/account-driven-routes.js';
import type { AccountDrivenService } from '../enrollments/account-driven.js';
import type { OutboxService } from '../notify/service.js';
import { outboxRoutes } from '../notify/routes.js';
import { accountRoutes } from '../accounts/routes.js';
import { auditRoutes } from '../audit/routes.js';
import type { PushCertificateService } from '../apple/push/service.js';
import { pushCertificateRoutes } from '../apple/push/routes.js';
import { AppError } from '../errors.js';
import { authPlugin } from './auth.js';
import { sendError } from './errors.js';
import { systemRandom } from '../core/clock.js';

/** The use cases the HTTP layer calls; each feature's routes take their own. */
export interface AppServices {
  accounts: AccountService;
  auth: AuthService;
  audit: AuditService;
  directory: DirectoryService;
  jobs: JobService;
  notifications: OutboxService;
  enrollments: EnrollmentService;
  devices: DeviceService;
  pushCertificates: PushCertificateService;
  checkins: CheckinService;
  scep: ScepServer;
  deviceAuth: CheckinAuthenticator;
  portal: PortalService;
  accountDriven: AccountDrivenService;
}

export interface AppDeps {
  services: AppServices;
  publicUrl: string;
  trustedProxies: string[];
  /** PIPPIN_CLIENT_CERT_HEADER: the header a trusted proxy puts a device's TLS client certificate in. */
  clientCertHeader?: string;
  /** The built console (index.html and assets), served at / when present. */
  consoleDir?: string;
  logger?: boolean | object;
  /** JSON bodies larger than this are refused. */
  bodyLimit?: number;
  /** Where uploads are spooled, and their byte limit. */
  uploads: { dir: string; maxBytes: number };
}

export const JSON_BODY_LIMIT = 1024 * 1024;

/** Prefixes that never fall back to the console's index.html. */
const API_PREFIXES = ['/api', '/mdm', '/.well-known', '/a/', '/healthz', '/enroll'];

/** Builds the HTTP app without listening (tests call `app.inject`). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const consoleDir = deps.consoleDir && fs.existsSync(path.join(deps.consoleDir, 'index.html')) ? deps.consoleDir : undefined;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit ?? JSON_BODY_LIMIT,
    trustProxy: deps.trustedProxies.length ? deps.trustedProxies : false,
    genReqId: () => systemRandom.id(),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0]!;
    const wantsConsole =
      (request.method === 'GET' || request.method === 'HEAD') &&
      consoleDir &&
      !API_PREFIXES.some((p) => url === p || url.startsWith(p.endsWith('/') ? p : `${p}/`) || url === p);
    if (wantsConsole) return reply.type('text/html').sendFile('index.html', consoleDir);
    return sendError(new AppError('NOT_FOUND', `No route ${request.method} ${url}`), request, reply);
  });

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
    hsts: deps.publicUrl.startsWith('https:'),
  });
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Pippin API', version: '1', description: 'Device management for Apple User Enrollment. Errors share one body: { error: { code, message, details? }, requestId }.' },
      servers: [{ url: deps.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token (pip_…)' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'pippin_session', description: 'Console session; writes also send x-csrf-token' },
        },
      },
      security: [{ bearer: [] }, { cookie: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  await app.register(async (api) => {
    const { services } = deps;
    await api.register(authPlugin, { auth: services.auth });
    await api.register(accountRoutes, { accounts: services.accounts, auth: services.auth, secureCookies: deps.publicUrl.startsWith('https:') });
    await api.register(auditRoutes, { audit: services.audit });
    await api.register(multipart, { limits: { files: 1, fields: 5, fileSize: deps.uploads.maxBytes } });
    await api.register(directoryRoutes, { directory: services.directory, jobs: services.jobs, uploads: deps.uploads });
    await api.register(jobRoutes, { jobs: services.jobs });
    await api.register(enrollmentRoutes, { enrollments: services.enrollments, jobs: services.jobs, uploads: deps.uploads });
    await api.register(deviceRoutes, { devices: services.devices });
    await api.register(outboxRoutes, { outbox: services.notifications });
    await api.register(pushCertificateRoutes, { push: services.pushCertificates });
  }, { prefix: '/api/v1' });

  // The device-facing protocol, at fixed paths outside the API (they are baked into installed profiles).
  await app.register(scepRoutes, { scep: deps.services.scep });
  await app.register(portalRoutes, { portal: deps.services.portal });
  await app.register(accountDrivenRoutes, { accountDriven: deps.services.accountDriven });
  await app.register(checkinRoutes, {
    checkins: deps.services.checkins,
    auth: deps.services.deviceAuth,
    clientCertHeader: deps.clientCertHeader,
    trustedProxies: deps.trustedProxies,
    log: (message, fields) => app.log.info(fields, message),
  });

  if (consoleDir) {
    await app.register(fastifyStatic, { root: consoleDir, prefix: '/', wildcard: false, index: ['index.html'] });
  }
  return app;
}
