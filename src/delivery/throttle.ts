/**
 * A destination's throttle: a token bucket shared by all its connections, so a receiver that
 * asked for at most N messages a second gets at most N however many partitions go out in
 * parallel. Every send takes a token, resends included: the receiver counts what it receives.
 *
 * Tokens are reserved, not waited for: `reserve()` takes one now (possibly going into debt) and
 * says how long the caller must wait before sending. Concurrent callers therefore queue in the
 * order they asked, each a 1/rate later than the one before, with no timer shared between them.
 * The clock is injected, so the arithmetic is tested without waiting.
 */

export interface ThrottlePolicy {
  readonly messagesPerSecond: number;
  /** Sends allowed back to back after an idle spell; default 1 (evenly spaced). */
  readonly burst: number;
}

export class TokenBucket {
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  /** `now` in milliseconds; default performance.now (monotonic: a wall-clock jump does not open the gate). */
  constructor(policy: ThrottlePolicy, now: () => number = () => performance.now()) {
    if (!(policy.messagesPerSecond > 0) || !Number.isFinite(policy.messagesPerSecond)) throw new RangeError(`messagesPerSecond must be a positive number, not ${policy.messagesPerSecond}`);
    if (!Number.isInteger(policy.burst) || policy.burst < 1) throw new RangeError(`burst must be a whole number of at least 1, not ${policy.burst}`);
    this.#intervalMs = 1000 / policy.messagesPerSecond;
    this.#burst = policy.burst;
    this.#now = now;
    this.#tokens = policy.burst;
    this.#at = now();
  }

  /** Takes a token and returns the milliseconds to wait before using it (0: send now). */
  reserve(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) / this.#intervalMs);
    this.#at = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : -this.#tokens * this.#intervalMs;
  }

  /** Reserves a token and waits for it with `sleep` (the caller's, so a shutdown can interrupt it). */
  async take(sleep: (ms: number) => Promise<void>): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await sleep(Math.ceil(wait));
  }
}
