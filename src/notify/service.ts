import { authorize, type Actor } from '../accounts/roles.js';
import type { UnitOfWork } from '../stores.js';
import type { OutboxSummary } from './store.js';

/** What admins may ask of the outbox: figures for the Enrollments page. */
export function createOutboxService(deps: { uow: UnitOfWork }) {
  return {
    /** Exact counts of the account's messages (of one kind when given); readable by every role that reads requests. */
    async summary(actor: Actor, filter: { kind?: string } = {}): Promise<OutboxSummary> {
      authorize(actor, 'requests.read');
      return deps.uow.inAccount(actor.accountId, (s) => s.outbox.summary(filter));
    },
  };
}

export type OutboxService = ReturnType<typeof createOutboxService>;
