import { AppError } from '../errors.js';
import type { Role } from './model.js';

/**
 * Who is acting. Services take an Actor and check it themselves (routes only authenticate), so a
 * role is enforced the same way from the API, the console and the CLI.
 */
export interface Actor {
  kind: 'admin' | 'token' | 'system';
  accountId: string;
  /** The admin acting, or the admin who created the token. Null for system (operator) actors. */
  adminId: string | null;
  /** Shown in the audit log: the admin's email, "token NAME (email)", or "operator". */
  label: string;
  role: Role;
  tokenId?: string;
  ip: string | null;
  requestId: string | null;
}

export type Permission =
  | 'account.read'
  | 'account.update'
  | 'admins.manage'
  | 'tokens.own'
  | 'tokens.all'
  | 'audit.read'
  | 'users.read'
  | 'users.write'
  | 'users.export'
  | 'requests.read'
  | 'requests.single'
  | 'requests.bulk'
  | 'devices.read'
  | 'jobs.read'
  | 'apple.manage';

/** DESIGN.md's four roles. */
const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set<Permission>([
    'account.read', 'account.update', 'admins.manage', 'tokens.own', 'tokens.all', 'audit.read',
    'users.read', 'users.write', 'users.export', 'requests.read', 'requests.single', 'requests.bulk',
    'devices.read', 'jobs.read', 'apple.manage',
  ]),
  admin: new Set<Permission>([
    'account.read', 'tokens.own', 'audit.read', 'users.read', 'users.write', 'users.export',
    'requests.read', 'requests.single', 'requests.bulk', 'devices.read', 'jobs.read',
  ]),
  helpdesk: new Set<Permission>(['account.read', 'tokens.own', 'users.read', 'requests.read', 'requests.single', 'devices.read']),
  auditor: new Set<Permission>(['account.read', 'tokens.own', 'audit.read', 'users.read', 'requests.read', 'devices.read', 'jobs.read']),
};

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(permission);
}

/** Throws FORBIDDEN unless the actor's role grants the permission. */
export function authorize(actor: Actor, permission: Permission): void {
  if (!can(actor.role, permission)) {
    throw AppError.forbidden(`The ${actor.role} role does not allow this (${permission})`);
  }
}
