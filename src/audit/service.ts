import { authorize, type Actor } from '../accounts/roles.js';
import type { PageRequest, Page } from '../core/paging.js';
import type { UnitOfWork } from '../stores.js';
import type { AuditEvent, AuditFilter } from './model.js';

export function createAuditService(deps: { uow: UnitOfWork }) {
  return {
    /** The account's audit events, newest first. Owner, admin and auditor. */
    async list(actor: Actor, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
      authorize(actor, 'audit.read');
      return deps.uow.inAccount(actor.accountId, (s) => s.audit.list(filter, page));
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
