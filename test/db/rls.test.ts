/**
 * Account isolation on a real PostgreSQL: row-level security, enabled and forced, with Pippin
 * working as a role that owns nothing.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APP_ROLE, openPostgres, type Database } from '../../src/db/database.js';
import { migratePostgres } from '../../src/db/open.js';
import { ACCOUNT_TABLES } from '../../src/db/schema.js';
import { createServices } from '../../src/main.js';
import { createPgDatabase } from '../support/db.js';

const hasPg = !!inject('pgAdminUrl');

describe.skipIf(!hasPg)('row-level security on PostgreSQL', () => {
  let url: string;
  let db: Database;
  let a: string;
  let b: string;

  beforeAll(async () => {
    url = await createPgDatabase();
    await migratePostgres(url, url);
    db = openPostgres(url, { poolSize: 1 });
    const services = createServices(db);
    a = (await services.accounts.createAccount({ name: 'A', ownerEmail: 'a@a.example', ownerPassword: 'password-a-1' })).account.id;
    b = (await services.accounts.createAccount({ name: 'B', ownerEmail: 'b@b.example', ownerPassword: 'password-b-1' })).account.id;
  });
  afterAll(() => db?.close());

  it('shows no rows to a query that set no account', async () => {
    for (const table of ACCOUNT_TABLES) {
      const rows = await sql`select count(*)::int as n from ${sql.table(table)}`.execute(db.kysely);
      expect((rows.rows[0] as { n: number }).n, table).toBe(0);
    }
  });

  it("shows an account's transaction only its own rows", async () => {
    const seen = await db.forAccount(a, (tx) => tx.selectFrom('admins').select(['email', 'account_id']).execute());
    expect(seen.map((r) => r.email)).toEqual(['a@a.example']);
    const accounts = await db.forAccount(a, (tx) => tx.selectFrom('accounts').select('id').execute());
    expect(accounts.map((r) => r.id)).toEqual([a]);
  });

  it('refuses an insert into another account', async () => {
    const now = new Date().toISOString();
    await expect(
      db.forAccount(a, (tx) =>
        tx
          .insertInto('audit_events')
          .values({ id: crypto.randomUUID(), account_id: b, at: now, actor_type: 'system', actor_id: null, actor_label: 'x', ip: null, action: 'forged', object_type: null, object_id: null, before_json: null, after_json: null, request_id: null })
          .execute(),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      db.forAccount(a, (tx) => tx.updateTable('admins').set({ account_id: b }).where('email', '=', 'a@a.example').execute()),
    ).rejects.toThrow(/row-level security/);
  });

  it('cannot update or delete rows of another account even by id', async () => {
    const bAdmin = await db.system('operator command', (tx) => tx.selectFrom('admins').select('id').where('account_id', '=', b).executeTakeFirstOrThrow());
    const res = await db.forAccount(a, (tx) => tx.updateTable('admins').set({ role: 'auditor' }).where('id', '=', bAdmin.id).executeTakeFirst());
    expect(Number(res.numUpdatedRows)).toBe(0);
    const del = await db.forAccount(a, (tx) => tx.deleteFrom('admins').where('id', '=', bAdmin.id).executeTakeFirst());
    expect(Number(del.numDeletedRows)).toBe(0);
  });

  it('does not let the app role bypass row-level security', async () => {
    const role = await sql<{ rolsuper: boolean; rolbypassrls: boolean }>`select rolsuper, rolbypassrls from pg_roles where rolname = ${APP_ROLE}`.execute(db.kysely);
    expect(role.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
    const me = await sql<{ u: string }>`select current_user as u`.execute(db.kysely);
    expect(me.rows[0]!.u).toBe(APP_ROLE);
    // Turning row security off makes a query that RLS would filter fail rather than see everything.
    await expect(
      db.kysely.connection().execute(async (c) => {
        await sql`set row_security = off`.execute(c);
        try {
          return await sql`select * from admins`.execute(c);
        } finally {
          await sql`reset row_security`.execute(c);
        }
      }),
    ).rejects.toThrow(/row-level security/);
    await expect(sql`alter table admins disable row level security`.execute(db.kysely)).rejects.toThrow(/must be owner/);
    await expect(sql`alter table admins no force row level security`.execute(db.kysely)).rejects.toThrow(/must be owner/);
    await expect(sql`drop policy account_isolation on admins`.execute(db.kysely)).rejects.toThrow(/must be owner/);
    await expect(sql`create table sneaky (id int)`.execute(db.kysely)).rejects.toThrow(/permission denied/);
  });

  it('enables and forces row-level security on every account table, and the app role owns none', async () => {
    const rows = await sql<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; owner: string }>`
      select c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) as owner
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r'`.execute(db.kysely);
    for (const table of ACCOUNT_TABLES) {
      const r = rows.rows.find((x) => x.relname === table);
      expect(r, table).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
    }
    expect(rows.rows.filter((r) => r.owner === APP_ROLE)).toEqual([]);
  });

  it('gives the app role no UPDATE or DELETE on the audit log', async () => {
    await expect(db.forAccount(a, (tx) => sql`update audit_events set action = 'x'`.execute(tx))).rejects.toThrow(/permission denied/);
    await expect(db.forAccount(a, (tx) => sql`delete from audit_events`.execute(tx))).rejects.toThrow(/permission denied/);
  });

  it('opens a transaction with its account (sent with BEGIN), and an account id that is not a UUID as a parameter, never as text', async () => {
    const inside = await db.forAccount(a, async (tx) => (await sql<{ acc: string; open: boolean }>`select current_setting('app.account_id') as acc, now() = statement_timestamp() as open`.execute(tx)).rows[0]!);
    expect(inside.acc).toBe(a);
    expect(inside.open).toBe(false); // a transaction: now() is when it began, before this statement
    const odd = "x', true); select set_config('app.system', 'on', true); select ('";
    const seen = await db.forAccount(odd, async (tx) => (await sql<{ acc: string; sys: string | null }>`select current_setting('app.account_id') as acc, current_setting('app.system', true) as sys`.execute(tx)).rows[0]!);
    expect(seen.acc).toBe(odd);
    expect(seen.sys || null).toBeNull(); // unset, or reset to empty after an earlier system transaction
    // The policies read it as a UUID, so such an account sees no row: its queries fail.
    await expect(db.forAccount(odd, (tx) => tx.selectFrom('admins').select('id').execute())).rejects.toThrow(/invalid input syntax for type uuid/);
  });

  it("does not leak the previous transaction's account on a pooled connection", async () => {
    // One connection in the pool: the same one serves every call below.
    const pid1 = await db.forAccount(a, async (tx) => (await sql<{ p: number }>`select pg_backend_pid() as p`.execute(tx)).rows[0]!.p);
    const after = await sql<{ n: number; p: number; acc: string | null }>`
      select (select count(*)::int from admins) as n, pg_backend_pid() as p, current_setting('app.account_id', true) as acc`.execute(db.kysely);
    expect(after.rows[0]!.p).toBe(pid1);
    expect(after.rows[0]!.n).toBe(0);
    expect(after.rows[0]!.acc || null).toBeNull();
    const sys = await db.system('operator command', (tx) => tx.selectFrom('admins').select('id').execute());
    expect(sys.length).toBe(2);
    const afterSystem = await sql<{ n: number }>`select count(*)::int as n from admins`.execute(db.kysely);
    expect(afterSystem.rows[0]!.n).toBe(0);
    // A transaction that fails does not leave its account behind either.
    await expect(db.forAccount(b, async (tx) => { await sql`select 1/0`.execute(tx); })).rejects.toThrow();
    const afterFailure = await sql<{ n: number }>`select count(*)::int as n from admins`.execute(db.kysely);
    expect(afterFailure.rows[0]!.n).toBe(0);
  });

  it('lets a separate login role work as the app role through its own URL', async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pippin_login') THEN CREATE ROLE pippin_login LOGIN PASSWORD 'pw'; END IF; END $$`);
    await admin.end();
    const loginUrl = new URL(url);
    loginUrl.username = 'pippin_login';
    loginUrl.password = 'pw';
    // Migrating as the owner grants the app role to the login named by DATABASE_URL.
    await migratePostgres(url, loginUrl.toString());
    const asLogin = openPostgres(loginUrl.toString(), { poolSize: 1 });
    try {
      const seen = await asLogin.forAccount(b, (tx) => tx.selectFrom('admins').select('email').execute());
      expect(seen.map((r) => r.email)).toEqual(['b@b.example']);
      const none = await sql<{ n: number }>`select count(*)::int as n from admins`.execute(asLogin.kysely);
      expect(none.rows[0]!.n).toBe(0);
    } finally {
      await asLogin.close();
    }
  });
});
