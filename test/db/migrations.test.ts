import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { openSqlite } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrations.js';
import { tempDir } from '../support/db.js';

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
