import type { Clock } from '../core/clock.js';

/** Spaces out sends: `take()` resolves when the next message may go. */
export interface Pacer {
  take(): Promise<void>;
}

const sleepFor = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A token bucket: `rate` tokens a second, holding at most `burst` (default 1, so sends are spaced
 * 1/rate s apart and no second ever sees more than `rate` of them after the first). Each `take()`
 * reserves its token at once (the bucket may go into debt) and then sleeps exactly until that token
 * has accrued: one timer per wait, never a polling loop, and concurrent callers queue fairly.
 */
export function tokenBucket(opts: { rate: number; burst?: number; clock: Clock; sleep?: (ms: number) => Promise<void> }): Pacer {
  if (!(opts.rate > 0)) throw new RangeError(`rate must be positive (got ${opts.rate})`);
  const burst = opts.burst ?? 1;
  const sleep = opts.sleep ?? sleepFor;
  let tokens = burst;
  let last = opts.clock.now().getTime();
  return {
    async take() {
      const now = opts.clock.now().getTime();
      tokens = Math.min(burst, tokens + (Math.max(0, now - last) * opts.rate) / 1000);
      last = Math.max(last, now);
      tokens -= 1;
      if (tokens < 0) await sleep(Math.ceil((-tokens * 1000) / opts.rate));
    },
  };
}
