/**
 * How a check-in proves its identity certificate, for `devices/checkin-routes.ts`: the
 * `Mdm-Signature` header verified natively against Pippin's CA, or a client certificate passed by
 * a trusted TLS-terminating proxy (PEM, possibly URL-encoded), which must also be one our CA issued.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { CheckinAuthenticator } from '../devices/checkin-routes.js';
import type { Pki } from './ca.js';
import { cachedCert, verifyDetached } from './cms.js';

export function deviceAuthenticator(deps: { pki: Pki; clock: Clock }): CheckinAuthenticator {
  return {
    async fromSignature(body, signature) {
      const ca = await deps.pki.ca();
      const v = verifyDetached(body, signature, { trust: ca, at: deps.clock.now() });
      return v.ok ? { ok: true, certHash: v.certHash } : { ok: false, reason: `Mdm-Signature: ${v.reason}` };
    },
    async fromClientCertificate(header) {
      const ca = await deps.pki.ca();
      let pem = header.trim();
      if (pem.includes('%')) {
        try {
          pem = decodeURIComponent(pem);
        } catch {
          return { ok: false, reason: 'client certificate: not URL-encoded PEM' };
        }
      }
      const body = pem.match(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/)?.[1];
      if (!body) return { ok: false, reason: 'client certificate: no PEM certificate' };
      try {
        const c = cachedCert(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
        if (!ca.issued(c.cert as X509Certificate, deps.clock.now())) return { ok: false, reason: 'client certificate: not issued by this CA, or expired' };
        return { ok: true, certHash: c.hash };
      } catch {
        return { ok: false, reason: 'client certificate: unreadable' };
      }
    },
  };
}
