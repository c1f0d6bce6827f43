import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations.js';
import { tempDir } from '../support/db.js';

describe('two SQLite connections writing at once (the server and its job worker)', () => {
  it("reruns a transaction whose snapshot another connection's commit made stale, instead of failing", async () => {
    const file = path.join(tempDir('pippin-retry-'), 'db.sqlite');
    const a = openSqlite(file);
    const b = openSqlite(file);
    await migrate(a.kysely, a.caps);
    const acc = crypto.randomUUID();
    const now = new Date().toISOString();
    await a.forAccount(acc, (tx) =>
      tx.insertInto('accounts').values({ id: acc, account_id: acc, key: 'k', name: 'n', deployment_mode: 'mdm', default_request_mode: 'enrollment', default_domain: 'x', default_auth_mode: 'passcode', seamless_enrollment: 0, request_expiry_hours: 1, passcode_length: 8, use_email_as_maid: 0, require_genuine_apple_devices: 0, created_at: now, updated_at: now }).execute(),
    );
    let runs = 0;
    await a.forAccount(acc, async (tx) => {
      runs++;
      await tx.selectFrom('accounts').select('name').execute(); // a read: the snapshot starts here
      if (runs === 1) await b.forAccount(acc, (t2) => t2.updateTable('accounts').set({ name: 'by b' }).execute()); // b commits meanwhile
      await tx.updateTable('accounts').set({ passcode_length: 9 }).execute(); // the write must not fail
    });
    expect(runs).toBe(2);
    const row = await b.forAccount(acc, (tx) => tx.selectFrom('accounts').select(['name', 'passcode_length']).executeTakeFirstOrThrow());
    expect(row).toEqual({ name: 'by b', passcode_length: 9 });
    await a.close();
    await b.close();
  });
});
