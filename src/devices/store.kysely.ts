import { CompiledQuery, type Selectable } from 'kysely';
import type { Tx } from '../db/database.js';
import type { Caps } from '../db/caps.js';
import { updateRow } from '../db/batch.js';
import type { DeviceRow } from '../db/schema.js';
import { cappedCount, toPage, TOTAL_CAP } from '../db/query.js';
import { LIMIT_DEFAULT, decodeCursor } from '../core/paging.js';
import type { Device } from './model.js';
import type { DeviceRecord, DeviceResolver, DeviceStore } from './store.js';

type Joined = Selectable<DeviceRow> & { username: string | null };

function toDevice(r: Joined): DeviceRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    userId: r.user_id,
    username: r.username,
    requestId: r.request_id,
    platform: r.platform as Device['platform'],
    enrollmentType: r.enrollment_type as Device['enrollmentType'],
    enrollmentMethod: r.enrollment_method as Device['enrollmentMethod'],
    enrollmentId: r.enrollment_id,
    udid: r.udid,
    serialNumber: r.serial_number,
    osVersion: r.os_version,
    productName: r.product_name,
    status: r.status as Device['status'],
    enrolledAt: r.enrolled_at,
    lastSeenAt: r.last_seen_at,
    createdAt: r.created_at,
    certHash: r.cert_hash,
    topic: r.topic,
    accessTokenHash: r.access_token_hash,
    pushToken: r.push_token,
    pushMagic: r.push_magic,
  };
}

export const toPublicDevice = ({ accountId: _a, certHash: _c, topic: _t, accessTokenHash: _h, pushToken: _p, pushMagic: _m, ...d }: DeviceRecord): Device => d;

function joined(tx: Tx) {
  return tx.selectFrom('devices as d').leftJoin('users as u', 'u.id', 'd.user_id').selectAll('d').select('u.username');
}

export function deviceStore(tx: Tx, accountId: string, caps: Caps): DeviceStore {
  const mine = () => joined(tx).where('d.account_id', '=', accountId);
  return {
    async get(id) {
      const r = await mine().where('d.id', '=', id).executeTakeFirst();
      return r ? toDevice(r as Joined) : null;
    },
    async byCertHash(certHash) {
      const r = await tx.executeQuery<Joined>(CompiledQuery.raw(byCertText(caps, true), [certHash, accountId]));
      return r.rows[0] ? toDevice(r.rows[0]) : null;
    },
    async list(query, page) {
      const limit = page.limit ?? LIMIT_DEFAULT;
      // Devices that only said Authenticate are not enrolled yet: lists show enrolled and checked-out ones.
      let q = mine().where('d.status', '!=', 'authenticated');
      if (query.userId) q = q.where('d.user_id', '=', query.userId);
      if (query.status) q = q.where('d.status', '=', query.status);
      if (query.platform) q = q.where('d.platform', '=', query.platform);
      const counted = page.skipTotal ? { total: 0, totalCapped: false } : await cappedCount(tx, q.clearSelect().select('d.id').limit(TOTAL_CAP + 1));
      if (page.cursor) {
        const [at, id] = decodeCursor(page.cursor, ['instant', 'id']) as [string, string];
        q = q.where((eb) => eb(eb.refTuple('d.created_at', 'd.id'), '<', eb.tuple(at, id)));
      }
      const rows = (await q.orderBy('d.created_at', 'desc').orderBy('d.id', 'desc').limit(limit + 1).execute()) as Joined[];
      return toPage(rows, limit, (r) => [r.created_at, r.id], (r) => toPublicDevice(toDevice(r)), counted);
    },
    async countEnrolled(userId) {
      const r = await tx
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('account_id', '=', accountId)
        .where('user_id', '=', userId)
        .where('status', '=', 'enrolled')
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async insert(d) {
      await tx
        .insertInto('devices')
        .values({
          id: d.id, account_id: accountId, user_id: d.userId, request_id: d.requestId, platform: d.platform, enrollment_type: d.enrollmentType,
          enrollment_method: d.enrollmentMethod, enrollment_id: d.enrollmentId, udid: d.udid, serial_number: d.serialNumber, os_version: d.osVersion,
          product_name: d.productName, status: 'authenticated', cert_hash: d.certHash, topic: d.topic, access_token_hash: d.accessTokenHash, authenticate_plist: d.authenticatePlist,
          last_seen_at: d.at, created_at: d.at, updated_at: d.at,
        })
        .execute();
    },
    async reauthenticate(id, d) {
      await tx
        .updateTable('devices')
        .set({
          platform: d.platform, enrollment_type: d.enrollmentType, enrollment_method: d.enrollmentMethod, enrollment_id: d.enrollmentId, udid: d.udid,
          serial_number: d.serialNumber, os_version: d.osVersion, product_name: d.productName, topic: d.topic, authenticate_plist: d.authenticatePlist,
          status: 'authenticated', last_seen_at: d.at, updated_at: d.at,
        })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
    },
    async tokenUpdate(id, u) {
      // The hot path of check-ins: hand-written SQL, its text cached per shape.
      const set = ['push_token', 'push_magic', 'topic', 'token_update_plist', 'last_seen_at', 'updated_at', ...(u.enrol ? ['status', 'enrolled_at'] : [])];
      const values = [u.token, u.pushMagic, u.topic, u.plist, u.at, u.at, ...(u.enrol ? ['enrolled', u.at] : [])];
      await updateRow(tx, caps, 'devices', set, ['account_id', 'id'], [...values, accountId, id]);
    },
    async setStatus(id, status, at) {
      await tx.updateTable('devices').set({ status, updated_at: at, last_seen_at: at }).where('account_id', '=', accountId).where('id', '=', id).execute();
    },
    async touch(id, at) {
      await tx.updateTable('devices').set({ last_seen_at: at }).where('account_id', '=', accountId).where('id', '=', id).execute();
    },
  };
}

/** The check-in look-up by certificate, hand-written: it runs on every check-in. */
const byCertText = (caps: Caps, inAccount: boolean) => {
  const p = (n: number) => (caps.engine === 'postgres' ? `$${n}` : '?');
  return `select d.*, u.username as username from devices d left join users u on u.id = d.user_id where d.cert_hash = ${p(1)}${inAccount ? ` and d.account_id = ${p(2)}` : ''}`;
};

export function deviceResolver(tx: Tx, caps: Caps): DeviceResolver {
  return {
    async byCertHash(certHash) {
      const r = await tx.executeQuery<Joined>(CompiledQuery.raw(byCertText(caps, false), [certHash]));
      const row = r.rows[0];
      return row ? toDevice(row) : null;
    },
    async issuedFor(certHash) {
      const r = await tx.selectFrom('scep_challenges').select(['account_id', 'request_id', 'access_token_hash']).where('cert_hash', '=', certHash).executeTakeFirst();
      return r ? { accountId: r.account_id, requestId: r.request_id, accessTokenHash: r.access_token_hash } : null;
    },
  };
}
