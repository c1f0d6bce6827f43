import { describe, expect, it } from 'vitest';
import { tokenBucket } from '../../src/notify/pace.js';

/** A fake clock whose sleeps move it forward, recording each one (a busy loop would show as many tiny sleeps). */
function virtualTime() {
  let ms = 1_000_000;
  const sleeps: number[] = [];
  return {
    clock: { now: () => new Date(ms) },
    sleep: async (d: number) => {
      sleeps.push(d);
      ms += d;
    },
    sleeps,
    now: () => ms,
    pass: (d: number) => void (ms += d),
  };
}

describe('the token bucket that paces the outbox', () => {
  it('lets no more than `rate` messages through in any second, sleeping once per wait', async () => {
    const v = virtualTime();
    const bucket = tokenBucket({ rate: 20, clock: v.clock, sleep: v.sleep });
    const sentAt: number[] = [];
    for (let i = 0; i < 100; i++) {
      await bucket.take();
      sentAt.push(v.now());
    }
    for (const start of sentAt) expect(sentAt.filter((at) => at >= start && at < start + 1000).length).toBeLessThanOrEqual(20);
    expect(sentAt[99]! - sentAt[0]!).toBe(99 * 50);
    expect(v.sleeps).toHaveLength(99);
    expect(v.sleeps.every((s) => s === 50)).toBe(true);
  });

  it('does not save up tokens while idle beyond its burst', async () => {
    const v = virtualTime();
    const bucket = tokenBucket({ rate: 10, clock: v.clock, sleep: v.sleep });
    await bucket.take();
    v.pass(60_000);
    await bucket.take();
    expect(v.sleeps).toEqual([]);
    await bucket.take();
    expect(v.sleeps).toEqual([100]);
  });

  it('queues concurrent callers one interval apart', async () => {
    const v = virtualTime();
    const waits: number[] = [];
    const bucket = tokenBucket({ rate: 4, burst: 2, clock: v.clock, sleep: async (d) => void waits.push(d) });
    await Promise.all(Array.from({ length: 5 }, () => bucket.take()));
    expect(waits).toEqual([250, 500, 750]);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => tokenBucket({ rate: 0, clock: { now: () => new Date() } })).toThrow(RangeError);
  });
});
