/**
 * The query planner's statistics on SQLite: an import leaves them up to date, so a page of users is
 * read by id, not through a whole account's index (which took ~600 ms a page at a million users).
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createTestPippin, uploadUsers, waitForJob } from '../support/app.js';

describe('planner statistics on SQLite', () => {
  it('are refreshed after an import, and a page of users is then read through the id index', async () => {
    const t = await createTestPippin('sqlite');
    try {
      const lines = ['Username,Email Address,Full Name'];
      for (let i = 0; i < 3000; i++) lines.push(`stat${i},stat${i}@corp.example,Stat Person${i}`);
      const job = await waitForJob(t, t.owner, (await uploadUsers(t, t.owner, 'stats.csv', lines.join('\n'))).json().id);
      expect(job.counts.created).toBe(3000);
      const analysed = async () => (await sql<{ n: number }>`select count(*) as n from sqlite_stat1 where tbl = 'users'`.execute(t.db.kysely)).rows[0]!.n;
      for (let i = 0; i < 100 && (await analysed()) === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await analysed()).toBeGreaterThan(0);
      const ids = (await t.db.kysely.selectFrom('users').select('id').limit(3).execute()).map((r) => r.id);
      const plan = await sql<{ detail: string }>`explain query plan select * from users where account_id = ${t.accountId} and id in (${sql.join(ids)})`.execute(t.db.kysely);
      expect(plan.rows.map((r) => r.detail).join('\n')).toMatch(/USING INDEX sqlite_autoindex_users_1 \(id=\?\)/);
    } finally {
      await t.close();
    }
  });
});
