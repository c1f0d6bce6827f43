/**
 * The device-facing MDM endpoints, at the root: `PUT /mdm/checkin` and `PUT /mdm/connect`. A
 * device is authenticated by its `Mdm-Signature` header (detached CMS over the body) or by a TLS
 * client certificate that a trusted proxy passes in PIPPIN_CLIENT_CERT_HEADER; the plist is then
 * read with the hardened parser. Devices get status codes and empty bodies: 400 for anything
 * wrong — signature, certificate, binding, size or message — never a bare 401. Browser security
 * headers (helmet) and per-request log lines are left off these two: devices read no such headers,
 * a fleet checks in constantly, and refusals are logged on their own.
 */
import net from 'node:net';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { parsePlist, PlistError, type PlistDict } from '../apple/plist.js';
import { readCheckin } from './model.js';
import type { CheckinOutcome, CheckinService } from './checkin.js';

/** Check-in bodies larger than this are refused before they are read. */
export const CHECKIN_MAX_BYTES = 1024 * 1024;

/** How a request proves which identity certificate it holds. */
export interface CheckinAuthenticator {
  /** From the `Mdm-Signature` header over the body. */
  fromSignature(body: Buffer, signatureBase64: string): Promise<{ ok: true; certHash: string } | { ok: false; reason: string }>;
  /** From a PEM (or URL-encoded PEM) client certificate a trusted proxy passed on. */
  fromClientCertificate(pem: string): Promise<{ ok: true; certHash: string } | { ok: false; reason: string }>;
}

/** True when `ip` is one of the trusted proxies (addresses or CIDR ranges, IPv4 or IPv6). */
export function trustedPeer(trusted: readonly string[]): (ip: string | undefined) => boolean {
  const list = new net.BlockList();
  for (const t of trusted) {
    const [addr, bits] = t.split('/');
    const type = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
    if (bits) list.addSubnet(addr!, Number(bits), type);
    else list.addAddress(addr!, type);
  }
  return (ip) => {
    if (!ip) return false;
    const plain = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
    return list.check(plain, net.isIPv6(plain) ? 'ipv6' : 'ipv4');
  };
}

/** The access token of an account-driven enrolment, from `Authorization: Bearer …`. */
export function bearerOf(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1];
}

export const checkinRoutes: FastifyPluginAsync<{
  checkins: CheckinService;
  auth: CheckinAuthenticator;
  clientCertHeader?: string;
  trustedProxies: readonly string[];
  log?: (message: string, fields: object) => void;
}> = async (app, opts) => {
  const fromTrustedProxy = trustedPeer(opts.trustedProxies);
  // Whatever the Content-Type, the body is read as bytes (up to the limit) and parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: CHECKIN_MAX_BYTES }, (_req, body, done) => done(null, body));
  // Too large, malformed, anything: a device gets 400 with an empty body.
  app.setErrorHandler((err, request, reply) => {
    opts.log?.('device request refused', { url: request.url, error: (err as Error).message });
    return reply.status(400).send();
  });

  const answer = (reply: FastifyReply, outcome: CheckinOutcome, request: FastifyRequest) => {
    if (outcome.status === 200) return reply.status(200).send();
    opts.log?.('device request refused', { url: request.url, status: outcome.status, reason: outcome.reason });
    if (outcome.status === 403) return reply.status(403).type('application/json').send({ code: 'com.apple.unrecognized.device' });
    return reply.status(400).send();
  };

  /** The identity certificate's hash, and the message dict; or why the request is refused. */
  async function read(request: FastifyRequest): Promise<{ certHash: string; dict: PlistDict; raw: string } | { reason: string }> {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (!body.length) return { reason: 'empty body' };
    const signature = request.headers['mdm-signature'];
    const header = opts.clientCertHeader?.toLowerCase();
    const clientCert = header ? request.headers[header] : undefined;
    let auth: { ok: true; certHash: string } | { ok: false; reason: string };
    if (typeof signature === 'string' && signature) auth = await opts.auth.fromSignature(body, signature);
    else if (typeof clientCert === 'string' && clientCert && fromTrustedProxy(request.socket.remoteAddress)) auth = await opts.auth.fromClientCertificate(clientCert);
    else return { reason: 'no Mdm-Signature and no client certificate from a trusted proxy' };
    if (!auth.ok) return { reason: auth.reason };
    try {
      const value = parsePlist(body, { maxBytes: CHECKIN_MAX_BYTES });
      if (!value || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value) || value instanceof Date) return { reason: 'the plist is not a dict' };
      return { certHash: auth.certHash, dict: value as PlistDict, raw: body.toString('utf8') };
    } catch (e) {
      if (e instanceof PlistError) return { reason: `plist: ${e.message}` };
      throw e;
    }
  }

  app.put('/mdm/checkin', { schema: { hide: true }, helmet: false, logLevel: 'warn' }, async (request, reply) => {
    const r = await read(request);
    if ('reason' in r) return answer(reply, { status: 400, reason: r.reason }, request);
    const msg = readCheckin(r.dict as Record<string, unknown>);
    if (!msg) return answer(reply, { status: 400, reason: 'no MessageType' }, request);
    return answer(reply, await opts.checkins.checkin(r.certHash, msg, r.raw, request.ip, bearerOf(request)), request);
  });

  app.put('/mdm/connect', { schema: { hide: true }, helmet: false, logLevel: 'warn' }, async (request, reply) => {
    const r = await read(request);
    if ('reason' in r) return answer(reply, { status: 400, reason: r.reason }, request);
    const status = typeof r.dict.Status === 'string' ? r.dict.Status : undefined;
    return answer(reply, await opts.checkins.connect(r.certHash, status, bearerOf(request)), request);
  });
};
