/** The console's API client: JSON over fetch with the session cookie, CSRF on writes, one error type. */

export interface Issue {
  path: string;
  message: string;
}

/** A broken rule the server reports by code (e.g. each `UE_*` rule of a `UE_NOT_ELIGIBLE` refusal). */
export interface RuleIssue {
  code: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Shape problems, each on a field path (400 VALIDATION_FAILED). */
    readonly issues: Issue[] = [],
    readonly retryAfter?: number,
    /** Rules the request breaks, by code (422 UE_NOT_ELIGIBLE). */
    readonly ruleIssues: RuleIssue[] = [],
  ) {
    super(message);
  }
  /** The message for a form field, by the issue path's first segment (e.g. "managedAppleIdDomains.1" → "managedAppleIdDomains"). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const i of this.issues) {
      const key = i.path.split('.')[0]!;
      if (!out[key]) out[key] = i.message;
    }
    return out;
  }
}

let csrfToken: string | null = null;
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
  totalCapped: boolean;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Pippin cannot be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const e = json?.error;
    const retry = Number(res.headers.get('retry-after')) || undefined;
    const issues: any[] = Array.isArray(e?.details?.issues) ? e.details.issues : [];
    throw new ApiError(
      res.status,
      e?.code ?? 'INTERNAL',
      e?.message ?? `The server answered ${res.status}`,
      issues.filter((i) => typeof i?.path === 'string'),
      retry,
      issues.filter((i) => typeof i?.code === 'string' && typeof i?.path !== 'string'),
    );
  }
  return json as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export type Role = 'owner' | 'admin' | 'helpdesk' | 'auditor';

export interface Admin {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastSignInAt: string | null;
}

export interface Session {
  admin: Admin;
  account: { id: string; name: string };
  csrfToken: string;
}

export interface Account {
  id: string;
  key: string;
  name: string;
  deploymentMode: 'mdm' | 'sps' | 'mixed';
  defaultRequestMode: 'enrollment' | 'activation';
  defaultDomain: string;
  managedAppleIdDomains: string[];
  defaultAuthMode: 'passcode' | 'local';
  seamlessEnrollment: boolean;
  requestExpiryHours: number;
  passcodeLength: number;
  useEmailAsManagedAppleId: boolean;
  requireGenuineAppleDevices: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ApiToken {
  id: string;
  name: string;
  adminId: string;
  adminEmail: string;
  role: Role;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: { type: 'admin' | 'token' | 'system' | 'device'; id: string | null; label: string };
  ip: string | null;
  action: string;
  objectType: string | null;
  objectId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
}

/** A user's authentication type in words. */
export const AUTH_TYPE_LABEL: Record<User['authType'], string> = { local: 'Local', corporate: 'Corporate', saml: 'SAML' };

export interface User {
  id: string;
  username: string;
  domain: string;
  email: string;
  fullName: string;
  phone: string;
  groups: string[];
  authType: 'local' | 'corporate' | 'saml';
  managedAppleId: string | null;
  status: 'active' | 'disabled';
  devices: number;
  createdAt: string;
  updatedAt: string;
  warnings?: { code: string; message: string }[];
}

export interface UserSummary {
  total: number;
  managedAppleIdLinked: number;
  managedAppleIdMissing: number;
}

/** Roles that may do what, mirroring the server (which enforces it). */
export const can = {
  editAccount: (r: Role) => r === 'owner',
  manageAdmins: (r: Role) => r === 'owner',
  readAudit: (r: Role) => r !== 'helpdesk',
  writeUsers: (r: Role) => r === 'owner' || r === 'admin',
  exportUsers: (r: Role) => r === 'owner' || r === 'admin',
  readJobs: (r: Role) => r !== 'helpdesk',
  /** Create, resend and delete single enrollment requests (helpdesk too). */
  writeRequests: (r: Role) => r !== 'auditor',
  /** Bulk Add enrollment requests from a file. */
  bulkAddRequests: (r: Role) => r === 'owner' || r === 'admin',
};

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

export interface Job {
  id: string;
  kind: 'users_import' | 'enrollment_bulk_add';
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  fileName: string;
  progress: { processed: number; total: number | null };
  counts: { created: number; updated: number; unchanged: number; refreshed: number; failed: number };
  warnings: string[];
  error: { code: string; message: string; line: number | null } | null;
  requestedBy: { id: string | null; label: string };
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export const jobFinished = (j: Job) => j.status === 'succeeded' || j.status === 'failed' || j.status === 'cancelled';

/** Uploads a file with progress (fetch cannot report upload progress). */
export function uploadFile(path: string, file: File, opts: { idempotencyKey: string; onProgress: (fraction: number) => void }): Promise<Job> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    xhr.withCredentials = true;
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.setRequestHeader('idempotency-key', opts.idempotencyKey);
    xhr.upload.onprogress = (e) => e.lengthComputable && opts.onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload failed: Pippin cannot be reached.'));
    xhr.onload = () => {
      let json: any = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json as Job);
      else reject(new ApiError(xhr.status, json?.error?.code ?? 'INTERNAL', json?.error?.message ?? `The server answered ${xhr.status}`, json?.error?.details?.issues ?? []));
    };
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

// The resource types and vocabularies are the server's own (pure modules), so the two never drift.
import type { EnrollmentRequest as ServerRequest } from '../../src/enrollments/model';
export type { Platform, Ownership, Notify, RequestStatus, RequestType } from '../../src/enrollments/model';
export type { Device, DeviceStatus, EnrollmentMethod, EnrollmentType } from '../../src/devices/model';
import type { DeviceStatus, EnrollmentMethod, EnrollmentType } from '../../src/devices/model';

/** An enrollment request as the API returns it (writes may add warnings). */
export type EnrollmentRequest = ServerRequest & { warnings?: { code: string; message: string }[] };

/** What create and resend alone return: the secrets, shown once. */
export interface IssuedRequest extends EnrollmentRequest {
  url: string;
  /** Null when the employee types none (seamless, or the directory password). */
  passcode: string | null;
  /** Create only: the user's Pending request for the platform was refreshed instead of a new one made. */
  refreshed?: boolean;
}

export interface OutboxSummary {
  queued: number;
  sent: number;
  failed: number;
  lastError: string | null;
}

export {
  PLATFORM_LABELS as PLATFORM_LABEL,
  OWNERSHIP_LABELS as OWNERSHIP_LABEL,
  NOTIFY_LABELS as NOTIFY_LABEL,
  REQUEST_STATUS_LABELS as REQUEST_STATUS_LABEL,
  REQUEST_TYPES,
} from '../../src/enrollments/model';


export const ENROLLMENT_TYPE_LABEL: Record<EnrollmentType, string> = { user: 'User Enrollment', device: 'Device enrollment' };
export const ENROLLMENT_METHOD_LABEL: Record<EnrollmentMethod, string> = { account_driven: 'Account-driven', profile: 'Profile' };
export const DEVICE_STATUS_LABEL: Record<DeviceStatus, string> = { authenticated: 'Enrolling', enrolled: 'Enrolled', checked_out: 'Checked out' };
