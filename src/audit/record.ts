import type { Actor } from '../accounts/roles.js';
import type { Clock, Random } from '../core/clock.js';
import { maskSecrets, type AuditEvent } from './model.js';

export interface AuditInput {
  action: string;
  objectType?: string;
  objectId?: string | null;
  before?: object | null;
  after?: object | null;
}

/** Builds the audit event for an actor's action, secrets masked. */
export function auditEvent(actor: Actor, input: AuditInput, clock: Clock, random: Random): AuditEvent {
  return {
    id: random.id(),
    at: clock.now().toISOString(),
    actor: {
      type: actor.kind,
      id: actor.kind === 'token' ? (actor.tokenId ?? null) : actor.adminId,
      label: actor.label,
    },
    ip: actor.ip,
    action: input.action,
    objectType: input.objectType ?? null,
    objectId: input.objectId ?? null,
    before: input.before ? maskSecrets({ ...input.before }) : null,
    after: input.after ? maskSecrets({ ...input.after }) : null,
    requestId: actor.requestId,
  };
}
