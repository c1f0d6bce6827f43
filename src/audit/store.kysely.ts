import type { Tx } from '../db/database.js';
import type { AuditEventRow } from '../db/schema.js';
import { cappedCount, toPage, TOTAL_CAP } from '../db/query.js';
import { LIMIT_DEFAULT, decodeCursor } from '../core/paging.js';
import { normaliseKey } from '../core/names.js';
import type { AuditEvent, AuditFilter } from './model.js';
import type { AuditStore } from './store.js';

function toEvent(r: AuditEventRow): AuditEvent {
  return {
    id: r.id,
    at: r.at,
    actor: { type: r.actor_type as AuditEvent['actor']['type'], id: r.actor_id, label: r.actor_label },
    ip: r.ip,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    before: r.before_json ? JSON.parse(r.before_json) : null,
    after: r.after_json ? JSON.parse(r.after_json) : null,
    requestId: r.request_id,
  };
}

export function auditStore(tx: Tx, accountId: string): AuditStore {
  const filtered = (f: AuditFilter) => {
    let q = tx.selectFrom('audit_events').where('account_id', '=', accountId);
    if (f.action) q = q.where('action', '=', f.action);
    if (f.objectType) q = q.where('object_type', '=', f.objectType);
    if (f.objectId) q = q.where('object_id', '=', f.objectId);
    if (f.from) q = q.where('at', '>=', f.from);
    if (f.to) q = q.where('at', '<=', f.to);
    if (f.actor) {
      const actor = f.actor;
      q = q.where((eb) => eb.or([eb('actor_id', '=', actor), eb('actor_label', '=', normaliseKey(actor))]));
    }
    return q;
  };
  return {
    async append(e) {
      await tx
        .insertInto('audit_events')
        .values({
          id: e.id,
          account_id: accountId,
          at: e.at,
          actor_type: e.actor.type,
          actor_id: e.actor.id,
          actor_label: e.actor.label,
          ip: e.ip,
          action: e.action,
          object_type: e.objectType,
          object_id: e.objectId,
          before_json: e.before ? JSON.stringify(e.before) : null,
          after_json: e.after ? JSON.stringify(e.after) : null,
          request_id: e.requestId,
        })
        .execute();
    },
    async list(f, page) {
      const limit = page.limit ?? LIMIT_DEFAULT;
      let q = filtered(f).selectAll();
      if (page.cursor) {
        const [at, id] = decodeCursor(page.cursor, ['instant', 'id']) as [string, string];
        q = q.where((eb) => eb.or([eb('at', '<', at), eb.and([eb('at', '=', at), eb('id', '<', id)])]));
      }
      const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
      const counted = await cappedCount(tx, filtered(f).select('id').limit(TOTAL_CAP + 1));
      return toPage(rows, limit, (r) => [r.at, r.id], toEvent, counted);
    },
  };
}
