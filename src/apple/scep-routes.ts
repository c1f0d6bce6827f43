/**
 * `GET|POST /mdm/scep`: the SCEP endpoint (register at the root, not under /api/v1: the path is
 * baked into installed profiles). Bodies of any content type are read raw (clients send
 * application/octet-stream or application/x-pki-message); the query string is parsed here so that a
 * `+` in a GET message stays a `+`. Clients treat any status ≥ 400 as fatal, so failures a client
 * can read are CertReps with status 200; 400 only where no CertRep can be formed.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ScepBadRequest, type ScepOutcome, type ScepServer } from './scep.js';

export const SCEP_PATH = '/mdm/scep';
export const SCEP_BODY_LIMIT = 256 * 1024;

export interface ScepRoutesOptions {
  scep: ScepServer;
  bodyLimit?: number;
  /** Told of every PKIOperation's outcome (logs, metrics); the redeemer records issuance itself. */
  onOutcome?: (outcome: ScepOutcome, request: FastifyRequest) => void;
}

/** The raw query string as name → value, percent-decoding only (`+` is kept). Repeated names: the first wins. */
export function rawQuery(url: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return out;
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1)));
  }
  return out;
}

export const scepRoutes: FastifyPluginAsync<ScepRoutesOptions> = async (app, opts) => {
  const bodyLimit = opts.bodyLimit ?? SCEP_BODY_LIMIT;
  // This plugin's own context: every body is bytes, whatever its Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  const bad = (reply: FastifyReply, message: string) => reply.code(400).type('text/plain; charset=utf-8').send(`${message}\n`);

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    let query: Map<string, string>;
    try {
      query = rawQuery(request.raw.url ?? '');
    } catch {
      return bad(reply, 'Malformed query string');
    }
    const operation = query.get('operation');
    if (operation === 'GetCACaps') return reply.type('text/plain; charset=utf-8').send(opts.scep.caps());
    if (operation === 'GetCACert') {
      const { contentType, body } = await opts.scep.caCert();
      return reply.type(contentType).send(body);
    }
    if (operation !== 'PKIOperation') return bad(reply, 'Unknown or missing operation');
    let message: Buffer;
    if (request.method === 'POST') {
      message = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    } else {
      const b64 = (query.get('message') ?? '').replace(/\s+/g, '');
      if (b64.length > (bodyLimit * 4) / 3 + 4) return bad(reply, 'Message too large');
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) return bad(reply, 'The message is not base64');
      message = Buffer.from(b64, 'base64');
    }
    if (message.length === 0) return bad(reply, 'No message');
    try {
      const { reply: certRep, outcome } = await opts.scep.pkiOperation(message);
      opts.onOutcome?.(outcome, request);
      return reply.type('application/x-pki-message').send(certRep);
    } catch (e) {
      if (e instanceof ScepBadRequest) return bad(reply, e.message);
      throw e;
    }
  };

  app.get(SCEP_PATH, { schema: { hide: true } }, handle);
  app.post(SCEP_PATH, { schema: { hide: true }, bodyLimit }, handle);
};
