import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../src/core/paging.js';
import { domainNameProblem, normaliseKey } from '../src/core/names.js';
import { MASK, maskSecrets } from '../src/audit/model.js';
import { hashPassword, verifyPassword } from '../src/accounts/passwords.js';
import { SignInThrottle } from '../src/accounts/throttle.js';
import { systemRandom, UUID_PATTERN } from '../src/core/clock.js';
import { validate as uuidValid, version as uuidVersion } from 'uuid';

describe('keyset cursors', () => {
  it('round-trip any key values', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { minLength: 1, maxLength: 4 }), (values) => {
        expect(decodeCursor(encodeCursor(values), values.map(() => 'key'))).toEqual(values);
      }),
    );
  });
  it('round-trip ids and instants, and refuse what is neither where one is due', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }), (id, at) => {
        const values = [at.toISOString(), id];
        expect(decodeCursor(encodeCursor(values), ['instant', 'id'])).toEqual(values);
      }),
    );
    for (const values of [
      ['2026-12-02T01:00:00.000Z', 'not-a-uuid'],
      ['yesterday', '01a23455-bce4-71ef-a936-32962f1f0743'],
      ['2026-13-45T99:00:00Z', '01a23455-bce4-71ef-a936-32962f1f0743'],
      [null, '01a23455-bce4-71ef-a936-32962f1f0743'],
      ['2026-12-02T01:00:00.000Z', 7],
    ]) {
      expect(() => decodeCursor(encodeCursor(values as (string | number | null)[]), ['instant', 'id'])).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
  });
  it('refuse garbage with VALIDATION_FAILED, never a crash', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          decodeCursor(s, ['key', 'id']);
        } catch (e) {
          expect((e as { code: string }).code).toBe('VALIDATION_FAILED');
        }
      }),
    );
  });
});

describe('domain names', () => {
  it.each([
    ['example.com', null],
    ['appleid.example.com', null],
    ['xn--bcher-kva.example', null],
    ['a-b.co', null],
  ])('accepts %s', (d, expected) => expect(domainNameProblem(d, { fullyQualified: true })).toBe(expected));
  it.each(['localhost', 'example.123', '-a.com', 'a-.com', 'a..com', '.a.com', 'a.com.', 'exa mple.com', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`, ''])(
    'refuses %s as a fully qualified domain',
    (d) => expect(domainNameProblem(d, { fullyQualified: true })).not.toBeNull(),
  );
  it('accepts a single label when not fully qualified', () => expect(domainNameProblem('localhost', { fullyQualified: false })).toBeNull());
  it('normalises keys to NFC lower case, idempotently', () => {
    expect(normaliseKey('  Ade\u0301le@Example.COM ')).toBe('ad\u00e9le@example.com');
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => { expect(normaliseKey(normaliseKey(s))).toBe(normaliseKey(s)); }), { numRuns: 2000 });
  });
  it('skips NFC for ASCII keys without changing any key: the same as trim, lower-case and NFC for any text', () => {
    const full = (s: string) => s.trim().toLowerCase().normalize('NFC');
    for (const s of ['Å', ' Å ', 'İ', 'Straße', 'İSTANBUL', 'plain ascii', '']) expect(normaliseKey(s)).toBe(full(s));
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string()), (s) => { expect(normaliseKey(s)).toBe(full(s)); }), { numRuns: 3000 });
  });
});

describe('audit masking', () => {
  it('masks secrets at any depth and keeps everything else', () => {
    const masked = maskSecrets({ email: 'a@b.c', password: 'p', nested: { token: 't', list: [{ secretHash: 'h', ok: 1 }] }, passcode: null });
    expect(masked).toEqual({ email: 'a@b.c', password: MASK, nested: { token: MASK, list: [{ secretHash: MASK, ok: 1 }] }, passcode: null });
  });
  it('never lets a secret value through', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8 }), fc.constantFrom('password', 'token', 'passcode', 'secret', 'privateKey'), (value, key) => {
        expect(JSON.stringify(maskSecrets({ a: { [key]: value } }))).not.toContain(JSON.stringify(value));
      }),
    );
  });
});

describe('passwords', () => {
  it('verify with scrypt and refuse wrong passwords and malformed hashes', async () => {
    const h = await hashPassword('correct horse');
    expect(h).toMatch(/^scrypt\$/);
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct horse ', h)).toBe(false);
    expect(await verifyPassword('x', 'plain')).toBe(false);
  });
});

describe('sign-in throttle', () => {
  it('lets five failures through, then doubles the wait, and forgets after success', () => {
    let now = 0;
    const t = new SignInThrottle({ now: () => new Date(now) });
    for (let i = 0; i < 5; i++) {
      expect(t.retryAfter('a', 'ip')).toBe(0);
      t.failed('a', 'ip');
    }
    expect(t.retryAfter('a', 'ip')).toBe(0);
    t.failed('a', 'ip');
    expect(t.retryAfter('a', 'ip')).toBe(1);
    now += 1000;
    t.failed('a', 'ip');
    expect(t.retryAfter('a', 'ip')).toBe(2);
    expect(t.retryAfter('b', 'ip')).toBe(0);
    t.succeeded('a', 'ip');
    expect(t.retryAfter('a', 'ip')).toBe(0);
  });
});

describe('ids', () => {
  /** The Unix milliseconds of a UUIDv7: its first 48 bits. */
  const msOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

  it('are UUIDv7s, each greater than the one before, carrying the time they were made', () => {
    const before = Date.now();
    const ids = Array.from({ length: 100_000 }, () => systemRandom.id());
    const after = Date.now();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      expect(id).toMatch(UUID_PATTERN);
      expect(uuidValid(id) && uuidVersion(id)).toBe(7);
      expect('89ab').toContain(id[19]);
      if (i) expect(id > ids[i - 1]!).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(msOf(ids[0]!)).toBeGreaterThanOrEqual(before);
    // A millisecond's counter that runs out moves on to the next: at most one millisecond ahead per 2,048 ids.
    expect(msOf(ids[ids.length - 1]!)).toBeLessThanOrEqual(after + Math.ceil(ids.length / 2048));
  });

  it('differ in their random bits, not only their counter', () => {
    const ids = Array.from({ length: 2_000 }, () => systemRandom.id());
    const tails = new Set(ids.map((id) => id.slice(19)));
    expect(tails.size).toBe(ids.length);
    // Every hex digit turns up at each random position.
    for (const at of [20, 24, 30, 35]) expect(new Set(ids.map((id) => id[at])).size).toBe(16);
  });
});
