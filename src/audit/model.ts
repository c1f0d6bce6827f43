/** The append-only audit log, in domain words. */

export type ActorType = 'admin' | 'token' | 'system' | 'device';

export interface AuditEvent {
  id: string;
  at: string;
  actor: { type: ActorType; id: string | null; label: string };
  ip: string | null;
  action: string;
  objectType: string | null;
  objectId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
}

export interface AuditFilter {
  /** An admin id or email, or a token id. */
  actor?: string;
  action?: string;
  objectType?: string;
  objectId?: string;
  from?: string;
  to?: string;
}

const SECRET_KEYS = new Set([
  'password', 'passwordhash', 'password_hash', 'token', 'secret', 'secrethash', 'secret_hash', 'passcode',
  'csrftoken', 'privatekey', 'accesstoken', 'challenge', 'url',
]);

export const MASK = '••••••';

/** A deep copy with every secret-bearing field replaced by a mask. */
export function maskSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEYS.has(k.toLowerCase()) && v !== null && v !== undefined ? MASK : maskSecrets(v);
    }
    return out as T;
  }
  return value;
}
