/**
 * Every keyset list refuses a cursor it did not write (a bad instant, an id that is no UUID, the
 * wrong number of values) with 400 VALIDATION_FAILED before any query sees it, on both engines:
 * PostgreSQL once answered such cursors with 500. The directory's own sorts are tested with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/core/paging.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

const AT = '2026-12-02T01:00:00.000Z';
const ID = '01900000-0000-7000-8000-000000000001';

/** Lists ordered by an instant, newest first, then by id. */
const BY_TIME = ['/api/v1/jobs', '/api/v1/audit', '/api/v1/enrollment-requests', '/api/v1/devices', '/api/v1/tokens'];

describe.each(ENGINES)('keyset cursors on %s', (engine) => {
  let t: TestPippin;
  beforeAll(async () => {
    t = await createTestPippin(engine);
  });
  afterAll(() => t?.close());

  const forged = (path: string, values: unknown[]) => t.call(t.owner, 'GET', `${path}?cursor=${encodeCursor(values as never)}`);

  it.each(BY_TIME)('%s refuses a forged cursor and pages with a well-formed one', async (path) => {
    for (const values of [['yesterday', ID], [AT, 'not-a-uuid'], [AT], [AT, ID, 'more'], [42, ID], [null, ID]]) {
      const res = await forged(path, values);
      expect(res.statusCode, JSON.stringify(values)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
    // Before the first instant there is nothing older.
    const res = await forged(path, ['1970-01-01T00:00:00.000Z', ID]);
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([]);
  });

  it('/api/v1/admins (by email) refuses a forged cursor and pages with a well-formed one', async () => {
    // A sort key may be any text, a number or null (keys of other lists); anything else is refused.
    for (const values of [['a', 'not-a-uuid'], ['a'], [{}, ID], [true, ID], [['a'], ID]]) {
      const res = await forged('/api/v1/admins', values);
      expect(res.statusCode, JSON.stringify(values)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
    const res = await forged('/api/v1/admins', ['\u{10FFFF}', ID]);
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([]);
  });

  it('refuses text that is no cursor at all', async () => {
    for (const path of [...BY_TIME, '/api/v1/admins', '/api/v1/users']) {
      for (const cursor of ['zzz', '%00', encodeURIComponent(Buffer.from('{"a":1}').toString('base64url'))]) {
        const res = await t.call(t.owner, 'GET', `${path}?cursor=${cursor}`);
        expect(res.statusCode, `${path} ${cursor}`).toBe(400);
      }
    }
  });
});
