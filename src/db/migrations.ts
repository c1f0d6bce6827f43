import { Kysely, Migrator, sql, type ColumnDefinitionBuilder, type Migration, type MigrationProvider } from 'kysely';
import type { Caps } from './caps.js';
import { ACCOUNT_TABLES, APPEND_ONLY_TABLES, INSTALLATION_TABLES } from './schema.js';
import { APP_ROLE } from './database.js';

/**
 * Migrations, written once for both engines: column types come from the engine's capabilities.
 * Each entry is applied once, in name order, and recorded in `kysely_migration`.
 */
function migrations(caps: Caps): Record<string, Migration> {
  const id = caps.uuidType;
  const ts = caps.timestampType;
  const bool = caps.booleanType;
  /** A normalised key column: binary order on both engines. */
  const key = (c: ColumnDefinitionBuilder) => (caps.keyCollation ? c.modifyEnd(sql.raw(`collate "${caps.keyCollation}"`)) : c);
  return {
    '0001_foundation': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('deployment_mode', 'text', (c) => c.notNull())
          .addColumn('default_request_mode', 'text', (c) => c.notNull())
          .addColumn('default_domain', 'text', (c) => c.notNull())
          .addColumn('default_auth_mode', 'text', (c) => c.notNull())
          .addColumn('seamless_enrollment', bool, (c) => c.notNull())
          .addColumn('request_expiry_hours', 'integer', (c) => c.notNull())
          .addColumn('passcode_length', 'integer', (c) => c.notNull())
          .addColumn('use_email_as_maid', bool, (c) => c.notNull())
          .addColumn('require_genuine_apple_devices', bool, (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('updated_at', ts, (c) => c.notNull())
          .addCheckConstraint('accounts_self', sql`account_id = id`)
          .execute();

        await db.schema
          .createTable('maid_domains')
          .addColumn('domain', 'text', (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('position', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('maid_domains_account').on('maid_domains').columns(['account_id', 'position']).execute();

        await db.schema
          .createTable('admins')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('email_key', 'text', (c) => key(c.notNull()))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('disabled', bool, (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('updated_at', ts, (c) => c.notNull())
          .addColumn('last_sign_in_at', ts)
          .execute();
        // Sign-in names no account, so an email signs in to exactly one account.
        await db.schema.createIndex('admins_email_key').on('admins').column('email_key').unique().execute();
        await db.schema.createIndex('admins_account_email').on('admins').columns(['account_id', 'email_key', 'id']).execute();

        await db.schema
          .createTable('sessions')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('admin_id', id, (c) => c.notNull().references('admins.id').onDelete('cascade'))
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('ip', 'text')
          .addColumn('user_agent', 'text')
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('expires_at', ts, (c) => c.notNull())
          .addColumn('last_seen_at', ts, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_admin').on('sessions').columns(['account_id', 'admin_id']).execute();

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('admin_id', id, (c) => c.notNull().references('admins.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('expires_at', ts)
          .addColumn('last_used_at', ts)
          .execute();
        await db.schema.createIndex('api_tokens_account').on('api_tokens').columns(['account_id', 'admin_id', 'created_at']).execute();

        await db.schema
          .createTable('audit_events')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('at', ts, (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('actor_label', 'text', (c) => c.notNull())
          .addColumn('ip', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('object_type', 'text')
          .addColumn('object_id', 'text')
          .addColumn('before_json', 'text')
          .addColumn('after_json', 'text')
          .addColumn('request_id', 'text')
          .execute();
        await db.schema.createIndex('audit_events_time').on('audit_events').columns(['account_id', 'at', 'id']).execute();
        await db.schema.createIndex('audit_events_action').on('audit_events').columns(['account_id', 'action', 'at']).execute();
        await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['account_id', 'actor_id', 'at']).execute();
        await db.schema
          .createIndex('audit_events_object')
          .on('audit_events')
          .columns(['account_id', 'object_type', 'object_id', 'at'])
          .execute();
        if (caps.engine === 'sqlite') {
          // SQLite has no grants: triggers keep the audit log append-only.
          for (const op of ['UPDATE', 'DELETE']) {
            await sql
              .raw(
                `CREATE TRIGGER audit_events_no_${op.toLowerCase()} BEFORE ${op} ON audit_events ` +
                  `BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`,
              )
              .execute(db);
          }
        }
      },
    },
    '0002_directory': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('users')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('domain', 'text', (c) => c.notNull())
          .addColumn('username_key', 'text', (c) => key(c.notNull()))
          .addColumn('domain_key', 'text', (c) => key(c.notNull()))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('email_key', 'text', (c) => key(c.notNull()))
          .addColumn('full_name', 'text', (c) => c.notNull())
          .addColumn('full_name_key', 'text', (c) => key(c.notNull()))
          .addColumn('phone', 'text', (c) => c.notNull())
          .addColumn('groups_json', 'text', (c) => c.notNull())
          .addColumn('auth_type', 'text', (c) => c.notNull())
          .addColumn('maid', 'text')
          .addColumn('maid_key', 'text', (c) => key(c))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text')
          .addColumn('device_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('updated_at', ts, (c) => c.notNull())
          .execute();
        // (Username, Domain) is the user's key; the MAID is unique within the account.
        await db.schema.createIndex('users_username').on('users').columns(['account_id', 'username_key', 'domain_key']).unique().execute();
        await db.schema.createIndex('users_maid').on('users').columns(['account_id', 'maid_key']).unique().execute();
        await db.schema.createIndex('users_email').on('users').columns(['account_id', 'email_key', 'id']).execute();
        await db.schema.createIndex('users_full_name').on('users').columns(['account_id', 'full_name_key', 'id']).execute();
        // "Not linked", sorted by username: the directory's most common question, answered from one index.
        await db.schema
          .createIndex('users_unlinked')
          .on('users')
          .columns(['account_id', 'username_key', 'domain_key', 'id'])
          .where(sql.ref('maid_key'), 'is', null)
          .execute();

        // Name words carry the username sort key, so a name search in username order is answered
        // from this index alone (only the page's 50 users are then read).
        await db.schema
          .createTable('user_name_words')
          .addColumn('account_id', id, (c) => c.notNull())
          .addColumn('word', 'text', (c) => key(c.notNull()))
          .addColumn('username_key', 'text', (c) => key(c.notNull()))
          .addColumn('domain_key', 'text', (c) => key(c.notNull()))
          // No foreign key and no index by user: the store deletes a user's words by their known key.
          .addColumn('user_id', id, (c) => c.notNull())
          .addPrimaryKeyConstraint('user_name_words_pk', ['account_id', 'word', 'username_key', 'domain_key', 'user_id'])
          .$call((b) => (caps.clusteredPrimaryKey ? b.modifyEnd(sql`without rowid`) : b))
          .execute();

        // Exact directory figures without counting a million rows: kept in the same transaction as every user write.
        await db.schema
          .createTable('user_stats')
          .addColumn('account_id', id, (c) => c.primaryKey().references('accounts.id').onDelete('cascade'))
          .addColumn('total', 'integer', (c) => c.notNull())
          .addColumn('linked', 'integer', (c) => c.notNull())
          .execute();
      },
    },
    '0003_jobs': {
      async up(db: Kysely<any>) {
        const blob = caps.engine === 'postgres' ? 'bytea' : 'blob';
        // Which import last touched a user, at which row: finds in-file duplicates without holding the file.
        await db.schema.alterTable('users').addColumn('import_job_id', id).execute();
        await db.schema.alterTable('users').addColumn('import_row', 'integer').execute();

        await db.schema
          .createTable('files')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('storage', 'text', (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('file_chunks')
          .addColumn('file_id', id, (c) => c.notNull().references('files.id').onDelete('cascade'))
          .addColumn('account_id', id, (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('data', blob, (c) => c.notNull())
          .addPrimaryKeyConstraint('file_chunks_pk', ['file_id', 'seq'])
          .execute();

        await db.schema
          .createTable('jobs')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('file_id', id, (c) => c.references('files.id').onDelete('set null'))
          .addColumn('file_name', 'text', (c) => c.notNull())
          .addColumn('file_sha256', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text')
          .addColumn('requested_by', id)
          .addColumn('requested_by_label', 'text', (c) => c.notNull())
          .addColumn('processed', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('total', 'integer')
          .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('refreshed', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_row_committed', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('batches', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('warnings_json', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('error_json', 'text')
          .addColumn('options_json', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('cancel_requested', bool, (c) => c.notNull().defaultTo(caps.booleanType === 'boolean' ? sql`false` : sql`0`))
          .addColumn('claimed_by', 'text')
          .addColumn('heartbeat_at', ts)
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('started_at', ts)
          .addColumn('finished_at', ts)
          .execute();
        await db.schema.createIndex('jobs_account_time').on('jobs').columns(['account_id', 'created_at', 'id']).execute();
        await db.schema.createIndex('jobs_claim').on('jobs').columns(['status', 'heartbeat_at']).execute();
        await db.schema
          .createIndex('jobs_idempotency')
          .on('jobs')
          .columns(['account_id', 'idempotency_key'])
          .unique()
          .where(sql.ref('idempotency_key'), 'is not', null)
          .execute();
        // One import per account at a time, whichever node takes it: the index decides.
        await db.schema
          .createIndex('jobs_one_import')
          .on('jobs')
          .column('account_id')
          .unique()
          .where(sql.ref('status'), 'in', ['queued', 'running'])
          .execute();

        // The results file, written a batch at a time in the batch's own transaction.
        await db.schema
          .createTable('job_results')
          .addColumn('job_id', id, (c) => c.notNull().references('jobs.id').onDelete('cascade'))
          .addColumn('account_id', id, (c) => c.notNull())
          .addColumn('batch', 'integer', (c) => c.notNull())
          .addColumn('first_row', 'integer', (c) => c.notNull())
          .addColumn('failed', 'integer', (c) => c.notNull())
          .addColumn('csv', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('job_results_pk', ['job_id', 'batch'])
          .execute();
      },
    },
    '0004_outbox': {
      async up(db: Kysely<any>) {
        // Messages to send: their inputs sealed under the secret key, rendered at send time.
        await db.schema
          .createTable('outbox')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('sealed', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('next_attempt_at', ts, (c) => c.notNull())
          .addColumn('last_error', 'text')
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('sent_at', ts)
          .execute();
        await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute();
      },
    },
    '0005_leading_name_word': {
      async up(db: Kysely<any>) {
        // A name's leading word is now found through the full-name index (a prefix of it is a
        // prefix of the whole name), so its name-word row goes. The split below is the one the
        // directory used when these rows were written.
        let after: string | null = null;
        for (;;) {
          const users = await db
            .selectFrom('users')
            .select(['id', 'account_id', 'full_name_key', 'username_key', 'domain_key'])
            .$if(after !== null, (q) => q.where('id', '>', after))
            .orderBy('id')
            .limit(1000)
            .execute();
          if (!users.length) break;
          for (const u of users) {
            const lead = (u.full_name_key as string).split(/[\s,.;:()"/\\_-]+/u).find((w) => w.length > 0);
            if (!lead || !(u.full_name_key as string).startsWith(lead)) continue;
            await db
              .deleteFrom('user_name_words')
              .where('account_id', '=', u.account_id)
              .where('word', '=', lead)
              .where('username_key', '=', u.username_key)
              .where('domain_key', '=', u.domain_key)
              .where('user_id', '=', u.id)
              .execute();
          }
          after = users[users.length - 1]!.id as string;
        }
      },
    },
    '0006_enrollment_requests': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('enrollment_requests')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          // A user's requests go with them (DESIGN: deleting a user deletes their Pending requests).
          .addColumn('user_id', id, (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('phone', 'text', (c) => c.notNull())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('ownership', 'text', (c) => c.notNull())
          .addColumn('user_enrollment', bool, (c) => c.notNull())
          .addColumn('request_mode', 'text', (c) => c.notNull())
          .addColumn('auth_mode', 'text', (c) => c.notNull())
          .addColumn('auth_mode_overridden', bool, (c) => c.notNull())
          .addColumn('seamless', bool, (c) => c.notNull())
          .addColumn('notify', 'text', (c) => c.notNull())
          .addColumn('comments', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('status_reason', 'text')
          // HMAC-SHA-256 of the URL token and of the passcode under the secret key; never the secrets.
          .addColumn('token_hash', 'text', (c) => c.notNull())
          .addColumn('passcode_hash', 'text', (c) => c.notNull())
          .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('requested_by', id)
          .addColumn('requested_by_label', 'text', (c) => c.notNull())
          .addColumn('device_id', id)
          .addColumn('import_job_id', id)
          .addColumn('import_row', 'integer')
          .addColumn('expires_at', ts, (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('updated_at', ts, (c) => c.notNull())
          .execute();
        // The portal finds a request by its token's hash, whatever the account.
        await db.schema.createIndex('enrollment_requests_token').on('enrollment_requests').column('token_hash').unique().execute();
        await db.schema.createIndex('enrollment_requests_time').on('enrollment_requests').columns(['account_id', 'created_at', 'id']).execute();
        await db.schema.createIndex('enrollment_requests_user').on('enrollment_requests').columns(['account_id', 'user_id', 'created_at']).execute();
        await db.schema.createIndex('enrollment_requests_expiry').on('enrollment_requests').columns(['status', 'expires_at']).execute();
        // One Pending request per user and platform: a second one refreshes the first.
        await db.schema
          .createIndex('enrollment_requests_one_pending')
          .on('enrollment_requests')
          .columns(['account_id', 'user_id', 'platform'])
          .unique()
          .where(sql.ref('status'), '=', 'pending')
          .execute();
        // The Enrollments page's outbox figures, counted from an index.
        await db.schema.createIndex('outbox_account_kind').on('outbox').columns(['account_id', 'kind', 'status']).execute();
        await db.schema.alterTable('outbox').addColumn('ref_id', id).execute();
      },
    },
    '0007_device_leg': {
      async up(db: Kysely<any>) {
        // The installation's CA (one row, `id` = 'default'): not an account's data, so no account_id
        // and no row-level security; every node reads it. The key is sealed under the secret key.
        await db.schema
          .createTable('pki_ca')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('cert_pem', 'text', (c) => c.notNull())
          .addColumn('key_sealed', 'text', (c) => c.notNull())
          .addColumn('created_at', ts, (c) => c.notNull())
          .execute();
        // An account's APNs MDM push certificate (one per account).
        await db.schema
          .createTable('push_certificates')
          .addColumn('account_id', id, (c) => c.primaryKey().references('accounts.id').onDelete('cascade'))
          .addColumn('topic', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('cert_pem', 'text', (c) => c.notNull())
          .addColumn('key_sealed', 'text', (c) => c.notNull())
          .addColumn('not_before', ts, (c) => c.notNull())
          .addColumn('not_after', ts, (c) => c.notNull())
          .addColumn('uploaded_by_label', 'text', (c) => c.notNull())
          .addColumn('uploaded_at', ts, (c) => c.notNull())
          .execute();
        // Single-use SCEP challenges, each bound to one enrollment request; found by their hash
        // across accounts (the SCEP endpoint names no account).
        await db.schema
          .createTable('scep_challenges')
          .addColumn('challenge_hash', 'text', (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('request_id', id, (c) => c.notNull().references('enrollment_requests.id').onDelete('cascade'))
          .addColumn('expires_at', ts, (c) => c.notNull())
          .addColumn('used_at', ts)
          .addColumn('cert_serial', 'text')
          .addColumn('created_at', ts, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('scep_challenges_request').on('scep_challenges').columns(['account_id', 'request_id']).execute();
        // Enrolled devices. `cert_hash` (SHA-256 of the identity certificate, bound at Authenticate)
        // resolves a check-in to its device across accounts.
        await db.schema
          .createTable('devices')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('user_id', id, (c) => c.references('users.id').onDelete('set null'))
          .addColumn('request_id', id)
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('enrollment_type', 'text', (c) => c.notNull())
          .addColumn('enrollment_method', 'text', (c) => c.notNull())
          .addColumn('enrollment_id', 'text')
          .addColumn('udid', 'text')
          .addColumn('serial_number', 'text')
          .addColumn('os_version', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('product_name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('cert_hash', 'text')
          .addColumn('topic', 'text')
          .addColumn('push_token', 'text')
          .addColumn('push_magic', 'text')
          .addColumn('authenticate_plist', 'text')
          .addColumn('token_update_plist', 'text')
          .addColumn('enrolled_at', ts)
          .addColumn('last_seen_at', ts)
          .addColumn('created_at', ts, (c) => c.notNull())
          .addColumn('updated_at', ts, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('devices_cert').on('devices').column('cert_hash').unique().execute();
        await db.schema.createIndex('devices_account_time').on('devices').columns(['account_id', 'created_at', 'id']).execute();
        await db.schema.createIndex('devices_user').on('devices').columns(['account_id', 'user_id']).execute();
        await db.schema.createIndex('devices_udid').on('devices').columns(['account_id', 'udid']).execute();
        await db.schema.createIndex('devices_enrollment_id').on('devices').columns(['account_id', 'enrollment_id']).execute();
      },
    },
    '0008_issued_certificate_hash': {
      async up(db: Kysely<any>) {
        // The SHA-256 of the certificate a challenge's SCEP request was issued: how a device's first
        // check-in finds the request it enrols for.
        await db.schema.alterTable('scep_challenges').addColumn('cert_hash', 'text').execute();
        await db.schema.createIndex('scep_challenges_cert').on('scep_challenges').column('cert_hash').unique().execute();
      },
    },
    '0009_account_driven_enrollment': {
      async up(db: Kysely<any>) {
        // Access tokens minted by /mdm/authenticate: stored hashed; good for one /mdm/enroll within
        // ten minutes, then they live with the enrolment (every check-in carries them) until revoked.
        await db.schema
          .createTable('enrollment_access_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('account_id', id, (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('request_id', id, (c) => c.notNull().references('enrollment_requests.id').onDelete('cascade'))
          .addColumn('issued_at', ts, (c) => c.notNull())
          .addColumn('expires_at', ts, (c) => c.notNull())
          .addColumn('used_at', ts)
          .addColumn('revoked_at', ts)
          .execute();
        await db.schema.createIndex('enrollment_access_tokens_request').on('enrollment_access_tokens').columns(['account_id', 'request_id']).execute();
        // A challenge served by /mdm/enroll names the token it was served for; the device it enrols keeps it.
        await db.schema.alterTable('scep_challenges').addColumn('access_token_hash', 'text').execute();
        await db.schema.alterTable('devices').addColumn('access_token_hash', 'text').execute();
      },
    },
    '0010_users_without_account_check': {
      async up(db: Kysely<any>) {
        // PostgreSQL checks a foreign key row by row, locking the account's row for each new user:
        // a tenth of its server's work in a million-user import. A user's account is the one its
        // transaction is confined to (row-level security checks every row written), and accounts
        // are not deleted, so the check guards nothing there. SQLite's check is one probe of the
        // accounts table, and dropping it would mean copying the table: it stays.
        if (caps.engine !== 'postgres') return;
        const fks = await sql<{ name: string }>`select conname as name from pg_constraint where conrelid = 'users'::regclass and confrelid = 'accounts'::regclass and contype = 'f'`.execute(db);
        for (const { name } of fks.rows) await db.schema.alterTable('users').dropConstraint(name).execute();
      },
    },
    '0011_users_version': {
      async up(db: Kysely<any>) {
        // A user's row counts its updates, so a write decided from an earlier read can say whether
        // the row is still as read (an import plans a batch while the one before is written).
        await db.schema.alterTable('users').addColumn('version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '0012_users_sort_indexes': {
      async up(db: Kysely<any>) {
        // Every sort the directory offers reads a page from an index (bench/directory-list.ts):
        // - The MAID index holds linked users only. A page sorted by MAID takes them from it, then
        //   the unlinked users from users_unlinked, by username; and "maid_key is null" can no longer
        //   lead the planner to the MAID index (every unlinked user read, then sorted, for a page).
        //   An unlinked user is then no entry of it either: an import of users without MAIDs writes
        //   one index entry a row fewer.
        // - Creation time: new users go at its end, as their ids and instants only grow.
        await db.schema.dropIndex('users_maid').execute();
        await db.schema.createIndex('users_maid').on('users').columns(['account_id', 'maid_key']).unique().where(sql.ref('maid_key'), 'is not', null).execute();
        await db.schema.createIndex('users_created').on('users').columns(['account_id', 'created_at', 'id']).execute();
      },
    },
    '0013_file_chunks_lz4': {
      async up(db: Kysely<any>) {
        // An upload's 1 MiB chunks were compressed with pglz, PostgreSQL's default: 0.7-1.9 s for a
        // 62 MB file against 0.2-0.3 s with lz4 (12 against 15 MB stored). Only where the server
        // was built with lz4 (its default_toast_compression setting lists it); new chunks only.
        if (caps.engine === 'postgres') await preferLz4(db, 'file_chunks', 'data');
      },
    },
    '0014_account_numbers': {
      async up(db: Kysely<any>) {
        // Each account gets a small number, and the users' indexes lead with it instead of the
        // account's id (36 characters of text on SQLite, 16 bytes on PostgreSQL): a million users
        // are then 250 MB less index on SQLite, and the import's floor ~10% faster (bench/NOTES.md).
        // The rows keep their account_id, which row-level security and a distributed PostgreSQL
        // key on; the name words keep it in their key too (the users' indexes were the gain).
        if (caps.engine === 'postgres') {
          // Forced row-level security applies to the owner too: this migration reads every account.
          await sql`select set_config('app.system', 'on', true)`.execute(db);
          // Existing accounts are numbered as the column is added; new ones take the next number.
          await sql`alter table accounts add column no integer generated by default as identity`.execute(db);
        } else {
          await db.schema.alterTable('accounts').addColumn('no', 'integer').execute();
          await sql`update accounts set no = (select count(*) from accounts a where a.created_at < accounts.created_at or (a.created_at = accounts.created_at and a.id <= accounts.id))`.execute(db);
          // SQLite has no identity column but its rowid, which VACUUM may renumber.
          await sql`create trigger accounts_number after insert on accounts when new.no is null
                    begin update accounts set no = (select coalesce(max(no), 0) + 1 from accounts) where id = new.id; end`.execute(db);
        }
        await db.schema.createIndex('accounts_no').on('accounts').column('no').unique().execute();
        await db.schema.alterTable('users').addColumn('account_no', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await sql`update users set account_no = (select no from accounts where accounts.id = users.account_id)`.execute(db);
        if (caps.engine === 'postgres') await sql`alter table users alter column account_no drop default`.execute(db);
        const indexes: [string, string[], 'unique' | 'plain', ('linked' | 'unlinked')?][] = [
          ['users_username', ['username_key', 'domain_key'], 'unique'],
          ['users_maid', ['maid_key'], 'unique', 'linked'],
          ['users_email', ['email_key', 'id'], 'plain'],
          ['users_full_name', ['full_name_key', 'id'], 'plain'],
          ['users_unlinked', ['username_key', 'domain_key', 'id'], 'plain', 'unlinked'],
          ['users_created', ['created_at', 'id'], 'plain'],
        ];
        for (const [name, columns, kind, maid] of indexes) {
          await db.schema.dropIndex(name).execute();
          let index = db.schema.createIndex(name).on('users').columns(['account_no', ...columns]);
          if (kind === 'unique') index = index.unique();
          if (maid) index = index.where(sql.ref('maid_key'), maid === 'linked' ? 'is not' : 'is', null);
          await index.execute();
        }
      },
    },
    '0015_job_results_lz4': {
      async up(db: Kysely<any>) {
        // A batch's results lines (~1 MB of text for 10,000 rows) were compressed with pglz as the
        // batch committed, in the transaction that holds the import's write lock; lz4 as for
        // file_chunks (0013).
        if (caps.engine === 'postgres') await preferLz4(db, 'job_results', 'csv');
      },
    },
  };
}

/**
 * Has PostgreSQL compress a column's large values with lz4 rather than pglz (new values only),
 * where the server was built with lz4 (its default_toast_compression setting lists it).
 */
async function preferLz4(db: Kysely<any>, table: string, column: string): Promise<void> {
  const lz4 = await sql<{ ok: boolean }>`select 'lz4' = any(enumvals) as ok from pg_settings where name = 'default_toast_compression'`.execute(db);
  if (lz4.rows[0]?.ok) await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} set compression lz4`.execute(db);
}

class InlineProvider implements MigrationProvider {
  constructor(private readonly all: Record<string, Migration>) {}
  async getMigrations() {
    return this.all;
  }
}

/** Applies every pending migration; on PostgreSQL also (re)applies the app role, grants and row-level security. */
export async function migrate(db: Kysely<any>, caps: Caps, opts: { appLoginUser?: string; to?: string } = {}): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new InlineProvider(migrations(caps)) });
  const { error, results } = opts.to ? await migrator.migrateTo(opts.to) : await migrator.migrateToLatest();
  if (error) throw error;
  if (caps.rowLevelSecurity) await secureForPostgres(db, opts.appLoginUser);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Creates the application role (owns nothing, no BYPASSRLS), grants it row access (audit: read and
 * append only), and enables and forces row-level security on every account table. Idempotent.
 */
async function secureForPostgres(db: Kysely<any>, appLoginUser?: string): Promise<void> {
  // Several nodes may migrate at once: serialise on an advisory lock for the rest of this work.
  await db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(727274)`.execute(conn);
    try {
      await sql
        .raw(
          `DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
               CREATE ROLE ${APP_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
             END IF;
           END $$`,
        )
        .execute(conn);
      const me = (await sql<{ u: string }>`select current_user as u`.execute(conn)).rows[0]!.u;
      for (const member of new Set([me, appLoginUser].filter((u): u is string => !!u && u !== APP_ROLE))) {
        const exists = await sql`select 1 from pg_roles where rolname = ${member}`.execute(conn);
        if (exists.rows.length) await sql.raw(`GRANT ${APP_ROLE} TO ${quoteIdent(member)}`).execute(conn);
      }
      await sql.raw(`GRANT USAGE ON SCHEMA public TO ${APP_ROLE}`).execute(conn);
      // Identity columns (an account's number) draw from sequences.
      await sql.raw(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE}`).execute(conn);
      // Installation tables (the CA) hold no account's data: readable and writable, no row-level security.
      for (const table of INSTALLATION_TABLES) {
        await sql.raw(`REVOKE ALL ON ${table} FROM ${APP_ROLE}`).execute(conn);
        await sql.raw(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${APP_ROLE}`).execute(conn);
      }
      const appendOnly = new Set<string>(APPEND_ONLY_TABLES);
      for (const table of ACCOUNT_TABLES) {
        const grant = appendOnly.has(table) ? 'SELECT, INSERT' : 'SELECT, INSERT, UPDATE, DELETE';
        await sql.raw(`REVOKE ALL ON ${table} FROM ${APP_ROLE}`).execute(conn);
        await sql.raw(`GRANT ${grant} ON ${table} TO ${APP_ROLE}`).execute(conn);
        await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(conn);
        await sql.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`).execute(conn);
        await sql.raw(`DROP POLICY IF EXISTS account_isolation ON ${table}`).execute(conn);
        const visible =
          `(account_id = nullif(current_setting('app.account_id', true), '')::uuid ` +
          `OR current_setting('app.system', true) = 'on')`;
        await sql.raw(`CREATE POLICY account_isolation ON ${table} USING ${visible} WITH CHECK ${visible}`).execute(conn);
      }
    } finally {
      await sql`select pg_advisory_unlock(727274)`.execute(conn);
    }
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
