import type { Selectable } from 'kysely';
import { RowChanged, type Tx } from '../db/database.js';
import type { Caps } from '../db/caps.js';
import { dbBool, flag, type EnrollmentRequestRow } from '../db/schema.js';
import { cappedCount, toPage, TOTAL_CAP } from '../db/query.js';
import { insertRows, selectByKeys, updateRow } from '../db/batch.js';
import { LIMIT_DEFAULT, decodeCursor, type Page } from '../core/paging.js';
import { normaliseKey } from '../core/names.js';
import { requestTypeOf, type EnrollmentRequest, type RequestListQuery } from './model.js';
import type { NewRequest, RequestFields, RequestLinks, RequestStore, RequestSweep } from './store.js';

/** The highest code point: `key < prefix + MAX` bounds a prefix range in binary order. */
const MAX_CHAR = '\u{10FFFF}';

type Joined = Selectable<EnrollmentRequestRow> & { username: string; domain: string; full_name: string; maid: string | null };

function toRequest(r: Joined): EnrollmentRequest {
  const requestMode = r.request_mode as EnrollmentRequest['requestMode'];
  const userEnrollment = flag(r.user_enrollment);
  return {
    id: r.id,
    userId: r.user_id,
    username: r.username,
    domain: r.domain,
    fullName: r.full_name,
    managedAppleId: r.maid,
    email: r.email,
    phone: r.phone,
    platform: r.platform as EnrollmentRequest['platform'],
    ownership: r.ownership as EnrollmentRequest['ownership'],
    userEnrollment,
    requestMode,
    authMode: r.auth_mode as EnrollmentRequest['authMode'],
    authModeOverridden: flag(r.auth_mode_overridden),
    seamless: flag(r.seamless),
    notify: r.notify as EnrollmentRequest['notify'],
    comments: r.comments,
    requestType: requestTypeOf({ requestMode, userEnrollment }),
    status: r.status as EnrollmentRequest['status'],
    statusReason: r.status_reason,
    requestedBy: { id: r.requested_by, label: r.requested_by_label },
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deviceId: r.device_id,
  };
}

/** The columns a create or renew writes from RequestFields, in one order for both. */
const FIELD_COLUMNS = [
  'email', 'phone', 'ownership', 'user_enrollment', 'request_mode', 'auth_mode', 'auth_mode_overridden', 'seamless', 'notify', 'comments',
  'token_hash', 'passcode_hash', 'requested_by', 'requested_by_label', 'expires_at', 'import_job_id', 'import_row',
] as const;

function fieldValues(f: RequestFields): unknown[] {
  return [
    f.email, f.phone, f.ownership, dbBool(f.userEnrollment), f.requestMode, f.authMode, dbBool(f.authModeOverridden), dbBool(f.seamless), f.notify, f.comments,
    f.tokenHash, f.passcodeHash, f.requestedBy, f.requestedByLabel, f.expiresAt, f.importJobId, f.importRow,
  ];
}

const INSERT_COLUMNS = ['id', 'account_id', 'user_id', 'platform', 'status', 'failed_attempts', 'created_at', 'updated_at', ...FIELD_COLUMNS] as const;

