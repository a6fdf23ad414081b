/**
 * Failed-login throttling, per user name and per client address separately (so one address
 * cannot try many names, and many addresses cannot try one name). Up to `freeFailures` failures
 * in the window cost nothing; each one after that doubles the wait before the next attempt, up
 * to `maxDelayMs`. A successful login clears the user's count, not the address's.
 */
export interface ThrottleOptions {
  readonly freeFailures: number;
  readonly windowMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { freeFailures: 5, windowMs: 15 * 60_000, baseDelayMs: 1000, maxDelayMs: 15 * 60_000 };

interface Entry {
  failures: number;
  first: number;
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: ThrottleOptions = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  private entry(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.first > this.opts.windowMs && this.now() >= e.blockedUntil) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Milliseconds to wait before this user may try again from this address; 0 = go ahead. */
  waitMs(user: string, address: string): number {
    const t = this.now();
    const waits = [`user:${user.toLowerCase()}`, `addr:${address}`].map((k) => Math.max(0, (this.entry(k)?.blockedUntil ?? 0) - t));
    return Math.max(...waits);
  }

  failed(user: string, address: string): void {
    const t = this.now();
    for (const k of [`user:${user.toLowerCase()}`, `addr:${address}`]) {
      let e = this.entry(k);
      if (!e) this.entries.set(k, (e = { failures: 0, first: t, blockedUntil: 0 }));
      e.failures++;
      const over = e.failures - this.opts.freeFailures;
      if (over > 0) e.blockedUntil = t + Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (over - 1));
    }
  }

  succeeded(user: string): void {
    this.entries.delete(`user:${user.toLowerCase()}`);
  }
}
