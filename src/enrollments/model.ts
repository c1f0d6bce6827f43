/**
 * Enrollment requests in domain words: the vocabularies of DESIGN.md ("Words", "Bulk Add enrollment
 * requests") and their parsers. Pure; no I/O. Stored and API values are the lower-case ones
 * (`employee_owned`); the labels are what files and the console show.
 */
import type { AuthMode, RequestMode } from '../accounts/model.js';

export { AUTH_MODES, DEPLOYMENT_MODES, REQUEST_MODES, type AuthMode, type DeploymentMode, type RequestMode } from '../accounts/model.js';

/** Platforms Pippin enrols. */
export const PLATFORMS = ['ios', 'macos'] as const;
export type Platform = (typeof PLATFORMS)[number];
/** Platforms a file or a client may name: Pippin's, plus the ones it recognises but refuses (`PLATFORM_NOT_SUPPORTED`). */
export const NAMED_PLATFORMS = ['ios', 'macos', 'android', 'windows'] as const;
export type NamedPlatform = (typeof NAMED_PLATFORMS)[number];

export function isSupportedPlatform(p: NamedPlatform): p is Platform {
  return p === 'ios' || p === 'macos';
}

export const PLATFORM_LABELS: Record<NamedPlatform, string> = { ios: 'iOS', macos: 'macOS', android: 'Android', windows: 'Windows' };

export const OWNERSHIPS = ['corporate_owned', 'employee_owned', 'corporate_shared'] as const;
export type Ownership = (typeof OWNERSHIPS)[number];
export const OWNERSHIP_LABELS: Record<Ownership, string> = {
  corporate_owned: 'Corporate Owned',
  employee_owned: 'Employee Owned',
  corporate_shared: 'Corporate Shared',
};

export const REQUEST_MODE_LABELS: Record<RequestMode, string> = { enrollment: 'Enrollment', activation: 'Activation' };
export const AUTH_MODE_LABELS: Record<AuthMode, string> = { passcode: 'Passcode', local: 'Local' };

export const NOTIFY_CHANNELS = ['email', 'sms', 'email_sms', 'none'] as const;
export type Notify = (typeof NOTIFY_CHANNELS)[number];
export const NOTIFY_LABELS: Record<Notify, string> = { email: 'Email', sms: 'SMS', email_sms: 'Email+SMS', none: 'None' };

/** MaaS360's set of request statuses. */
export const REQUEST_STATUSES = ['pending', 'completed', 'expired', 'deleted', 'failed', 'exceeded'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];
export const REQUEST_STATUS_LABELS: Record<RequestStatus, string> = {
  pending: 'Pending',
  completed: 'Completed',
  expired: 'Expired',
  deleted: 'Deleted',
  failed: 'Failed',
  exceeded: 'Exceeded',
};

/** The Request Type column of the Enrollments list: display strings, also the API's `requestType`. */
export const REQUEST_TYPES = ['MDM', 'MDM (Apple User Enrollment)', 'SPS Activation'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** An activation is `SPS Activation`; an enrollment is `MDM`, or `MDM (Apple User Enrollment)` when it asks for User Enrollment. */
export function requestTypeOf(r: { requestMode: RequestMode; userEnrollment: boolean }): RequestType {
  if (r.requestMode === 'activation') return 'SPS Activation';
  return r.userEnrollment ? 'MDM (Apple User Enrollment)' : 'MDM';
}

/** The Bulk Add file's column headers, as messages name them. */
export const COLUMNS = {
  username: 'Username',
  domain: 'Domain',
  email: 'Email Address',
  phone: 'Phone Number',
  platform: 'Platform',
  ownership: 'Ownership',
  userEnrollment: 'Enroll Using iOS User Enrollment',
  requestMode: 'Request Mode',
  authMode: 'Authentication Mode',
  seamless: 'Seamless Enrollment',
  notify: 'Notify',
  comments: 'Comments',
} as const;

/** A value a parser could not read. `message` starts with the column's name. */
export interface ColumnProblem {
  code: 'VALUE_INVALID';
  column: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: ColumnProblem };

function invalid(column: string, message: string): { ok: false; problem: ColumnProblem } {
  return { ok: false, problem: { code: 'VALUE_INVALID', column, message: `${column}: ${message}` } };
}

/** Shows a cell's text in a message: quoted, and cut short so a hostile cell cannot flood the results file. */
function shown(raw: string): string {
  const chars = [...raw.trim()];
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : chars.join(''));
}

