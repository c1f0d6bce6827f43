import type { Clock } from './clock.js';

/**
 * Counts failures per key (an IP address) in fixed windows; past `max` failures in a window, the
 * key must wait until the window ends. Successes are not counted, so many devices behind one NAT
 * enrol freely while a flood of bad guesses from it is stopped. Kept in each node's memory.
 */
export class FailureLimit {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: { max: number; windowMs: number },
  ) {}

  /** Seconds to wait before the key may try again, or 0. */
  retryAfter(key: string): number {
    const w = this.current(key);
    if (!w || w.failures < this.opts.max) return 0;
    return Math.max(1, Math.ceil((w.start + this.opts.windowMs - this.clock.now().getTime()) / 1000));
  }

  failed(key: string): void {
    const now = this.clock.now().getTime();
    const w = this.current(key) ?? { start: now, failures: 0 };
    w.failures++;
    this.windows.set(key, w);
    if (this.windows.size > 100_000) for (const [k] of this.windows) if (!this.current(k)) this.windows.delete(k);
  }

  private current(key: string) {
    const w = this.windows.get(key);
    return w && this.clock.now().getTime() - w.start < this.opts.windowMs ? w : undefined;
  }
}
