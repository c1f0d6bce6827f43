/** Bulk Add's secrets thread: the same HMACs and sealed notices as the calling thread makes, and the same when the thread is gone. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { doSecretsWork, inThreadSecrets, offThreadSecrets, type SecretsWork } from '../../src/enrollments/bulk-secrets.js';
import { passcodeHash, tokenHash } from '../../src/enrollments/secrets.js';
import type { EnrollmentNoticeInputs } from '../../src/notify/enrollment-notice.js';
import { unseal } from '../../src/notify/seal.js';

const secretKey = randomBytes(32);

function work(n: number, tag: string): SecretsWork {
  const requests = Array.from({ length: n }, (_, i) => ({ id: crypto.randomUUID(), token: `${tag}-token-${i}`, passcode: `P${tag}${i}`.toUpperCase() }));
  const notices: EnrollmentNoticeInputs[] = requests.map((r, i) => ({
    requestId: r.id, channel: 'email', to: `user${i}@corp.example`, accountName: 'Acme "<&>"', username: `user${i}`, fullName: 'Zoë Ünïcode', url: `https://pippin.example/enroll/${r.token}`,
    passcode: r.passcode, platform: 'ios', userEnrollment: true, managedAppleId: `user${i}@appleid.example.com`, authMode: 'passcode', seamless: false, expiresAt: '2026-12-08T00:00:00.000Z', resend: false,
  }));
  return { requests, notices: notices.map((n) => JSON.stringify(n)) };
}

function expectDone(w: SecretsWork, done: Awaited<ReturnType<typeof doSecretsWork>>) {
  expect(done.tokenHashes).toEqual(w.requests.map((r) => tokenHash(secretKey, r.token)));
  expect(done.passcodeHashes).toEqual(w.requests.map((r) => passcodeHash(secretKey, r.id, r.passcode)));
  expect(done.sealed.map((s) => unseal(secretKey, s))).toEqual(w.notices.map((n) => JSON.parse(n)));
  // Each seal has its own nonce.
  expect(new Set(done.sealed.map((s) => s.slice(0, 16))).size).toBe(done.sealed.length);
}

describe('Bulk Add secrets', () => {
  it('makes on its thread what the calling thread makes, for work sent before earlier work is answered, each answered in its own order', async () => {
    const runner = offThreadSecrets(secretKey);
    try {
      const works = ['a', 'b', 'c'].map((tag, i) => work(200 + i * 50, tag));
      const done = await Promise.all(works.map((w) => runner.run(w)));
      works.forEach((w, i) => expectDone(w, done[i]!));
      expect(runner.threadRuns).toBe(3);
      const small = work(3, 'd');
      expectDone(small, await inThreadSecrets(secretKey).run(small));
    } finally {
      await runner.close();
    }
  });

  it('does the work in the calling thread once its thread has failed: the same results, and the same error for work that cannot be done', async () => {
    const runner = offThreadSecrets(secretKey);
    try {
      const bad = work(2, 'g');
      (bad.requests[1] as unknown as { token: unknown }).token = 10n; // not text: the thread's HMAC throws, and the thread ends
      const good = work(5, 'h');
      const [failed, after] = [runner.run(bad), runner.run(good)];
      await expect(failed).rejects.toThrow(/must be of type string/);
      expectDone(good, await after);
      expectDone(good, await runner.run(good));
      expect(runner.threadRuns).toBe(0);
    } finally {
      await runner.close();
    }
  });

  it('starts a new thread for work that comes after it was closed', async () => {
    const runner = offThreadSecrets(secretKey);
    const first = work(10, 'e');
    expectDone(first, await runner.run(first));
    await runner.close();
    // A closed runner starts a new thread for later work.
    const second = work(10, 'f');
    expectDone(second, await runner.run(second));
    expect(runner.threadRuns).toBe(2);
    await runner.close();
  });
});
