/**
 * Row types: exactly what the tables hold, shared by both engines. Domain types live in the
 * features; stores translate. Timestamps are ISO-8601 UTC strings on both engines (PostgreSQL
 * `timestamptz` values are parsed back into the same strings); booleans are `boolean` on
 * PostgreSQL and 0/1 on SQLite (read them with `flag()`), JSON is text.
 */
import type { Generated } from 'kysely';

export type DbBool = boolean | number;

export interface AccountRow {
  id: string;
  account_id: string;
  /** The account's number, given when it is created: the users' indexes lead with it (migration 0014). */
  no: Generated<number>;
  key: string;
  name: string;
  deployment_mode: string;
  default_request_mode: string;
  default_domain: string;
  default_auth_mode: string;
  seamless_enrollment: DbBool;
  request_expiry_hours: number;
  passcode_length: number;
  use_email_as_maid: DbBool;
  require_genuine_apple_devices: DbBool;
  created_at: string;
  updated_at: string;
}

/** A Managed Apple ID domain; the primary key makes a domain belong to at most one account. */
export interface MaidDomainRow {
  domain: string;
  account_id: string;
  position: number;
}

export interface AdminRow {
  id: string;
  account_id: string;
  email: string;
  email_key: string;
  role: string;
  password_hash: string;
  disabled: DbBool;
  created_at: string;
  updated_at: string;
  last_sign_in_at: string | null;
}

