import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { openSqlite, pgPool } from '../../src/db/database.js';
import { POSTGRES_CAPS, type Caps } from '../../src/db/caps.js';
import { migrate } from '../../src/db/migrations.js';
import { dbBool } from '../../src/db/schema.js';
import { createPgDatabase, ENGINES, tempDir, type Engine } from '../support/db.js';

describe('migrations', () => {
  const db = openSqlite(path.join(tempDir(), 'm.sqlite'));
  afterAll(() => db.close());

  it("0005 drops the name-word row of a name's leading word and keeps the others", async () => {
    await migrate(db.kysely, db.caps, { to: '0004_outbox' });
    const k = db.kysely;
    const acc = '01900000-0000-7000-8000-000000000001';
    await k
      .insertInto('accounts')
      .values({
        id: acc, account_id: acc, key: 'm', name: 'M', deployment_mode: 'mdm', default_request_mode: 'enrollment', default_domain: 'example.com',
        default_auth_mode: 'passcode', seamless_enrollment: 0, request_expiry_hours: 168, passcode_length: 8, use_email_as_maid: 0,
        require_genuine_apple_devices: 0, created_at: '', updated_at: '',
      } as never)
      .execute();
    const users = [
      { id: '01900000-0000-7000-8000-0000000000a1', uk: 'ada', name: 'ada lovelace', words: ['ada', 'lovelace'] },
      { id: '01900000-0000-7000-8000-0000000000a2', uk: 'bob', name: '(bob) smith', words: ['bob', 'smith'] },
    ];
    for (const u of users) {
      await k
        .insertInto('users')
        .values({
          id: u.id, account_id: acc, username: u.uk, domain: 'example.com', username_key: u.uk, domain_key: 'example.com', email: 'e@x.io', email_key: 'e@x.io',
          full_name: u.name, full_name_key: u.name, phone: '', groups_json: '[]', auth_type: 'local', status: 'active', created_at: '', updated_at: '',
        } as never)
        .execute();
      for (const word of u.words) {
        await k.insertInto('user_name_words').values({ account_id: acc, word, username_key: u.uk, domain_key: 'example.com', user_id: u.id } as never).execute();
      }
    }
    expect(await migrate(db.kysely, db.caps)).toContain('0005_leading_name_word');
    const left = await k.selectFrom('user_name_words').select(['user_id', 'word']).orderBy('user_id').orderBy('word').execute();
    // Ada's leading word is a prefix of her whole name; "(bob) smith" does not start with "bob", so both stay.
    expect(left).toEqual([
      { user_id: users[0]!.id, word: 'lovelace' },
      { user_id: users[1]!.id, word: 'bob' },
      { user_id: users[1]!.id, word: 'smith' },
    ]);
  });
});

/**
 * The database as its owner migrates it. On PostgreSQL the owner is not a superuser (superusers pass
 * row-level security), so a migration that reads rows must mark itself system, as a real owner's must.
 */
async function asOwner(engine: Engine): Promise<{ k: Kysely<any>; caps: Caps; close(): Promise<void> }> {
  if (engine === 'sqlite') {
    const db = openSqlite(path.join(tempDir(), 'n.sqlite'));
    return { k: db.kysely, caps: db.caps, close: () => db.close() };
  }
  const url = new URL(await createPgDatabase());
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pippin_owner_t') THEN CREATE ROLE pippin_owner_t LOGIN CREATEROLE PASSWORD 'pw'; END IF; END $$`);
  await admin.query(`ALTER DATABASE ${url.pathname.slice(1)} OWNER TO pippin_owner_t`);
  await admin.end();
  url.username = 'pippin_owner_t';
  url.password = 'pw';
  const k = new Kysely<any>({ dialect: new PostgresDialect({ pool: pgPool(url.toString(), 1) }) });
  return { k, caps: POSTGRES_CAPS, close: () => k.destroy() };
}