export function requestStore(tx: Tx, accountId: string, caps: Caps): RequestStore {
  const joined = () =>
    tx
      .selectFrom('enrollment_requests as r')
      .innerJoin('users as u', 'u.id', 'r.user_id')
      .selectAll('r')
      .select(['u.username', 'u.domain', 'u.full_name', 'u.maid'])
      .where('r.account_id', '=', accountId);

  return {
    async get(id) {
      const row = await joined().where('r.id', '=', id).executeTakeFirst();
      return row ? toRequest(row as Joined) : null;
    },

    async findPending(userIds) {
      if (!userIds.length) return [];
      const rows = await selectByKeys<Pick<EnrollmentRequestRow, 'id' | 'user_id' | 'platform' | 'import_job_id' | 'import_row'>>(
        tx, caps, 'enrollment_requests', ['id', 'user_id', 'platform', 'import_job_id', 'import_row'], { equal: { account_id: accountId }, constant: { status: 'pending' }, keyType: 'uuid' }, 'user_id', userIds,
      );
      return rows.map((r) => ({ id: r.id, userId: r.user_id, platform: r.platform as 'ios' | 'macos', importJobId: r.import_job_id, importRow: r.import_row }));
    },

    async insertMany(requests) {
      try {
        await insertRows(
          tx,
          caps,
          'enrollment_requests',
          INSERT_COLUMNS,
          requests.map((r: NewRequest) => [r.id, accountId, r.userId, r.platform, 'pending', 0, r.createdAt, r.createdAt, ...fieldValues(r)]),
        );
      } catch (e) {
        // Ids and token hashes are random: the one Pending request a user may have per platform clashed.
        if (caps.isUniqueViolation(e)) throw new RowChanged('Another writer made a Pending request for the same user and platform');
        throw e;
      }
    },

    async renew(id, fields, at, was) {
      const renewed = await updateRow(
        tx,
        caps,
        'enrollment_requests',
        ['status', 'status_reason', 'failed_attempts', 'updated_at', ...FIELD_COLUMNS],
        ['account_id', 'id', 'status'],
        ['pending', null, 0, at, ...fieldValues(fields), accountId, id, was],
      );
      if (renewed === 0) throw new RowChanged('The enrollment request changed while it was being renewed');
    },

    async setStatus(id, status, reason, at, from) {
      const res = await tx
        .updateTable('enrollment_requests')
        .set({ status, status_reason: reason, updated_at: at })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .where('status', 'in', [...from])
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async failedAttempt(id, max, at) {
      await tx
        .updateTable('enrollment_requests')
        .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1), updated_at: at }))
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
      const row = await tx.selectFrom('enrollment_requests').select('failed_attempts').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirstOrThrow();
      if (row.failed_attempts >= max) {
        await tx
          .updateTable('enrollment_requests')
          .set({ status: 'exceeded', status_reason: `${max} wrong sign-in attempts on the enrolment page: resend the request`, updated_at: at })
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .where('status', '=', 'pending')
          .execute();
      }
      return row.failed_attempts;
    },

    async complete(id, deviceId, at) {
      const res = await tx
        .updateTable('enrollment_requests')
        .set({ status: 'completed', status_reason: null, device_id: deviceId, updated_at: at })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async list(query: RequestListQuery, page): Promise<Page<EnrollmentRequest>> {
      const limit = page.limit ?? LIMIT_DEFAULT;
      let q = joined();
      if (query.status) q = q.where('r.status', '=', query.status);
      if (query.platform) q = q.where('r.platform', '=', query.platform);
      if (query.userId) q = q.where('r.user_id', '=', query.userId);
      if (query.requestType === 'SPS Activation') q = q.where('r.request_mode', '=', 'activation');
      else if (query.requestType) {
        q = q.where('r.request_mode', '=', 'enrollment').where('r.user_enrollment', '=', dbBool(query.requestType === 'MDM (Apple User Enrollment)') as never);
      }
      if (query.q) {
        const p = normaliseKey(query.q);
        const from = (col: 'u.username_key' | 'u.email_key' | 'u.maid_key') => (eb: any) => eb.and([eb(col, '>=', p), eb(col, '<', p + MAX_CHAR)]);
        q = q.where((eb) => eb.or([from('u.username_key')(eb), from('u.email_key')(eb), from('u.maid_key')(eb)]));
      }
      const counted = page.skipTotal ? { total: 0, totalCapped: false } : await cappedCount(tx, q.clearSelect().select('r.id').limit(TOTAL_CAP + 1));
      let rows = q;
      if (page.cursor) {
        const [at, id] = decodeCursor(page.cursor, ['instant', 'id']) as [string, string];
        rows = rows.where((eb) => eb(eb.refTuple('r.created_at', 'r.id'), '<', eb.tuple(at, id)));
      }
      const found = (await rows.orderBy('r.created_at', 'desc').orderBy('r.id', 'desc').limit(limit + 1).execute()) as Joined[];
      return toPage(found, limit, (r) => [r.created_at, r.id], toRequest, counted);
    },
  };
}

export function requestSweep(tx: Tx): RequestSweep {
  return {
    async expireDue(at, limit) {
      const due = await tx
        .selectFrom('enrollment_requests')
        .select(['id', 'account_id'])
        .where('status', '=', 'pending')
        .where('expires_at', '<=', at)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      if (!due.length) return [];
      await tx
        .updateTable('enrollment_requests')
        .set({ status: 'expired', status_reason: null, updated_at: at })
        .where('id', 'in', due.map((d) => d.id))
        .where('status', '=', 'pending')
        .execute();
      return due.map((d) => ({ id: d.id, accountId: d.account_id }));
    },
  };
}

export function requestLinks(tx: Tx): RequestLinks {
  return {
    async byTokenHash(hash) {
      const r = await tx.selectFrom('enrollment_requests').select(['id', 'account_id']).where('token_hash', '=', hash).executeTakeFirst();
      return r ? { id: r.id, accountId: r.account_id } : null;
    },
    async passcodeHash(id) {
      const r = await tx.selectFrom('enrollment_requests').select('passcode_hash').where('id', '=', id).executeTakeFirst();
      return r?.passcode_hash ?? null;
    },
  };
}