export interface SessionRow {
  id: string;
  account_id: string;
  admin_id: string;
  secret_hash: string;
  csrf_token: string;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface ApiTokenRow {
  id: string;
  account_id: string;
  admin_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface AuditEventRow {
  id: string;
  account_id: string;
  at: string;
  actor_type: string;
  actor_id: string | null;
  actor_label: string;
  ip: string | null;
  action: string;
  object_type: string | null;
  object_id: string | null;
  before_json: string | null;
  after_json: string | null;
  request_id: string | null;
}

export interface UserRow {
  id: string;
  account_id: string;
  /** Its account's number (accounts.no): what the users' indexes lead with. */
  account_no: number;
  username: string;
  domain: string;
  username_key: string;
  domain_key: string;
  email: string;
  email_key: string;
  full_name: string;
  full_name_key: string;
  phone: string;
  groups_json: string;
  auth_type: string;
  maid: string | null;
  maid_key: string | null;
  status: string;
  password_hash: string | null;
  device_count: number;
  created_at: string;
  updated_at: string;
  import_job_id: string | null;
  import_row: number | null;
  /** Updates the row has had: a write decided from an earlier read matches on it (0 when inserted). */
  version: number;
}

export interface UserNameWordRow {
  account_id: string;
  word: string;
  username_key: string;
  domain_key: string;
  user_id: string;
}

export interface UserStatsRow {
  account_id: string;
  total: number;
  linked: number;
}

export interface FileRow {
  id: string;
  account_id: string;
  name: string;
  size: number;
  sha256: string;
  storage: string;
  created_at: string;
}

export interface FileChunkRow {
  file_id: string;
  account_id: string;
  seq: number;
  data: Uint8Array;
}

export interface JobRow {
  id: string;
  account_id: string;
  kind: string;
  status: string;
  file_id: string | null;
  file_name: string;
  file_sha256: string;
  idempotency_key: string | null;
  requested_by: string | null;
  requested_by_label: string;
  processed: Generated<number>;
  total: number | null;
  created: Generated<number>;
  updated: Generated<number>;
  unchanged: Generated<number>;
  refreshed: Generated<number>;
  failed: Generated<number>;
  last_row_committed: Generated<number>;
  batches: Generated<number>;
  warnings_json: Generated<string>;
  error_json: string | null;
  options_json: Generated<string>;
  cancel_requested: Generated<DbBool>;
  claimed_by: string | null;
  heartbeat_at: string | null;
  attempts: Generated<number>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface JobResultRow {
  job_id: string;
  account_id: string;
  batch: number;
  first_row: number;
  failed: number;
  csv: string;
}

export interface OutboxRow {
  id: string;
  account_id: string;
  kind: string;
  sealed: string | null;
  status: string;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
  /** The object the message is about (an enrollment request), when there is one. */
  ref_id: string | null;
}

export interface EnrollmentRequestRow {
  id: string;
  account_id: string;
  user_id: string;
  email: string;
  phone: string;
  platform: string;
  ownership: string;
  user_enrollment: DbBool;
  request_mode: string;
  auth_mode: string;
  auth_mode_overridden: DbBool;
  seamless: DbBool;
  notify: string;
  comments: string;
  status: string;
  status_reason: string | null;
  token_hash: string;
  passcode_hash: string;
  failed_attempts: number;
  requested_by: string | null;
  requested_by_label: string;
  device_id: string | null;
  import_job_id: string | null;
  import_row: number | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
}

/** The installation's CA (one row, id 'default'). */
export interface PkiCaRow {
  id: string;
  cert_pem: string;
  key_sealed: string;
  created_at: string;
}

export interface PushCertificateRow {
  account_id: string;
  topic: string;
  subject: string;
  cert_pem: string;
  key_sealed: string;
  not_before: string;
  not_after: string;
  uploaded_by_label: string;
  uploaded_at: string;
}

export interface ScepChallengeRow {
  challenge_hash: string;
  account_id: string;
  request_id: string;
  expires_at: string;
  used_at: string | null;
  cert_serial: string | null;
  cert_hash: string | null;
  access_token_hash: string | null;
  created_at: string;
}

export interface DeviceRow {
  id: string;
  account_id: string;
  user_id: string | null;
  request_id: string | null;
  platform: string;
  enrollment_type: string;
  enrollment_method: string;
  enrollment_id: string | null;
  udid: string | null;
  serial_number: string | null;
  os_version: string;
  product_name: string;
  status: string;
  cert_hash: string | null;
  topic: string | null;
  push_token: string | null;
  push_magic: string | null;
  authenticate_plist: string | null;
  token_update_plist: string | null;
  enrolled_at: string | null;
  last_seen_at: string | null;
  access_token_hash: string | null;
  created_at: string;
  updated_at: string;
}

export interface EnrollmentAccessTokenRow {
  token_hash: string;
  account_id: string;
  request_id: string;
  issued_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
}

export interface Schema {
  accounts: AccountRow;
  maid_domains: MaidDomainRow;
  admins: AdminRow;
  sessions: SessionRow;
  api_tokens: ApiTokenRow;
  audit_events: AuditEventRow;
  users: UserRow;
  user_name_words: UserNameWordRow;
  user_stats: UserStatsRow;
  files: FileRow;
  file_chunks: FileChunkRow;
  jobs: JobRow;
  job_results: JobResultRow;
  outbox: OutboxRow;
  enrollment_requests: EnrollmentRequestRow;
  pki_ca: PkiCaRow;
  push_certificates: PushCertificateRow;
  scep_challenges: ScepChallengeRow;
  devices: DeviceRow;
  enrollment_access_tokens: EnrollmentAccessTokenRow;
}

/** Every table that holds account data; each carries `account_id` and, on PostgreSQL, row-level security. */
export const ACCOUNT_TABLES = ['accounts', 'maid_domains', 'admins', 'sessions', 'api_tokens', 'audit_events', 'users', 'user_name_words', 'user_stats', 'files', 'file_chunks', 'jobs', 'job_results', 'outbox', 'enrollment_requests', 'push_certificates', 'scep_challenges', 'devices', 'enrollment_access_tokens'] as const;

/** Tables of the installation, not of an account (no account_id, no row-level security). */
export const INSTALLATION_TABLES = ['pki_ca'] as const;

/** Tables the application role may only read and append to. */
export const APPEND_ONLY_TABLES = ['audit_events'] as const;

export function flag(v: DbBool | null | undefined): boolean {
  return v === true || v === 1;
}

/** A boolean as both engines accept it in a parameter. */
export function dbBool(b: boolean): number {
  return b ? 1 : 0;
}
