/**
 * The hand-written batch statements: key look-ups return each matching row once whatever the number
 * of keys (pieces, padding), constants are written into the text only when they are plain words,
 * and on SQLite the import's look-ups are answered by the index meant for them (a look-up by a
 * bound status once scanned every Pending request for each piece of keys).
 */
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledQuery } from 'kysely';
import { openSqlite, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations.js';
import { deleteRows, insertRows, keyLookupText, pgArrayParam, selectByKeys, updateRows } from '../../src/db/batch.js';
import { openDatabase } from '../../src/db/open.js';
import { packedRow, unpackRow } from '../../src/db/query.js';
import { ENGINES, tempDir, testConfig } from '../support/db.js';

const ACC = '01900000-0000-7000-8000-000000000001';
const account = {
  id: ACC, account_id: ACC, key: 'b', name: 'B', deployment_mode: 'mdm', default_request_mode: 'enrollment', default_domain: 'example.com',
  default_auth_mode: 'passcode', seamless_enrollment: 0, request_expiry_hours: 168, passcode_length: 8, use_email_as_maid: 0,
  require_genuine_apple_devices: 0, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z',
};

describe.each(ENGINES)('key look-ups on %s', (engine) => {
  let db: Database;
  /** The account's number, which the users' indexes lead with. */
  let NO = 0;
  const n = 2000; // on SQLite three pieces of 512 and one padded from 464 keys
  const ids = Array.from({ length: n }, (_, i) => `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`);
  beforeAll(async () => {
    db = await openDatabase(await testConfig(engine));
    await db.system('job claim', async (tx) => {
      await tx.insertInto('accounts').values((engine === 'postgres' ? { ...account, seamless_enrollment: false, use_email_as_maid: false, require_genuine_apple_devices: false } : account) as never).execute();
      NO = Number((await tx.selectFrom('accounts').select('no').where('id', '=', ACC).executeTakeFirstOrThrow()).no);
      const cols = ['id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone', 'groups_json', 'auth_type', 'status', 'created_at', 'updated_at'];
      const at = '2026-01-01T00:00:00.000Z';
      await insertRows(tx, db.caps, 'users', cols, ids.map((id, i) => [id, ACC, NO, `u${i}`, 'example.com', `u${i}`, 'example.com', `u${i}@x.io`, `u${i}@x.io`, '', '', '', '[]', 'local', 'active', at, at]));
    });
  });
  afterAll(() => db?.close());

  it('return every matching row once, for any number of keys and repeats', async () => {
    const found = await db.forAccount(ACC, async (tx) => {
      // Every user asked for twice, and keys that match nothing.
      const keys = [...ids.map((_, i) => `u${i}`), ...ids.map((_, i) => `u${i}`), 'nobody', 'u9999'];
      return selectByKeys<{ id: string; username: string }>(tx, db.caps, 'users', ['id', 'username'], { equal: { account_no: NO } }, 'username_key', keys);
    });
    expect(found.length).toBe(n);
    expect(new Set(found.map((r) => r.id))).toEqual(new Set(ids));
    expect(await db.forAccount(ACC, (tx) => selectByKeys(tx, db.caps, 'users', ['id'], { equal: { account_no: NO } }, 'username_key', []))).toEqual([]);
  });

  it('read rows packed, each one array of the columns asked for in their order, text, numbers and nulls as they are', async () => {
    const found = await db.forAccount(ACC, (tx) =>
      selectByKeys<unknown>(tx, db.caps, 'users', { packed: ['username', 'maid', 'device_count', 'groups_json', 'id'] }, { equal: { account_no: NO } }, 'username_key', ['u1', 'u1999', 'nobody']),
    );
    const rows = found.map((r) => unpackRow(r)).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(rows).toEqual([
      ['u1', null, 0, '[]', ids[1]],
      ['u1999', null, 0, '[]', ids[1999]],
    ]);
  });

  it('read the rows of a query packed (packedRow), instants as ISO text, and the statements beside it still as objects', async () => {
    const [packed, plain] = await db.forAccount(ACC, async (tx) => [
      await tx
        .selectFrom('users')
        .select(packedRow(db.caps, ['username', { instant: 'created_at' }, 'groups_json', 'device_count']).as('packed'))
        .where('account_no', '=', NO)
        .orderBy('username_key')
        .limit(2)
        .execute(),
      await tx.selectFrom('users').select(['username']).where('account_no', '=', NO).orderBy('username_key').limit(1).execute(),
    ]);
    expect(packed.map(unpackRow)).toEqual([
      ['u0', '2026-01-01T00:00:00.000Z', '[]', 0],
      ['u1', '2026-01-01T00:00:00.000Z', '[]', 0],
    ]);
    expect(plain).toEqual([{ username: 'u0' }]);
  });

  it('find rows by a uuid key', async () => {
    const found = await db.forAccount(ACC, (tx) => selectByKeys<{ username: string }>(tx, db.caps, 'users', ['username'], { equal: { account_id: ACC }, keyType: 'uuid' }, 'id', [ids[3], ids[500]]));
    expect(found.map((r) => r.username).sort()).toEqual(['u3', 'u500']);
  });

  it('insert any text as it is, return only the rows written when skipping conflicts', async () => {
    const odd = ['', 'NULL', 'null', '"quoted"', 'back\\slash', '{braces}', 'a,b', "it's", 'tab\there', 'line\nbreak', 'Zoë 🙂', ' spaced ', '\\N'];
    const at = '2026-01-01T00:00:00.000Z';
    const cols = ['id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone', 'groups_json', 'auth_type', 'maid', 'maid_key', 'status', 'created_at', 'updated_at'];
    const row = (i: number, name: string, maid: string | null) => [`01900000-0000-7000-9000-${String(i).padStart(12, '0')}`, ACC, NO, `odd${i}`, 'example.com', `odd${i}`, 'example.com', 'o@x.io', 'o@x.io', name, name, '', '[]', 'local', maid, maid, 'active', at, at];
    const written = await db.forAccount(ACC, (tx) =>
      insertRows(tx, db.caps, 'users', cols, [...odd.map((name, i) => row(i, name, i % 2 ? null : `m${i}@x.io`)), row(100, 'again', 'm0@x.io'), row(0, 'same id', null)], { skipConflicts: true, returning: 'id' }),
    );
    // The last two lose to the first row's MAID and id.
    expect(written).toEqual(odd.map((_, i) => `01900000-0000-7000-9000-${String(i).padStart(12, '0')}`));
    const back = await db.forAccount(ACC, (tx) => tx.selectFrom('users').select(['username', 'full_name', 'maid']).where('username', 'like', 'odd%').execute());
    expect(back.sort((a, b) => Number(a.username.slice(3)) - Number(b.username.slice(3)))).toEqual(odd.map((name, i) => ({ username: `odd${i}`, full_name: name, maid: i % 2 ? null : `m${i}@x.io` })));
  });

  it('skip the clashing rows of a large insert too, and the transaction goes on (PostgreSQL tries it plainly first)', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const cols = ['id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone', 'groups_json', 'auth_type', 'status', 'created_at', 'updated_at'];
    const row = (i: number, username: string) => [`01900000-0000-7000-b000-${String(i).padStart(12, '0')}`, ACC, NO, username, 'example.com', username, 'example.com', 'l@x.io', 'l@x.io', '', '', '', '[]', 'local', 'active', at, at];
    const clean = Array.from({ length: 100 }, (_, i) => row(i, `large${i}`));
    // 100 more, two of which take usernames already written (u7 from the set-up, large5 from the first insert).
    const clashing = Array.from({ length: 100 }, (_, i) => row(100 + i, i === 10 ? 'u7' : i === 60 ? 'large5' : `large${100 + i}`));
    const { first, second, after } = await db.forAccount(ACC, async (tx) => {
      const first = await insertRows(tx, db.caps, 'users', cols, clean, { skipConflicts: true, returning: 'id' });
      const second = await insertRows(tx, db.caps, 'users', cols, clashing, { skipConflicts: true, returning: 'id' });
      // The transaction is still good: a later statement of it runs and commits with the rest.
      await insertRows(tx, db.caps, 'users', cols, [row(999, 'large-after')]);
      const after = await tx.selectFrom('users').select('id').where('username_key', 'like', 'large%').execute();
      return { first, second, after };
    });
    expect(first).toEqual(clean.map((r) => r[0]));
    expect(new Set(second)).toEqual(new Set(clashing.filter((_, i) => i !== 10 && i !== 60).map((r) => r[0])));
    expect(after.length).toBe(100 + 98 + 1);
    const committed = await db.forAccount(ACC, (tx) => tx.selectFrom('users').select('id').where('username_key', 'like', 'large%').execute());
    expect(committed.length).toBe(199);
  });

  it('insert all the rows or none: after a row that breaks a unique index the transaction only rolls back, on both engines', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const cols = ['id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone', 'groups_json', 'auth_type', 'status', 'created_at', 'updated_at'];
    const row = (i: number, username: string) => [`01900000-0000-7000-c000-${String(i).padStart(12, '0')}`, ACC, NO, username, 'example.com', username, 'example.com', 'n@x.io', 'n@x.io', '', '', '', '[]', 'local', 'active', at, at];
    // 300 new users, the last of which takes u9's username (written in the set-up).
    const rows = Array.from({ length: 300 }, (_, i) => row(i, i === 299 ? 'u9' : `none${i}`));
    const seen: { insert?: unknown; later?: unknown } = {};
    // A caller that catches the error and tries to go on and commit: its next statement fails, and
    // nothing of the transaction is written.
    const err = await db
      .forAccount(ACC, async (tx) => {
        seen.insert = await insertRows(tx, db.caps, 'users', cols, rows).catch((x) => x);
        seen.later = await tx.selectFrom('users').select('id').where('username_key', 'like', 'none%').execute().catch((x) => x);
        await insertRows(tx, db.caps, 'users', cols, [row(500, 'after-the-error')]);
      })
      .catch((e) => e);
    expect(db.caps.isUniqueViolation(seen.insert)).toBe(true);
    expect(seen.later).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(Error);
    const left = await db.forAccount(ACC, (tx) => tx.selectFrom('users').select('id').where((eb) => eb.or([eb('username_key', 'like', 'none%'), eb('username_key', '=', 'after-the-error')])).execute());
    expect(left).toEqual([]);
    // The connection is good again for the next transaction.
    await db.forAccount(ACC, (tx) => insertRows(tx, db.caps, 'users', cols, [row(501, 'next-transaction')]));
    expect((await db.forAccount(ACC, (tx) => tx.selectFrom('users').select('id').where('username_key', '=', 'next-transaction').execute())).length).toBe(1);
  });

  it('carry any text through an insert, a look-up by it, an update and a delete (PostgreSQL: as array literals)', async () => {
    // Any text PostgreSQL stores (no NUL), as keys and as values: quotes, backslashes, braces, commas, "NULL", spaces.
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('NULL', '"', '\\', '{', '}', ',', ' ', '', '\\"')).map((t) => t.replace(/\u0000/g, ''));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(text, { minLength: 1, maxLength: 12 }), fc.array(text, { minLength: 12, maxLength: 12 }), async (keys, values) => {
        const r = run++;
        const id = (i: number) => `01900000-0000-7000-a${String(r).padStart(3, '0')}-${String(i).padStart(12, '0')}`;
        const rows = keys.map((k, i) => [id(i), ACC, NO, `k${r}:${k}`, 'pbt.example', `k${r}:${k}`, 'pbt.example', 'p@x.io', 'p@x.io', values[i]!, values[i]!, '', '[]', 'local', 'active', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
        const cols = ['id', 'account_id', 'account_no', 'username', 'domain', 'username_key', 'domain_key', 'email', 'email_key', 'full_name', 'full_name_key', 'phone', 'groups_json', 'auth_type', 'status', 'created_at', 'updated_at'];
        const found = await db.forAccount(ACC, async (tx) => {
          await insertRows(tx, db.caps, 'users', cols, rows);
          await updateRows(tx, db.caps, 'users', ['phone'], ['account_no', 'username_key'], keys.map((k, i) => [values[(i + 1) % values.length]!, NO, `k${r}:${k}`]));
          return selectByKeys<{ username: string; full_name: string; phone: string }>(tx, db.caps, 'users', ['username', 'full_name', 'phone'], { equal: { account_no: NO } }, 'username_key', keys.map((k) => `k${r}:${k}`));
        });
        expect(new Map(found.map((f) => [f.username, [f.full_name, f.phone]]))).toEqual(new Map(keys.map((k, i) => [`k${r}:${k}`, [values[i], values[(i + 1) % values.length]]])));
        await db.forAccount(ACC, (tx) => deleteRows(tx, db.caps, 'users', ['account_no', 'username_key'], keys.map((k) => [NO, `k${r}:${k}`])));
        expect(await db.forAccount(ACC, (tx) => tx.selectFrom('users').select('id').where('domain_key', '=', 'pbt.example').execute())).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('update many rows each to its own values, all or none of a statement', async () => {
    const rows = ids.slice(0, 1500).map((id, i) => [`Name ${i}`, `name ${i}`, i, ACC, id]);
    await db.forAccount(ACC, (tx) => updateRows(tx, db.caps, 'users', ['full_name', 'full_name_key', 'import_row'], ['account_id', 'id'], rows));
    const back = await db.forAccount(ACC, (tx) => tx.selectFrom('users').select(['id', 'full_name', 'import_row']).where('id', 'in', [ids[0]!, ids[777]!, ids[1499]!, ids[1500]!]).orderBy('id').execute());
    expect(back).toEqual([
      { id: ids[0], full_name: 'Name 0', import_row: 0 },
      { id: ids[777], full_name: 'Name 777', import_row: 777 },
      { id: ids[1499], full_name: 'Name 1499', import_row: 1499 },
      { id: ids[1500], full_name: '', import_row: null },
    ]);
    // Two rows given the same username: the second breaks the unique index, the transaction then
    // takes nothing but a rollback (a read within it fails too), and neither row is changed.
    const clash = [['same', 'x', ACC, ids[1600]], ['same', 'x', ACC, ids[1601]]];
    let within: unknown;
    const err = await db
      .forAccount(ACC, async (tx) => {
        const e = await updateRows(tx, db.caps, 'users', ['username_key', 'full_name'], ['account_id', 'id'], clash).catch((x) => x);
        within = await tx.selectFrom('users').select('full_name').where('id', 'in', [ids[1600]!, ids[1601]!]).execute().catch((x) => x);
        throw e;
      })
      .catch((e) => e);
    expect(db.caps.isUniqueViolation(err)).toBe(true);
    expect(within).toBeInstanceOf(Error);
    const untouched = await db.forAccount(ACC, (tx) => tx.selectFrom('users').select('full_name').where('id', 'in', [ids[1600]!, ids[1601]!]).execute());
    expect(untouched.map((r) => r.full_name)).toEqual(['', '']);
  });

  it('delete rows by their whole key', async () => {
    const words = ids.slice(0, 900).map((id, i) => [ACC, `w${i % 7}`, `u${i}`, 'example.com', id]);
    await db.forAccount(ACC, (tx) => insertRows(tx, db.caps, 'user_name_words', ['account_id', 'word', 'username_key', 'domain_key', 'user_id'], words));
    // Every other word goes, and a key matching nothing changes nothing.
    await db.forAccount(ACC, (tx) => deleteRows(tx, db.caps, 'user_name_words', ['account_id', 'word', 'username_key', 'domain_key', 'user_id'], [...words.filter((_, i) => i % 2), [ACC, 'w0', 'u1', 'example.com', ids[1]]]));
    const left = await db.forAccount(ACC, (tx) => tx.selectFrom('user_name_words').select('username_key').execute());
    expect(left.map((r) => r.username_key).sort()).toEqual(words.filter((_, i) => i % 2 === 0).map((w) => w[2]).sort());
  });

  it('probe the key index although the table has no statistics yet', async () => {
    // Never analysed, the table's size is guessed from its pages: PostgreSQL once answered an IN
    // list by reading the whole account through another index, filtering by the list.
    const keys = ids.slice(0, 64).map((_, i) => `u${i}`);
    const text = keyLookupText(db.caps, 'users', ['id'], { equal: { account_no: NO } }, 'username_key', keys.length);
    const plan = await db.forAccount(ACC, async (tx) => {
      if (engine === 'postgres') return (await tx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${text}`, [NO, keys]))).rows.map((r) => r['QUERY PLAN']).join('\n');
      return (await tx.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${text}`, [NO, ...keys]))).rows.map((r) => r.detail).join('\n');
    });
    expect(plan).toMatch(engine === 'postgres' ? /Index Scan using users_username on users/ : /USING INDEX users_username \(/);
    expect(plan).not.toMatch(/Filter: .*ANY/);
  });
});

describe('key look-up statements', () => {
  const db = openSqlite(path.join(tempDir(), 'plan.sqlite'));
  afterAll(() => db.close());

  it('write a PostgreSQL array literal with JSON only when it reads back the same, else leave the values to the driver', () => {
    expect(pgArrayParam(['a', 'say "hi"', 'ends\\', '', 'NULL', null, undefined, 7, true])).toBe('{"a","say \\"hi\\"","ends\\\\","","NULL",null,null,7,true}');
    for (const odd of [['tab\there'], ['\u0001'], ['\ud800'], ['back\\n'], [Buffer.from('x')], [new Date(0)], [Number.NaN], [{ a: 1 }]]) expect(pgArrayParam(odd)).toBe(odd);
  });

  it('write constants into the text only when they are plain words', () => {
    const text = keyLookupText(db.caps, 'enrollment_requests', ['id'], { equal: { account_id: ACC }, constant: { status: 'pending' } }, 'user_id', 8);
    expect(text).toContain(`"status" = 'pending'`);
    expect(() => keyLookupText(db.caps, 'enrollment_requests', ['id'], { equal: {}, constant: { status: "x' or 1=1 --" } }, 'user_id', 8)).toThrow(/plain word/);
  });

  it.each([
    ['Pending requests by user', 'enrollment_requests', { equal: { account_id: ACC }, constant: { status: 'pending' } }, 'user_id', 'enrollment_requests_one_pending'],
    ['users by username', 'users', { equal: { account_no: 1 } }, 'username_key', 'users_username'],
    ['users by Managed Apple ID', 'users', { equal: { account_no: 1 } }, 'maid_key', 'users_maid'],
  ] as const)('%s are read through %s on SQLite', async (_what, table, match, keyColumn, index) => {
    await migrate(db.kysely, db.caps);
    const text = keyLookupText(db.caps, table, ['id'], match, keyColumn, 64);
    const params = Array.from({ length: Object.keys(match.equal).length + 64 }, () => 'x');
    const { rows } = await db.kysely.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${text}`, params));
    expect(rows.map((r) => r.detail).join('\n')).toContain(`USING INDEX ${index} (`);
  });
});
