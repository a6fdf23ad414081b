/**
 * Retrying Kafka writes that failed for a passing reason (broker down, leader moving, produce
 * timeout) without hammering a broker that is down, and telling those apart from a record the
 * broker will never take (too large, corrupt), which retrying cannot fix.
 *
 * - Backoff: exponential with "full jitter" (a random delay between 0 and the exponential cap),
 *   so many workers that failed together do not retry together.
 * - CircuitBreaker: after `failureThreshold` failures in a row it opens and refuses attempts for
 *   `openMs`; then one probe (half-open) decides whether it closes again or stays open.
 * - Time comes from a Clock, so tests drive all of it with a fake clock and no real waiting.
 */
import kafkajs from 'kafkajs';
import { PublishTimeoutError } from './producer.js';

const { KafkaJSProtocolError } = kafkajs;

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Growth per attempt; default 2. */
  readonly multiplier?: number;
  /**
   * Share of the delay that is random: 1 (default) is full jitter, delay in [0, cap];
   * 0 is none, delay = cap. A value in between keeps (1 - jitter) of the cap as a floor.
   */
  readonly jitter?: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 1 };

/** The delay before retry number `attempt` (1 = the first retry). `random` returns [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const growth = policy.multiplier ?? 2;
  const cap = Math.min(policy.maxMs, policy.initialMs * growth ** Math.max(0, attempt - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 1));
  return Math.round(cap * (1 - jitter) + cap * jitter * random());
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Failures in a row that open the circuit. Default 5. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe may pass. Default 10 s. */
  readonly openMs?: number;
  readonly clock?: Clock;
  /** Told about every state change (logs, metrics). */
  readonly onStateChange?: (state: BreakerState, consecutiveFailures: number) => void;
}

export class CircuitOpenError extends Error {
  readonly retryInMs: number;
  constructor(retryInMs: number) {
    super(`Kafka writes are paused after repeated failures (circuit open); next attempt in ${retryInMs} ms`);
    this.name = 'CircuitOpenError';
    this.retryInMs = retryInMs;
  }
}

export class CircuitBreaker {
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly clock: Clock;
  private readonly onStateChange: CircuitBreakerOptions['onStateChange'];
  private failures = 0;
  private openedAt = 0;
  private current: BreakerState = 'closed';
  private probing = false;

  constructor(opts: CircuitBreakerOptions = {}) {
    this.threshold = Math.max(1, opts.failureThreshold ?? 5);
    this.openMs = opts.openMs ?? 10_000;
    this.clock = opts.clock ?? systemClock;
    this.onStateChange = opts.onStateChange;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.clock.now() - this.openedAt >= this.openMs) return 'half-open';
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds until an attempt may pass; 0 when one may pass now. */
  waitMs(): number {
    const s = this.state;
    if (s === 'closed') return 0;
    if (s === 'half-open') return this.probing ? this.openMs : 0;
    return Math.max(0, this.openMs - (this.clock.now() - this.openedAt));
  }

  /**
   * Asks to make one attempt. True when it may go ahead; in half-open only the first caller
   * gets through (the probe), the others wait for its verdict.
   */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.probing) return false;
    this.probing = true;
    this.set('half-open');
    return true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') this.set('closed');
  }

  onFailure(): void {
    this.failures++;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || (this.current === 'closed' && this.failures >= this.threshold)) {
      this.openedAt = this.clock.now();
      this.set('open');
    }
  }

  private set(state: BreakerState): void {
    if (this.current === state) return;
    this.current = state;
    this.onStateChange?.(state, this.failures);
  }
}

/** Why a Kafka write failed, as far as retrying is concerned. */
export type FailureKind = 'transient' | 'record-rejected';

/**
 * Broker error codes that refuse this record itself: sending it again gives the same answer.
 * Everything else (connection lost, not the leader, timeouts, unknown errors) is treated as
 * transient, because retrying a write never loses anything while dead-lettering a good record
 * on a passing fault would send an analyst chasing nothing.
 */
const RECORD_REJECTED = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_REQUIRED_ACKS',
]);

