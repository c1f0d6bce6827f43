import type { Clock } from '../core/clock.js';

/**
 * Slows repeated sign-in failures, per (email, IP) and per IP. After `freeFailures` failures in
 * the window, each further attempt must wait 2^(extra failures) seconds, capped. Applies the same
 * way whether or not the email exists, so it reveals nothing. Kept in memory of each node.
 */
export class SignInThrottle {
  private readonly entries = new Map<string, { failures: number; first: number; nextAllowed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly opts = { freeFailures: 5, freeFailuresPerIp: 50, windowMs: 15 * 60_000, maxDelayMs: 15 * 60_000 },
  ) {}

  /** Seconds to wait before another attempt is allowed, or 0. */
  retryAfter(emailKey: string, ip: string): number {
    const now = this.clock.now().getTime();
    let wait = 0;
    for (const key of [`e:${emailKey}|${ip}`, `ip:${ip}`]) {
      const e = this.entries.get(key);
      if (e && e.nextAllowed > now) wait = Math.max(wait, Math.ceil((e.nextAllowed - now) / 1000));
    }
    return wait;
  }

  failed(emailKey: string, ip: string): void {
    this.bump(`e:${emailKey}|${ip}`, this.opts.freeFailures);
    this.bump(`ip:${ip}`, this.opts.freeFailuresPerIp);
    if (this.entries.size > 100_000) this.prune();
  }

  succeeded(emailKey: string, ip: string): void {
    this.entries.delete(`e:${emailKey}|${ip}`);
  }

  private bump(key: string, free: number): void {
    const now = this.clock.now().getTime();
    let e = this.entries.get(key);
    if (!e || now - e.first > this.opts.windowMs) e = { failures: 0, first: now, nextAllowed: 0 };
    e.failures += 1;
    const extra = e.failures - free;
    if (extra > 0) e.nextAllowed = now + Math.min(this.opts.maxDelayMs, 1000 * 2 ** (extra - 1));
    this.entries.set(key, e);
  }

  private prune(): void {
    const now = this.clock.now().getTime();
    for (const [k, e] of this.entries) if (now - e.first > this.opts.windowMs && e.nextAllowed < now) this.entries.delete(k);
  }
}