/** Case, surrounding and repeated white space, `_` for a space and spaces around `+` do not matter. */
const normalise = (s: string) => s.trim().toLowerCase().replace(/[\s_]+/g, ' ').replace(/ ?\+ ?/g, '+');

/**
 * A parser for a closed vocabulary. Each entry maps its accepted spellings to a value; a blank
 * cell is "required" (use `optional` for columns that may be blank). Never throws.
 */
function vocabulary<T extends string>(defaultColumn: string, entries: readonly (readonly [T, readonly string[]])[], expected: string) {
  const lookup = new Map<string, T>();
  for (const [value, spellings] of entries) for (const s of [value, ...spellings]) lookup.set(normalise(s), value);
  return (raw: string, column: string = defaultColumn): Parsed<T> => {
    if (raw.trim() === '') return invalid(column, `a value is required (${expected})`);
    const value = lookup.get(normalise(raw));
    return value === undefined ? invalid(column, `${shown(raw)} is not one of ${expected}`) : { ok: true, value };
  };
}

/** `iOS`, `iPhone`, `iPad`, `iPadOS` → ios; `macOS` → macos; `Android`, `Windows` are recognised (and refused later). */
export const parsePlatform = vocabulary<NamedPlatform>(
  COLUMNS.platform,
  [
    ['ios', ['iPhone', 'iPad', 'iPadOS']],
    ['macos', []],
    ['android', []],
    ['windows', []],
  ],
  'iOS, iPhone, iPad, iPadOS, macOS',
);

export const parseOwnership = vocabulary<Ownership>(
  COLUMNS.ownership,
  OWNERSHIPS.map((o) => [o, [OWNERSHIP_LABELS[o]]] as const),
  OWNERSHIPS.map((o) => OWNERSHIP_LABELS[o]).join(', '),
);

export const parseRequestMode = vocabulary<RequestMode>(
  COLUMNS.requestMode,
  [
    ['enrollment', []],
    ['activation', []],
  ],
  'Enrollment, Activation',
);

/** `Passcode` or `Local` (`Corporate` authentication is not offered yet). */
export const parseAuthMode = vocabulary<AuthMode>(
  COLUMNS.authMode,
  [
    ['passcode', []],
    ['local', []],
  ],
  'Passcode, Local',
);

export const parseNotify = vocabulary<Notify>(
  COLUMNS.notify,
  NOTIFY_CHANNELS.map((n) => [n, [NOTIFY_LABELS[n]]] as const),
  NOTIFY_CHANNELS.map((n) => NOTIFY_LABELS[n]).join(', '),
);

const YES = new Set(['yes', 'y', 'true', '1']);
const NO = new Set(['no', 'n', 'false', '0']);

/** `yes, no, y, n, true, false, 1, 0` in any case, trimmed. Two columns use it, so the column is named by the caller. */
export function parseYesNo(raw: string, column: string): Parsed<boolean> {
  const v = raw.trim().toLowerCase();
  if (YES.has(v)) return { ok: true, value: true };
  if (NO.has(v)) return { ok: true, value: false };
  return invalid(column, v === '' ? 'a value is required (Yes, No)' : `${shown(raw)} is not Yes or No`);
}

/** For a column that may be blank: a blank (or absent) cell is `undefined`, anything else goes to the parser. */
export function optional<T>(raw: string | undefined, parse: (raw: string) => Parsed<T>): Parsed<T | undefined> {
  return raw === undefined || raw.trim() === '' ? { ok: true, value: undefined } : parse(raw);
}

/** An enrollment request as the API and the console show it (the user's current names joined in). */
export interface EnrollmentRequest {
  id: string;
  userId: string;
  username: string;
  domain: string;
  fullName: string;
  managedAppleId: string | null;
  /** Where the notification goes: the request's own address, else the user's at creation. */
  email: string;
  phone: string;
  platform: Platform;
  ownership: Ownership;
  userEnrollment: boolean;
  requestMode: RequestMode;
  authMode: AuthMode;
  authModeOverridden: boolean;
  seamless: boolean;
  notify: Notify;
  comments: string;
  requestType: RequestType;
  status: RequestStatus;
  /** Why a request is Failed (or Exceeded); null otherwise. */
  statusReason: string | null;
  requestedBy: { id: string | null; label: string };
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  deviceId: string | null;
}

/** What the list filters on (`requestType` is the display string). */
export interface RequestListQuery {
  status?: RequestStatus;
  requestType?: RequestType;
  platform?: Platform;
  userId?: string;
  /** Case-insensitive prefix of the username, the notification email or the MAID. */
  q?: string;
}

export const COMMENTS_MAX = 1000;