describe.each(ENGINES)('migration 0014 on %s', (engine) => {
  let owner: Awaited<ReturnType<typeof asOwner>>;
  beforeAll(async () => {
    owner = await asOwner(engine);
  });
  afterAll(() => owner?.close());

  /** One transaction that sees every account, as the app's system paths do. */
  const system = <T>(fn: (k: Kysely<any>) => Promise<T>) =>
    owner.k.transaction().execute(async (tx) => {
      if (owner.caps.rowLevelSecurity) await sql`select set_config('app.system', 'on', true)`.execute(tx);
      return fn(tx);
    });
  const account = (id: string, key: string, at: string) => ({
    id, account_id: id, key, name: 'N', deployment_mode: 'mdm', default_request_mode: 'enrollment', default_domain: 'example.com',
    default_auth_mode: 'passcode', seamless_enrollment: dbBool(false), request_expiry_hours: 168, passcode_length: 8, use_email_as_maid: dbBool(false),
    require_genuine_apple_devices: dbBool(false), created_at: at, updated_at: at,
  });
  const ada = (id: string, accountId: string, email = 'a@x.io') => ({
    id, account_id: accountId, username: 'ada', domain: 'example.com', username_key: 'ada', domain_key: 'example.com', email, email_key: email,
    full_name: 'Ada', full_name_key: 'ada', phone: '', groups_json: '[]', auth_type: 'local', status: 'active',
    created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z',
  });

  it("numbers the accounts, gives each user its account's number, and leads the users' indexes with it", async () => {
    await migrate(owner.k, owner.caps, { to: '0013_file_chunks_lz4' });
    const accounts = ['01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000001'];
    await system(async (k) => {
      for (const [i, acc] of accounts.entries()) {
        await k.insertInto('accounts').values(account(acc, `k${i}`, `2026-01-0${i + 1}T00:00:00.000Z`)).execute();
        // The same username in both accounts.
        await k.insertInto('users').values(ada(`01900000-0000-7000-8000-0000000000a${i}`, acc)).execute();
      }
    });
    expect(await migrate(owner.k, owner.caps)).toContain('0014_account_numbers');

    const { numbers, users } = await system(async (k) => ({
      numbers: await k.selectFrom('accounts').select(['id', 'no']).execute(),
      users: await k.selectFrom('users').select(['account_id', 'account_no']).execute(),
    }));
    const noOf = new Map(numbers.map((r) => [r.id as string, Number(r.no)]));
    expect(noOf.size).toBe(2);
    expect(new Set(noOf.values()).size).toBe(2);
    for (const n of noOf.values()) expect(n).toBeGreaterThan(0);
    expect(users).toHaveLength(2);
    for (const u of users) expect(Number(u.account_no)).toBe(noOf.get(u.account_id));

    // A new account takes the next number without naming it; its users are unique within it alone.
    const third = '01900000-0000-7000-8000-000000000003';
    const no3 = await system(async (k) => {
      await k.insertInto('accounts').values(account(third, 'k3', '2026-01-03T00:00:00.000Z')).execute();
      return Number((await k.selectFrom('accounts').select('no').where('id', '=', third).executeTakeFirstOrThrow()).no);
    });
    expect(no3).toBeGreaterThan(Math.max(...noOf.values()));
    await system((k) => k.insertInto('users').values({ ...ada('01900000-0000-7000-8000-0000000000a3', third), account_no: no3 }).execute());
    await expect(
      system((k) => k.insertInto('users').values({ ...ada('01900000-0000-7000-8000-0000000000a4', third, 'b@x.io'), account_no: no3 }).execute()),
    ).rejects.toSatisfy((e: unknown) => owner.caps.isUniqueViolation(e));

    const definitions =
      engine === 'postgres'
        ? (await sql<{ name: string; def: string }>`select indexname as name, indexdef as def from pg_indexes where tablename = 'users'`.execute(owner.k)).rows
        : (await sql<{ name: string; def: string }>`select name, sql as def from sqlite_master where tbl_name = 'users' and sql is not null`.execute(owner.k)).rows;
    for (const name of ['users_username', 'users_maid', 'users_email', 'users_full_name', 'users_unlinked', 'users_created']) {
      expect(definitions.find((d) => d.name === name)?.def, name).toMatch(/\(\s*"?account_no"?\s*,/);
    }
  });
});