function protocolType(err: unknown): string | null {
  if (err instanceof KafkaJSProtocolError) return err.type;
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { type?: unknown; apiId?: unknown };
  if (typeof e.type === 'string') return e.type;
  // @platformatic/kafka's ProtocolError names the broker's error code in apiId.
  if (typeof e.apiId === 'string') return e.apiId;
  return null;
}

/**
 * The errors inside `err`, outermost first: kafkajs wraps the last one in `cause`
 * (KafkaJSNumberOfRetriesExceeded), @platformatic/kafka in AggregateErrors ("Producing messages
 * failed." → "produce failed 6 times." → one error per attempt) and `cause`.
 */
function nested(err: unknown, depth = 0): unknown[] {
  if (typeof err !== 'object' || err === null || depth > 8) return [];
  const out: unknown[] = [err];
  const inner: unknown[] = [];
  if (err instanceof AggregateError) inner.push(...(err.errors as unknown[]));
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== err) inner.push(cause);
  for (const e of inner) out.push(...nested(e, depth + 1));
  return out;
}

export function classifyKafkaError(err: unknown): FailureKind {
  if (err instanceof PublishTimeoutError || err instanceof CircuitOpenError) return 'transient';
  // Judged by the broker's answer wherever the client wrapped it.
  for (const e of nested(err)) {
    const type = protocolType(e);
    if (type !== null && RECORD_REJECTED.has(type)) return 'record-rejected';
  }
  return 'transient';
}

/** A short, content-free description of a Kafka error for logs and DLQ details. */
export function kafkaErrorCode(err: unknown): string {
  const all = nested(err);
  for (const e of all) {
    const type = protocolType(e);
    if (type) return type;
  }
  // No broker error code: the innermost error says most (e.g. a refused connection).
  const last = all[all.length - 1];
  if (last instanceof Error) {
    const code = (last as Error & { code?: unknown }).code;
    return typeof code === 'string' && code !== '' ? `${last.name} ${code}` : last.name;
  }
  return err instanceof Error ? err.name : typeof err;
}

export interface RetryOptions {
  readonly backoff?: BackoffPolicy;
  readonly breaker?: CircuitBreaker;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Attempts in all, first included; default unlimited (stop with `signal`). */
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal;
  readonly classify?: (err: unknown) => FailureKind;
  /** Told before each wait: the failure, the attempt that failed, and the wait. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export class RetryAbortedError extends Error {
  constructor(readonly lastError: unknown) {
    super('retrying stopped before the write succeeded');
    this.name = 'RetryAbortedError';
  }
}

/**
 * Runs `attempt` until it succeeds. A transient failure waits (backoff with jitter, or the
 * breaker's remaining open time when that is longer) and tries again; a record-rejected failure
 * is thrown at once, for the caller to dead-letter. Throws the last error after `maxAttempts`,
 * or RetryAbortedError when `signal` aborts.
 */
export async function retry<T>(attempt: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const classify = opts.classify ?? classifyKafkaError;
  const max = opts.maxAttempts ?? Number.POSITIVE_INFINITY;
  const breaker = opts.breaker;
  let lastError: unknown = null;
  for (let n = 1; ; n++) {
    if (opts.signal?.aborted) throw new RetryAbortedError(lastError);
    let err: unknown;
    if (breaker && !breaker.tryAcquire()) {
      err = new CircuitOpenError(breaker.waitMs());
    } else {
      try {
        const value = await attempt();
        breaker?.onSuccess();
        return value;
      } catch (e) {
        err = e;
        if (classify(e) === 'record-rejected') {
          // The broker answered, so it is up: this record is the problem, not the connection.
          breaker?.onSuccess();
          throw e;
        }
        breaker?.onFailure();
      }
    }
    lastError = err;
    if (n >= max) throw err;
    const delay = Math.max(backoffDelay(backoff, n, opts.random), breaker?.waitMs() ?? 0);
    opts.onRetry?.(err, n, delay);
    await clock.sleep(delay, opts.signal);
  }
}
