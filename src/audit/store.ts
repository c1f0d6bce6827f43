import type { Page, PageRequest } from '../core/paging.js';
import type { AuditEvent, AuditFilter } from './model.js';

/** The audit log of the bound account. There is no update and no delete. */
export interface AuditStore {
  append(event: AuditEvent): Promise<void>;
  /** Newest first, keyset-paged. */
  list(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>>;
}
