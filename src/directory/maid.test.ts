import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkManagedAppleId } from './maid.js';

const a = (n: number) => 'a'.repeat(n);
// A domain of exactly n characters: labels of 63 joined by dots, ending in ".com".
function domainOf(n: number): string {
  const labels: string[] = [];
  let left = n - 4; // ".com"
  while (left > 0) {
    const len = Math.min(63, left - (labels.length ? 1 : 0));
    if (len <= 0) break;
    labels.push('d'.repeat(len));
    left -= len + (labels.length > 1 ? 1 : 0);
  }
  const d = `${labels.join('.')}.com`;
  return d;
}

describe('checkManagedAppleId', () => {
  it.each([
    ['jane@appleid.example.com', 'jane@appleid.example.com'],
    ['  Jane.Doe@AppleID.Example.COM \t', 'jane.doe@appleid.example.com'],
    ['first.last+tag@example.org', 'first.last+tag@example.org'],
    ["o'brien@example.org", "o'brien@example.org"],
    ['j_d-1!#$%&*=?^`{|}~@example.io', 'j_d-1!#$%&*=?^`{|}~@example.io'],
    ['jane@school.appleid.com', 'jane@school.appleid.com'],
    ['jane@xn--bcher-kva.example', 'jane@xn--bcher-kva.example'],
    ['jane@example.xn--p1ai', 'jane@example.xn--p1ai'],
    [`${a(64)}@example.com`, `${a(64)}@example.com`],
    ['a@b.co', 'a@b.co'],
    ['JANE@EXAMPLE.COM', 'jane@example.com'],
  ])('accepts %s', (raw, stored) => {
    expect(checkManagedAppleId(raw)).toEqual({ ok: true, value: stored });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['jane', 'no @'],
    ['@example.com', 'before @ is empty'],
    ['jane@', 'domain is empty'],
    ['jané@example.com', 'printable ASCII'],
    ['jane@exämple.com', 'invalid label'],
    ['jane doe@example.com', 'white space'],
    ['jane\u00a0doe@example.com', 'white space'],
    ['.jane@example.com', 'starts or ends with a dot'],
    ['jane.@example.com', 'starts or ends with a dot'],
    ['ja..ne@example.com', 'two dots'],
    ['jane@.example.com', 'empty label'],
    ['jane@example.com.', 'empty label'],
    ['jane@example..com', 'empty label'],
    ['jane@[192.168.0.1]', 'invalid label'],
    ['jane@192.168.0.1', 'not alphabetic'],
    ['jane@localhost', 'fully qualified'],
    ['jane@example.123', 'not alphabetic'],
    ['jane@-example.com', 'invalid label'],
    ['jane@example-.com', 'invalid label'],
    ['jane@exa_mple.com', 'invalid label'],
    [`${a(65)}@example.com`, 'longer than 64'],
    ['ja(ne)@example.com', 'contains one of'],
    ['ja"ne"@example.com', 'contains one of'],
    ['ja,ne@example.com', 'contains one of'],
    ['ja;ne@example.com', 'contains one of'],
    ['ja\\ne@example.com', 'contains one of'],
    ['ja[ne]@example.com', 'contains one of'],
    ['a@b@example.com', 'contains one of'], // split at the last @: the local part "a@b" holds an @
    [`jane@${'l'.repeat(64)}.com`, 'longer than 63'],
  ])('refuses %j (%s)', (raw, reason) => {
    const r = checkManagedAppleId(raw);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain(reason);
  });

  it('takes 254 characters in all and refuses 255', () => {
    const d254 = domainOf(254 - 2);
    const ok = `a@${d254}`;
    expect(ok.length).toBe(254);
    expect(checkManagedAppleId(ok).ok).toBe(true);
    const tooLong = `ab@${d254}`;
    expect(tooLong.length).toBe(255);
    expect(checkManagedAppleId(tooLong)).toMatchObject({ ok: false, reason: expect.stringContaining('longer than 254') });
  });

  it('stores lower case, so case variants are the same MAID', () => {
    fc.assert(
      fc.property(fc.constantFrom('Jane@Example.com', 'JANE@EXAMPLE.COM', 'jane@example.COM', 'jAnE@eXaMpLe.CoM'), (v) => {
        expect(checkManagedAppleId(v)).toEqual({ ok: true, value: 'jane@example.com' });
      }),
    );
  });

  it('is idempotent on what it accepts, and never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.emailAddress()), (s) => {
        const r = checkManagedAppleId(s);
        if (r.ok) expect(checkManagedAppleId(r.value)).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });
});
