import type { Tx } from '../../db/database.js';
import type { PushCertificateStore } from './store.js';

/** The one implementation, SQLite and PostgreSQL (where row-level security also scopes it). */
export function pushCertificateStore(tx: Tx, accountId: string): PushCertificateStore {
  return {
    async get() {
      const r = await tx.selectFrom('push_certificates').selectAll().where('account_id', '=', accountId).executeTakeFirst();
      if (!r) return null;
      return {
        topic: r.topic,
        subject: r.subject,
        certificatePem: r.cert_pem,
        keySealed: r.key_sealed,
        notBefore: r.not_before,
        notAfter: r.not_after,
        uploadedBy: r.uploaded_by_label,
        uploadedAt: r.uploaded_at,
      };
    },

    async put(c) {
      const values = {
        topic: c.topic,
        subject: c.subject,
        cert_pem: c.certificatePem,
        key_sealed: c.keySealed,
        not_before: c.notBefore,
        not_after: c.notAfter,
        uploaded_by_label: c.uploadedBy,
        uploaded_at: c.uploadedAt,
      };
      await tx
        .insertInto('push_certificates')
        .values({ account_id: accountId, ...values })
        .onConflict((oc) => oc.column('account_id').doUpdateSet(values))
        .execute();
    },

    async countEnrolledDevices() {
      const r = await tx
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('account_id', '=', accountId)
        .where('status', '=', 'enrolled')
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}
