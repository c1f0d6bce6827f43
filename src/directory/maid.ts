import { domainNameProblem } from '../core/names.js';

/**
 * DESIGN.md's "A valid Managed Apple ID", as a pure function. Syntax only: whether the domain is
 * one of the account's and whether another user holds the MAID are the service's to check.
 */
export type MaidCheck = { ok: true; value: string } | { ok: false; reason: string };

export const MAID_MAX = 254;
export const MAID_LOCAL_MAX = 64;

const FORBIDDEN_LOCAL = /[@"(),:;<>[\\\]]/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

export function checkManagedAppleId(raw: string): MaidCheck {
  const value = raw.trim();
  if (value.length === 0) return { ok: false, reason: 'it is empty' };
  const at = value.lastIndexOf('@');
  if (at < 0) return { ok: false, reason: 'it has no @' };
  if (value.length > MAID_MAX) return { ok: false, reason: `it is longer than ${MAID_MAX} characters` };
  const local = value.slice(0, at);
  const domain = value.slice(at + 1).toLowerCase();
  if (local.length === 0) return { ok: false, reason: 'the part before @ is empty' };
  if (local.length > MAID_LOCAL_MAX) return { ok: false, reason: `the part before @ is longer than ${MAID_LOCAL_MAX} characters` };
  if (/\s/.test(local)) return { ok: false, reason: 'the part before @ contains white space' };
  if (!PRINTABLE_ASCII.test(local)) return { ok: false, reason: 'the part before @ has characters other than printable ASCII' };
  if (FORBIDDEN_LOCAL.test(local)) return { ok: false, reason: 'the part before @ contains one of @ " ( ) , : ; < > [ \\ ]' };
  if (local.startsWith('.') || local.endsWith('.')) return { ok: false, reason: 'the part before @ starts or ends with a dot' };
  if (local.includes('..')) return { ok: false, reason: 'the part before @ has two dots in a row' };
  if (domain.length === 0) return { ok: false, reason: 'the domain is empty' };
  const problem = domainNameProblem(domain, { fullyQualified: true });
  if (problem) return { ok: false, reason: `the domain ${problem}` };
  return { ok: true, value: `${local}@${domain}`.toLowerCase() };
}

/** The domain of a valid, normalised MAID. */
export function maidDomain(maid: string): string {
  return maid.slice(maid.lastIndexOf('@') + 1);
}

export type MaidVerdict =
  | { ok: true; value: string }
  | { ok: false; code: 'MAID_INVALID' | 'MAID_DOMAIN_NOT_ALLOWED'; message: string };

/**
 * Syntax first, then the account's MAID domains (when it lists any): one code per value. Used by
 * the API, the console and every import row alike.
 */
export function validateManagedAppleId(raw: string, allowedDomains: readonly string[]): MaidVerdict {
  const checked = checkManagedAppleId(raw);
  if (!checked.ok) return { ok: false, code: 'MAID_INVALID', message: `Managed Apple ID is not valid: ${checked.reason}` };
  const domain = maidDomain(checked.value);
  if (allowedDomains.length > 0 && !allowedDomains.includes(domain)) {
    return {
      ok: false,
      code: 'MAID_DOMAIN_NOT_ALLOWED',
      message: `Managed Apple ID domain ${domain} is not one of the account's (${allowedDomains.join(', ')})`,
    };
  }
  return checked;
}

export const MAID_EXISTS_MESSAGE = 'Managed Apple ID already exists';
