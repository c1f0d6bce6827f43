import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { normaliseKey } from '../../src/core/names.js';
import { encodeCursor } from '../../src/core/paging.js';
import { createTestPippin, type Caller, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';
import { sql } from 'kysely';
import fc from 'fast-check';
import { nameWordChanges, userStore } from '../../src/directory/store.kysely.js';
import { accountNumbers } from '../../src/db/account-numbers.js';
import { indexedNameWords, nameWords } from '../../src/directory/model.js';
import type { UserChanges, UserStore } from '../../src/directory/store.js';

/** Binary (UTF-8 byte) order, as both engines sort key columns. */
const byteCompare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('name-word changes', () => {
  it('split a name into its words once each, in order, however many words it has', () => {
    const word = fc.constantFrom('Ada', 'ada', 'ÅSA', 'a\u030asa', 'King', 'x', '', '-', '(', 'O.Neil', '_');
    fc.assert(
      fc.property(fc.array(word, { maxLength: 30 }), fc.constantFrom(' ', '  ', ',', '\t'), (words, sep) => {
        const name = words.join(sep);
        const expected = [...new Set(normaliseKey(name).split(/[\s,.;:()"/\\_-]+/u).filter((w) => w.length > 0))];
        expect(nameWords(name)).toEqual(expected);
        // The indexed words: all but a leading one, whose prefixes the full-name index answers.
        const key = normaliseKey(name);
        expect(indexedNameWords(name)).toEqual(expected.length && key.startsWith(expected[0]!) ? expected.slice(1) : expected);
      }),
    );
  });

  it('take the rows before to the rows after, touching none that both hold', () => {
    const holder = fc.record({
      // Up to 30 words of 20: names of a few words, and of more than the scan is used for.
      fullName: fc
        .array(fc.constantFrom('Ada', 'ada', 'Byron', 'King', 'x', 'Lovelace-King', '(Ada)', ...'bcdefghijklmn'.split('')), { maxLength: 30 })
        .map((w) => w.join(' ')),
      usernameKey: fc.constantFrom('u1', 'u2'),
      domainKey: fc.constantFrom('d1', 'd2'),
    });
    const rows = (h: { fullName: string; usernameKey: string; domainKey: string }) => indexedNameWords(h.fullName).map((w) => `${w}|${h.usernameKey}|${h.domainKey}`);
    fc.assert(
      fc.property(holder, holder, (before, after) => {
        const { gone, added } = nameWordChanges(before, after);
        const goneRows = gone.map((w) => `${w}|${before.usernameKey}|${before.domainKey}`);
        const addedRows = added.map((w) => `${w}|${after.usernameKey}|${after.domainKey}`);
        const result = new Set([...rows(before).filter((r) => !goneRows.includes(r)), ...addedRows]);
        expect([...result].sort()).toEqual(rows(after).sort());
        for (const r of [...goneRows, ...addedRows]) expect(rows(before).includes(r) && rows(after).includes(r)).toBe(false);
        expect(goneRows.every((r) => rows(before).includes(r))).toBe(true);
      }),
    );
  });
});

describe.each(ENGINES)('Users ▸ Directory on %s', (engine) => {
  let t: TestPippin;
  let n = 0;
  const unique = (p = 'u') => `${p}${++n}`;
  beforeAll(async () => {
    t = await createTestPippin(engine);
  });
  afterAll(() => t?.close());

  const create = (body: Record<string, unknown>, as: Caller = t.owner) => t.call(as, 'POST', '/api/v1/users', body);
  const newUser = (extra: Record<string, unknown> = {}) => {
    const u = unique();
    return { username: u, email: `${u}@corp.example.com`, ...extra };
  };
  const audit = async (action: string, objectId: string) =>
    (await t.call(t.owner, 'GET', `/api/v1/audit?action=${action}&objectId=${objectId}`)).json().items as any[];

  describe('create, read, update, delete', () => {
    it('adds a user with a Managed Apple ID, stored lower-cased, and audits it', async () => {
      const res = await create(newUser({ fullName: 'Jane Q. Doe', managedAppleId: '  Jane.Doe1@AppleID.Example.com ', groups: ['Sales', 'EMEA', 'Sales'], phone: '+44 (20) 7946-0000 x12' }));
      expect(res.statusCode).toBe(201);
      const user = res.json();
      expect(user).toMatchObject({ managedAppleId: 'jane.doe1@appleid.example.com', domain: 'example.com', groups: ['Sales', 'EMEA'], authType: 'local', status: 'active', devices: 0 });
      expect(user.warnings).toBeUndefined();
      expect((await t.call(t.owner, 'GET', `/api/v1/users/${user.id}`)).json()).toMatchObject({ id: user.id, fullName: 'Jane Q. Doe' });
      const [event] = await audit('user.create', user.id);
      expect(event.after.managedAppleId).toBe('jane.doe1@appleid.example.com');
    });

    it('refuses the same (username, domain) in any case with USERNAME_EXISTS, and allows it in another domain', async () => {
      const u = unique('Dup');
      expect((await create({ username: u, domain: 'Corp.example.com', email: 'a@b.example' })).statusCode).toBe(201);
      const dup = await create({ username: u.toUpperCase(), domain: 'corp.EXAMPLE.com', email: 'c@d.example' });
      expect(dup.statusCode).toBe(409);
      expect(dup.json().error).toMatchObject({ code: 'USERNAME_EXISTS', details: { issues: [{ path: 'username' }] } });
      expect((await create({ username: u, domain: 'other.example.com', email: 'e@f.example' })).statusCode).toBe(201);
    });

    it('refuses an invalid MAID with MAID_INVALID and the reason, on the field', async () => {
      const res = await create(newUser({ managedAppleId: 'jane..doe@example.com' }));
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'MAID_INVALID', message: expect.stringContaining('two dots'), details: { issues: [{ path: 'managedAppleId' }] } });
    });

    it('refuses a MAID another user holds with "Managed Apple ID already exists", whatever its case', async () => {
      const maid = `${unique('m')}@appleid.example.com`;
      expect((await create(newUser({ managedAppleId: maid }))).statusCode).toBe(201);
      const res = await create(newUser({ managedAppleId: maid.toUpperCase() }));
      expect(res.statusCode).toBe(409);
      expect(res.json().error).toMatchObject({ code: 'MAID_EXISTS', message: 'Managed Apple ID already exists', details: { issues: [{ path: 'managedAppleId', message: 'Managed Apple ID already exists' }] } });
    });

    it('checks the account MAID domains only for a well-formed MAID (MAID_DOMAIN_NOT_ALLOWED)', async () => {
      const other = await t.otherAccount();
      await t.call(other.owner, 'PATCH', '/api/v1/account', { managedAppleIdDomains: [`${engine}-${unique('d')}.example.org`] });
      const bad = await t.call(other.owner, 'POST', '/api/v1/users', newUser({ managedAppleId: 'jane@elsewhere.example.com' }));
      expect(bad.statusCode).toBe(422);
      expect(bad.json().error.code).toBe('MAID_DOMAIN_NOT_ALLOWED');
      const malformed = await t.call(other.owner, 'POST', '/api/v1/users', newUser({ managedAppleId: 'jane@elsewhere' }));
      expect(malformed.json().error.code).toBe('MAID_INVALID');
    });

    it('updates fields, links and unlinks the MAID, audits before and after, and refuses conflicts', async () => {
      const a = (await create(newUser())).json();
      const b = (await create(newUser({ managedAppleId: `${unique('b')}@appleid.example.com` }))).json();
      const linked = await t.call(t.owner, 'PATCH', `/api/v1/users/${a.id}`, { managedAppleId: `${a.username}@AppleID.example.com`, fullName: 'Alex Smith' });
      expect(linked.statusCode).toBe(200);
      expect(linked.json()).toMatchObject({ managedAppleId: `${a.username}@appleid.example.com`, fullName: 'Alex Smith' });
      const taken = await t.call(t.owner, 'PATCH', `/api/v1/users/${a.id}`, { managedAppleId: b.managedAppleId, fullName: 'Should Not Stick' });
      expect(taken.statusCode).toBe(409);
      expect(taken.json().error.message).toBe('Managed Apple ID already exists');
      const renamed = await t.call(t.owner, 'PATCH', `/api/v1/users/${a.id}`, { username: b.username.toUpperCase(), domain: b.domain });
      expect(renamed.json().error.code).toBe('USERNAME_EXISTS');
      expect((await t.call(t.owner, 'GET', `/api/v1/users/${a.id}`)).json().fullName).toBe('Alex Smith');
      const unlinked = await t.call(t.owner, 'PATCH', `/api/v1/users/${a.id}`, { managedAppleId: null });
      expect(unlinked.json().managedAppleId).toBeNull();
      const events = await audit('user.update', a.id);
      expect(events).toHaveLength(2);
      expect(events[0].before.managedAppleId).toBe(`${a.username}@appleid.example.com`);
      expect(events[0].after.managedAppleId).toBeNull();
    });

    it('keeps a user password write-only and out of the audit log', async () => {
      const res = await create(newUser({ password: 'employee-secret-1' }));
      expect(res.json().password).toBeUndefined();
      expect(res.json().passwordHash).toBeUndefined();
      const events = await audit('user.create', res.json().id);
      expect(JSON.stringify(events)).not.toMatch(/employee-secret|scrypt/);
    });

    it('deletes a user, audits it, and answers 404 afterwards', async () => {
      const u = (await create(newUser())).json();
      expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${u.id}`)).statusCode).toBe(204);
      expect((await t.call(t.owner, 'GET', `/api/v1/users/${u.id}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${u.id}`)).statusCode).toBe(404);
      expect((await audit('user.delete', u.id))[0].before.username).toBe(u.username);
    });

    it('validates the shape: required fields, phone, groups, unknown fields', async () => {
      const res = await create({ username: '', email: 'nope', phone: 'call me', groups: ['a;b'], extra: 1 });
      expect(res.statusCode).toBe(400);
      const paths = res.json().error.details.issues.map((i: { path: string }) => i.path).sort();
      expect(paths).toEqual(['email', 'extra', 'groups.0', 'phone', 'username']);
    });
  });

  describe('use email as Managed Apple ID', () => {
    let acct: { accountId: string; owner: Caller };
    let domain: string;
    beforeAll(async () => {
      acct = await t.otherAccount();
      domain = `${engine}-use-email-${Date.now()}.example.com`;
      await t.call(acct.owner, 'PATCH', '/api/v1/account', { useEmailAsManagedAppleId: true, managedAppleIdDomains: [domain] });
    });

    it('gives a user without a MAID their email when it qualifies', async () => {
      const res = await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'ann', email: `Ann@${domain}` });
      expect(res.statusCode).toBe(201);
      expect(res.json().managedAppleId).toBe(`ann@${domain}`);
    });

    it('saves the user without one, with a warning, when the email is not a valid, allowed or free MAID', async () => {
      const notAllowed = (await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'bob', email: 'bob@gmail.com' })).json();
      expect(notAllowed.managedAppleId).toBeNull();
      expect(notAllowed.warnings[0]).toMatchObject({ code: 'MAID_FROM_EMAIL_NOT_APPLIED', message: expect.stringContaining('not one of') });
      const taken = (await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'ann2', email: `ann@${domain}` })).json();
      expect(taken.managedAppleId).toBeNull();
      expect(taken.warnings[0].message).toContain('Managed Apple ID already exists');
    });

    it('applies on update when the user has none, and respects an explicit unlink', async () => {
      const u = (await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'cid', email: 'cid@gmail.com' })).json();
      const updated = (await t.call(acct.owner, 'PATCH', `/api/v1/users/${u.id}`, { email: `cid@${domain}` })).json();
      expect(updated.managedAppleId).toBe(`cid@${domain}`);
      const unlinked = (await t.call(acct.owner, 'PATCH', `/api/v1/users/${u.id}`, { managedAppleId: null })).json();
      expect(unlinked.managedAppleId).toBeNull();
    });
  });

  describe('concurrency', () => {
    it('lets exactly one of 10 concurrent creates with one MAID win', async () => {
      const maid = `race-${engine}-${Date.now()}@appleid.example.com`;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => create({ username: `racer${i}-${n}`, email: `r${i}@x.example`, managedAppleId: maid })),
      );
      const codes = results.map((r) => r.statusCode).sort();
      expect(codes.filter((c) => c === 201)).toHaveLength(1);
      expect(codes.filter((c) => c === 409)).toHaveLength(9);
      for (const r of results.filter((x) => x.statusCode === 409)) expect(r.json().error.code).toBe('MAID_EXISTS');
    });

    it('moves a user\'s version on with every update and device count, and deletes a user only at the version read', async () => {
      const { RowChanged } = await import('../../src/db/database.js');
      const u = (await create(newUser({ fullName: 'Vera Version' }))).json();
      const version = () => t.services.uow.inAccount(t.accountId, async (s) => (await s.users.get(u.id))!.version);
      expect(await version()).toBe(0);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/users/${u.id}`, { fullName: 'Vera Renamed' })).statusCode).toBe(200);
      expect(await version()).toBe(1);
      // A device enrolled after a delete read the user (with no devices) makes that delete run again.
      await t.services.uow.inAccount(t.accountId, (s) => s.users.countDevices(u.id, 1));
      expect(await version()).toBe(2);
      await expect(t.services.uow.inAccount(t.accountId, (s) => s.users.delete(u.id, 1))).rejects.toBeInstanceOf(RowChanged);
      expect((await t.call(t.owner, 'GET', `/api/v1/users?q=renamed`)).json().items.map((x: any) => x.id)).toEqual([u.id]);
      await t.services.uow.inAccount(t.accountId, (s) => s.users.countDevices(u.id, -1));
      expect(await t.services.uow.inAccount(t.accountId, (s) => s.users.delete(u.id, 3))).toBe(true);
      expect((await t.call(t.owner, 'GET', `/api/v1/users?q=renamed`)).json().items).toEqual([]);
      expect(await t.services.uow.inAccount(t.accountId, (s) => s.users.delete(u.id, 3))).toBe(false);
    });
  });

  describe('the list', () => {
    let acct: { accountId: string; owner: Caller };
    const people = [
      { username: 'zoe', fullName: 'Zoë Álvarez', email: 'zoe@corp.example', managedAppleId: 'zoe@appleid.example.com' },
      { username: 'Adam', fullName: 'Adam Smith', email: 'adam.smith@corp.example', managedAppleId: null },
      { username: 'adam2', fullName: 'Adam Smithers', email: 'as2@corp.example', managedAppleId: 'adam2@appleid.example.com' },
      { username: 'bea', fullName: 'Beatrix de Smet', email: 'bea@corp.example', managedAppleId: null },
      { username: 'Émile', fullName: 'Émile Zola', email: 'emile@corp.example', managedAppleId: 'emile@appleid.example.com' },
      { username: 'carl', fullName: '', email: 'carl@corp.example', managedAppleId: null },
      { username: 'dora', fullName: 'Dora Smith-Jones', email: 'dora@corp.example', managedAppleId: 'dora@appleid.example.com' },
      { username: '_admin', fullName: 'Service Account', email: 'svc@corp.example', managedAppleId: null },
    ];
    const list = async (qs: string) => {
      const res = await t.call(acct.owner, 'GET', `/api/v1/users?${qs}`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const all = async (qs: string, limit = 3) => {
      const seen: any[] = [];
      let cursor: string | null = null;
      do {
        const page: any = await list(`${qs}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    };
    beforeAll(async () => {
      acct = await t.otherAccount();
      for (const p of people) {
        const res = await t.call(acct.owner, 'POST', '/api/v1/users', p);
        expect(res.statusCode, res.body).toBe(201);
      }
    });

    it('sorts by username in binary key order, the same on both engines, across pages', async () => {
      const expected = [...people].sort((a, b) => byteCompare(normaliseKey(a.username), normaliseKey(b.username))).map((p) => p.username);
      expect((await all('sort=username')).map((u) => u.username)).toEqual(expected);
      expect((await all('sort=-username')).map((u) => u.username)).toEqual([...expected].reverse());
    });

    it('sorts by full name, email and creation time, both ways', async () => {
      const by = (k: 'fullName' | 'email') => [...people].sort((a, b) => byteCompare(normaliseKey(a[k]), normaliseKey(b[k])) || 0).map((p) => p.username);
      expect((await all('sort=fullName')).map((u) => u.username)).toEqual(by('fullName'));
      expect((await all('sort=email')).map((u) => u.username)).toEqual(by('email'));
      expect((await all('sort=createdAt')).map((u) => u.username)).toEqual(people.map((p) => p.username));
      expect((await all('sort=-createdAt')).map((u) => u.username)).toEqual(people.map((p) => p.username).reverse());
    });

    it('sorts by MAID, then the unlinked users by username, last in both directions, across pages of every size', async () => {
      const linked = people.filter((p) => p.managedAppleId).map((p) => normaliseKey(p.managedAppleId!)).sort(byteCompare);
      const unlinked = people.filter((p) => !p.managedAppleId).map((p) => p.username).sort((a, b) => byteCompare(normaliseKey(a), normaliseKey(b)));
      for (const limit of [1, 2, 3, 4, 5, 50]) {
        const asc = await all('sort=managedAppleId', limit);
        expect(asc.slice(0, linked.length).map((u) => normaliseKey(u.managedAppleId)), `limit ${limit}`).toEqual(linked);
        expect(asc.slice(linked.length).map((u) => u.username), `limit ${limit}`).toEqual(unlinked);
        const desc = await all('sort=-managedAppleId', limit);
        expect(desc.slice(0, linked.length).map((u) => normaliseKey(u.managedAppleId)), `limit ${limit}`).toEqual([...linked].reverse());
        expect(desc.slice(linked.length).map((u) => u.username), `limit ${limit}`).toEqual([...unlinked].reverse());
      }
      expect((await all('sort=managedAppleId&managedAppleId=present', 3)).map((u) => normaliseKey(u.managedAppleId))).toEqual(linked);
      expect((await all('sort=-managedAppleId&managedAppleId=missing', 3)).map((u) => u.username)).toEqual([...unlinked].reverse());
      expect((await list('sort=managedAppleId&managedAppleId=missing&limit=2')).total).toBe(unlinked.length);
    });

    it('filters Linked / Not linked with exact totals', async () => {
      const missing = await list('managedAppleId=missing');
      expect(missing.items.map((u: any) => u.username).sort()).toEqual(['Adam', '_admin', 'bea', 'carl'].sort());
      expect(missing.total).toBe(4);
      expect((await list('managedAppleId=present')).total).toBe(4);
      expect((await t.call(acct.owner, 'GET', '/api/v1/users/summary')).json()).toEqual({ total: 8, managedAppleIdLinked: 4, managedAppleIdMissing: 4 });
      // The same totals on a page past the last user (its statement reads no user, so no figures
      // come with it), in each sort.
      const past = encodeCursor(['\uffff', '\uffff', 'ffffffff-ffff-ffff-ffff-ffffffffffff']);
      for (const [qs, total] of [['', 8], ['managedAppleId=missing&', 4], ['managedAppleId=present&', 4]] as const) {
        const page = await list(`${qs}cursor=${past}`);
        expect(page.items).toEqual([]);
        expect(page.total).toBe(total);
      }
    });

    it('refuses a forged cursor with 400, whatever the sort (never a database error)', async () => {
      const at = '2026-12-02T01:00:00.000Z';
      const id = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
      for (const [sort, values] of [
        ['username', ['a', 'b', 'not-a-uuid']],
        ['fullName', ['a', 42]],
        ['createdAt', ['yesterday', id]],
        ['createdAt', [at]],
        ['managedAppleId', [null, 'a', 'b', 'c']],
      ] as const) {
        const res = await t.call(acct.owner, 'GET', `/api/v1/users?sort=${sort}&cursor=${encodeCursor([...values])}`);
        expect(res.statusCode, `${sort} ${JSON.stringify(values)}`).toBe(400);
        expect(res.json().error.code).toBe('VALIDATION_FAILED');
      }
      const search = await t.call(acct.owner, 'GET', `/api/v1/users?q=smi&cursor=${encodeCursor(['a', 'b', 'c'])}`);
      expect(search.statusCode).toBe(400);
      // A well-formed one still pages: past everyone, nothing.
      expect((await list(`sort=createdAt&cursor=${encodeCursor(['9999-12-31T23:59:59.000Z', id])}`)).items).toEqual([]);
    });

    it('prefix-searches username, email, MAID and any word of the full name, case-insensitively', async () => {
      const names = async (q: string, extra = '') => (await list(`q=${encodeURIComponent(q)}${extra}`)).items.map((u: any) => u.username).sort();
      expect(await names('SMI')).toEqual(['Adam', 'adam2', 'dora'].sort());
      expect(await names('smith')).toEqual(['Adam', 'adam2', 'dora'].sort());
      expect(await names('jones')).toEqual(['dora']);
      // A name's leading word is found through the full-name index, the others through name words.
      expect(await names('BEATR')).toEqual(['bea']);
      expect(await names('beatrix smet')).toEqual(['bea']);
      expect(await names('de')).toEqual(['bea']);
      expect(await names('émile')).toEqual(['Émile']);
      expect(await names('ZOLA')).toEqual(['Émile']);
      expect(await names('as2@')).toEqual(['adam2']);
      expect(await names('dora@appleid')).toEqual(['dora']);
      expect(await names('adam smith')).toEqual(['Adam', 'adam2'].sort());
      expect(await names('smith', '&managedAppleId=missing')).toEqual(['Adam']);
      expect(await names('nobody')).toEqual([]);
      expect(await names('%')).toEqual([]);
      expect(await names('_')).toEqual(['_admin']);
    });

    it('pages a search in every sort, both ways, with the same members', async () => {
      const expected = ['Adam', 'adam2', 'dora'].sort();
      for (const sort of ['username', '-username', 'email', '-fullName', 'managedAppleId', '-createdAt']) {
        const found = await all(`q=smi&sort=${sort}`, 1);
        expect(found.map((u) => u.username).sort(), sort).toEqual(expected);
      }
      const byUsername = await all('q=smi&sort=username', 1);
      expect(byUsername.map((u) => u.username)).toEqual(['Adam', 'adam2', 'dora']);
      expect((await all('q=smi&sort=-username', 2)).map((u) => u.username)).toEqual(['dora', 'adam2', 'Adam']);
      expect((await list('q=smi&limit=1')).total).toBe(3);
    });

    it('finds a renamed user by name in the new username order', async () => {
      const u = (await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'tmp-rename', fullName: 'Quentin Blake', email: 'q@corp.example' })).json();
      await t.call(acct.owner, 'PATCH', `/api/v1/users/${u.id}`, { username: '0-first' });
      const found = await list('q=quentin');
      expect(found.items.map((x: any) => x.username)).toEqual(['0-first']);
      await t.call(acct.owner, 'PATCH', `/api/v1/users/${u.id}`, { fullName: 'Roald Dahl' });
      expect((await list('q=quentin')).items).toEqual([]);
      expect((await list('q=dahl')).items.map((x: any) => x.username)).toEqual(['0-first']);
      await t.call(acct.owner, 'DELETE', `/api/v1/users/${u.id}`);
      expect((await list('q=dahl')).items).toEqual([]);
    });

    it('rewrites only the name words a change alters, by one user or by an import batch', async () => {
      const u = (await t.call(acct.owner, 'POST', '/api/v1/users', { username: 'word-diff', fullName: 'Ada Lovelace King', email: 'wd@corp.example' })).json();
      const at = new Date().toISOString();
      // Rows inserted and deleted in user_name_words by `change`, in one transaction of its own.
      const wordWrites = (change: (users: UserStore) => Promise<unknown>) =>
        t.db.forAccount(acct.accountId, async (tx) => {
          const writes = async () =>
            engine === 'sqlite'
              ? // Every row changed on the connection, the user's own row among them.
                Number((await sql<{ n: number }>`select total_changes() as n`.execute(tx)).rows[0]!.n)
              : Number((await sql<{ n: string }>`select coalesce(sum(n_tup_ins + n_tup_del), 0) as n from pg_stat_xact_user_tables where relname = 'user_name_words'`.execute(tx)).rows[0]!.n);
          const from = await writes();
          await change(userStore(tx, acct.accountId, t.db.caps, accountNumbers()));
          return (await writes()) - from - (engine === 'sqlite' ? 1 : 0);
        });
      const update = (changes: UserChanges) => wordWrites((users) => users.update(u.id, changes, at));
      const batch = (changes: UserChanges) =>
        wordWrites(async (users) => {
          const [before] = await users.findByUsernames([{ username: 'word-diff', domain: u.domain }]);
          await users.updateMany([{ before: before!, changes, mark: { jobId: uuidv7(), row: 2 } }], at);
        });
      const found = async (q: string) => (await list(`q=${q}`)).items.map((x: any) => x.username);
      expect(await update({ fullName: 'ADA LOVELACE KING' })).toBe(0);
      expect(await update({ fullName: 'Ada Lovelace Byron' })).toBe(2);
      expect(await batch({ fullName: 'ada lovelace byron' })).toBe(0);
      expect(await batch({ fullName: 'Ada Lovelace King' })).toBe(2);
      expect([await found('king'), await found('byron'), await found('lovelace')]).toEqual([['word-diff'], [], ['word-diff']]);
      // The username is in every word's key: another one rewrites them all; the same one in other
      // letter case, none.
      expect(await update({ username: 'Word-Diff' })).toBe(0);
      expect(await batch({ fullName: 'Ada Lovelace King', username: 'word-diff-2' })).toBe(4);
      expect(await found('lovelace')).toEqual(['word-diff-2']);
    });

    it('keys the users an import batch writes by their normalised values, whatever the case they come in', async () => {
      // The import hands the store MAIDs already lower-cased; the store keys what it is given.
      const id = uuidv7();
      const at = new Date().toISOString();
      const given = { id, username: 'Keys-Case', domain: 'Example.COM', email: 'Kay@Corp.Example', fullName: 'Kay CASE', phone: '', groups: [], authType: 'local' as const, managedAppleId: 'Kay.Case@AppleID.Example.com', status: 'active' as const, devices: 0, createdAt: at, updatedAt: at, passwordHash: null, version: 0 };
      await t.db.forAccount(acct.accountId, (tx) => userStore(tx, acct.accountId, t.db.caps, accountNumbers()).insertMany([given], [{ jobId: uuidv7(), row: 2 }]));
      const keys = await t.db.forAccount(acct.accountId, (tx) =>
        tx.selectFrom('users').select(['username_key', 'domain_key', 'email_key', 'full_name_key', 'maid_key']).where('id', '=', id).executeTakeFirstOrThrow(),
      );
      expect(keys).toEqual({ username_key: 'keys-case', domain_key: 'example.com', email_key: 'kay@corp.example', full_name_key: 'kay case', maid_key: 'kay.case@appleid.example.com' });
    });

    it('keeps the cursor stable under concurrent inserts: no repeats, no skips', async () => {
      const first = await list('sort=username&limit=3');
      // Users added while paging, before and after the cursor.
      for (const username of ['aaa-new', 'zzz-new', 'bz-new']) {
        await t.call(acct.owner, 'POST', '/api/v1/users', { username, email: `${username}@corp.example` });
      }
      const rest: any[] = [];
      let cursor = first.nextCursor;
      while (cursor) {
        const page = await list(`sort=username&limit=3&cursor=${cursor}`);
        rest.push(...page.items);
        cursor = page.nextCursor;
      }
      const seen = [...first.items, ...rest].map((u: any) => u.username);
      expect(new Set(seen).size).toBe(seen.length);
      for (const p of people) expect(seen).toContain(p.username);
      expect(seen).toContain('zzz-new');
      expect(seen).toContain('bz-new');
      expect(seen).not.toContain('aaa-new'); // it sorts before the cursor
    });

    it('refuses bad query parameters', async () => {
      for (const qs of ['sort=age', 'managedAppleId=maybe', 'limit=0', 'limit=201', 'cursor=zzz', 'bogus=1']) {
        expect((await t.call(acct.owner, 'GET', `/api/v1/users?${qs}`)).statusCode, qs).toBe(400);
      }
    });
  });

  it('caps total at 10,000 and keeps the summary exact', async () => {
    const acct = await t.otherAccount();
    const now = new Date().toISOString();
    const accountNo = await t.db.forAccount(acct.accountId, (tx) => accountNumbers()(tx, acct.accountId));
    const rows = Array.from({ length: 10_050 }, (_, i) => ({
      id: uuidv7(), account_id: acct.accountId, account_no: accountNo, username: `bulk${i}`, domain: 'example.net', username_key: `bulk${i}`, domain_key: 'example.net',
      email: `b${i}@example.net`, email_key: `b${i}@example.net`, full_name: '', full_name_key: '', phone: '', groups_json: '[]',
      auth_type: 'local', maid: null, maid_key: null, status: 'active', password_hash: null, device_count: 0, created_at: now, updated_at: now, version: 0,
    }));
    await t.db.forAccount(acct.accountId, async (tx) => {
      for (let i = 0; i < rows.length; i += 500) await tx.insertInto('users').values(rows.slice(i, i + 500)).execute();
      await tx.insertInto('user_stats').values({ account_id: acct.accountId, total: rows.length, linked: 0 }).execute();
    });
    const page = (await t.call(acct.owner, 'GET', '/api/v1/users?limit=5')).json();
    expect(page).toMatchObject({ total: 10_000, totalCapped: true });
    expect(page.items).toHaveLength(5);
    expect((await t.call(acct.owner, 'GET', '/api/v1/users/summary')).json()).toEqual({ total: 10_050, managedAppleIdLinked: 0, managedAppleIdMissing: 10_050 });
  });

  describe('roles and isolation', () => {
    it('lets every role read, and only owners and admins write', async () => {
      const target = (await create(newUser())).json();
      for (const role of ['admin', 'helpdesk', 'auditor'] as const) {
        const c = await t.adminWithRole(role);
        expect((await t.call(c, 'GET', '/api/v1/users')).statusCode).toBe(200);
        expect((await t.call(c, 'GET', `/api/v1/users/${target.id}`)).statusCode).toBe(200);
        expect((await t.call(c, 'GET', '/api/v1/users/summary')).statusCode).toBe(200);
        const writes = [
          await create(newUser(), c),
          await t.call(c, 'PATCH', `/api/v1/users/${target.id}`, { fullName: role }),
        ];
        const expected = role === 'admin' ? [201, 200] : [403, 403];
        expect(writes.map((w) => w.statusCode)).toEqual(expected);
      }
      const helpdesk = await t.adminWithRole('helpdesk');
      expect((await t.call(helpdesk, 'DELETE', `/api/v1/users/${target.id}`)).statusCode).toBe(403);
    });

    it("answers 404 for another account's user and never lists it", async () => {
      const other = await t.otherAccount();
      const theirs = (await t.call(other.owner, 'POST', '/api/v1/users', { username: 'secret-agent', email: 's@x.example' })).json();
      expect((await t.call(t.owner, 'GET', `/api/v1/users/${theirs.id}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'PATCH', `/api/v1/users/${theirs.id}`, { fullName: 'x' })).statusCode).toBe(404);
      expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${theirs.id}`)).statusCode).toBe(404);
      expect((await t.call(t.owner, 'GET', '/api/v1/users?q=secret')).json().items).toEqual([]);
      // The same username and MAID are free in another account.
      expect((await create({ username: 'secret-agent', email: 's@x.example' })).statusCode).toBe(201);
    });
  });
});
