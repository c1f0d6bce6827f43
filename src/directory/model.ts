/** Users of the directory, in domain words. */
import { normaliseKey } from '../core/names.js';

export const AUTH_TYPES = ['local', 'corporate', 'saml'] as const;
export const USER_STATUSES = ['active', 'disabled'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];
export type UserStatus = (typeof USER_STATUSES)[number];

export interface User {
  id: string;
  username: string;
  domain: string;
  email: string;
  fullName: string;
  phone: string;
  groups: string[];
  authType: AuthType;
  managedAppleId: string | null;
  status: UserStatus;
  /** Enrolled devices. */
  devices: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * A user's values in the export's column order (`USER_EXPORT_COLUMNS`), not yet written as text:
 * what an export reads a million of, without making a million objects.
 */
export type UserTuple = [
  username: string,
  domain: string,
  email: string,
  fullName: string,
  phone: string,
  groups: string[],
  authType: AuthType,
  managedAppleId: string | null,
  id: string,
  status: UserStatus,
  createdAt: string,
  updatedAt: string,
  devices: number,
];

/** One limit per field, used by the API schema, the service, the import and the console alike. */
export const USER_LIMITS = {
  usernameMax: 128,
  emailMax: 254,
  fullNameMax: 200,
  phoneMax: 40,
  groupMax: 100,
  groupsMax: 50,
  passwordMin: 8,
  passwordMax: 200,
} as const;

/** Digits, spaces, + - ( ) . and an optional extension ("x 12", "ext. 12"). */
export const PHONE_PATTERN = /^\+?[0-9 ()\-.]*[0-9][0-9 ()\-.]*(?:\s*(?:x|ext\.?|extension)\s*[0-9]{1,6})?$/i;
export const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;
/** Usernames: printable, no white space at either end, no control characters. */
export const USERNAME_PATTERN = /^[^\s\p{C}](?:[^\p{C}]*[^\s\p{C}])?$/u;

/** A user's key (Username and Domain, compared case-insensitively) as one string, for maps and sets. */
export const userKey = (username: string, domain: string) => `${normaliseKey(username)}\u0000${normaliseKey(domain)}`;

export type UserSort = 'username' | 'fullName' | 'email' | 'managedAppleId' | 'createdAt';
export const USER_SORTS: UserSort[] = ['username', 'fullName', 'email', 'managedAppleId', 'createdAt'];

export interface UserListQuery {
  /** Case-insensitive prefix of the username, email, MAID or any word of the full name; several words must all match. */
  q?: string;
  managedAppleId?: 'present' | 'missing';
  sort?: UserSort;
  descending?: boolean;
}

export interface UserSummary {
  total: number;
  managedAppleIdLinked: number;
  managedAppleIdMissing: number;
}

const WORD_BREAK = /[\s,.;:()"/\\_-]+/u;

/**
 * The parts of a split name that are words (not empty) other than `skip`, each once, in order,
 * kept in the array the split made. A re-import splits two names a row: a name of a few words is
 * checked for repeats by a scan rather than through a Set and more arrays.
 */
function keptWords(parts: string[], skip: string): string[] {
  if (parts.length > 8) return [...new Set(parts)].filter((w) => w.length > 0 && w !== skip);
  let n = 0;
  next: for (const w of parts) {
    if (w.length === 0 || w === skip) continue;
    for (let j = 0; j < n; j++) if (parts[j] === w) continue next;
    parts[n++] = w;
  }
  parts.length = n;
  return parts;
}

/** The lower-cased words of a full name, for prefix search (punctuation splits words; duplicates dropped). */
export function nameWords(fullName: string): string[] {
  return keptWords(normaliseKey(fullName).split(WORD_BREAK), '');
}

/**
 * The words kept as name-word rows: every word but a leading one, because a prefix of the leading
 * word is a prefix of the whole name, which the full-name index already answers. (Half the rows for
 * two-word names, and the rows, not the parsing, set what an import costs.)
 */
export function indexedNameWords(fullName: string): string[] {
  const parts = normaliseKey(fullName).split(WORD_BREAK);
  // The name starts with a word unless its first part is empty (it starts with a break).
  return keptWords(parts, parts[0]!);
}

/** The search terms of a query string: normalised words. */
export function searchTerms(q: string | undefined): string[] {
  if (!q) return [];
  return [...new Set(normaliseKey(q).split(/\s+/u).filter(Boolean))].slice(0, 5);
}

export interface Warning {
  code: string;
  message: string;
}
