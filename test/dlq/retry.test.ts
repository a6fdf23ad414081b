/**
 * Transient Kafka failures are retried with exponential backoff, jitter and a circuit breaker;
 * a record the broker refuses for good is handed back at once, for the dead-letter queue. All
 * time here is a fake clock: sleeping advances it, nothing really waits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import {
  CircuitBreaker,
  CircuitOpenError,
  RetryAbortedError,
  backoffDelay,
  classifyKafkaError,
  retry,
  type Clock,
} from '../../src/kafka/retry.js';
import { PublishTimeoutError } from '../../src/kafka/index.js';

const { KafkaJSProtocolError, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } = kafkajs;

class FakeClock implements Clock {
  t = 1_000_000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
}

/** A broker error answer as kafkajs raises it (the error table entry: type, code, retriable). */
function protocolError(type: string, code: number, retriable: boolean): Error {
  return new KafkaJSProtocolError(Object.assign(new Error(`broker answered ${type}`), { type, code, retriable }));
}

/** The broker's MESSAGE_TOO_LARGE answer (error code 10). */
function tooLarge(): Error {
  return protocolError('MESSAGE_TOO_LARGE', 10, false);
}

function brokerDown(): Error {
  return new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
}

/** An attempt that fails with `errors` in turn, then succeeds with 'stored'. */
function failing(...errors: Error[]): { attempt: () => Promise<string>; calls: () => number } {
  let n = 0;
  return {
    attempt: async () => {
      const e = errors[n++];
      if (e) throw e;
      return 'stored';
    },
    calls: () => n,
  };
}

test('the backoff cap doubles from the initial delay up to the maximum', () => {
  const policy = { initialMs: 100, maxMs: 1000, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy, a)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

test('full jitter spreads each delay over [0, cap]: random 0 gives 0, random just under 1 gives the cap', () => {
  const policy = { initialMs: 100, maxMs: 10_000 };
  assert.equal(backoffDelay(policy, 4, () => 0), 0);
  assert.equal(backoffDelay(policy, 4, () => 0.999999), 800);
  assert.equal(backoffDelay(policy, 4, () => 0.5), 400);
});

test('partial jitter keeps a floor of (1 - jitter) of the cap', () => {
  const policy = { initialMs: 1000, maxMs: 1000, jitter: 0.25 };
  assert.equal(backoffDelay(policy, 1, () => 0), 750);
  assert.equal(backoffDelay(policy, 1, () => 0.999999), 1000);
});

test('a broker that is down for three attempts is retried with growing delays until the write succeeds', async () => {
  const clock = new FakeClock();
  const w = failing(brokerDown(), brokerDown(), new PublishTimeoutError(5000));
  const retried: number[] = [];
  const result = await retry(w.attempt, {
    clock,
    backoff: { initialMs: 100, maxMs: 5000, jitter: 0 },
    onRetry: (_e, attempt) => retried.push(attempt),
  });
  assert.equal(result, 'stored');
  assert.equal(w.calls(), 4);
  assert.deepEqual(clock.sleeps, [100, 200, 400]);
  assert.deepEqual(retried, [1, 2, 3]);
});

test('a record the broker refuses (MESSAGE_TOO_LARGE) is not retried: the error comes back at once', async () => {
  const clock = new FakeClock();
  const w = failing(tooLarge());
  await assert.rejects(retry(w.attempt, { clock }), (e: unknown) => e instanceof KafkaJSProtocolError && e.type === 'MESSAGE_TOO_LARGE');
  assert.equal(w.calls(), 1);
  assert.deepEqual(clock.sleeps, []);
});

test('errors are classified: connection loss, timeouts and unknown errors are transient; an oversized or corrupt record is rejected for good', () => {
  assert.equal(classifyKafkaError(brokerDown()), 'transient');
  assert.equal(classifyKafkaError(new PublishTimeoutError(30_000)), 'transient');
  assert.equal(classifyKafkaError(new Error('something odd')), 'transient');
  assert.equal(classifyKafkaError(protocolError('NOT_LEADER_FOR_PARTITION', 6, true)), 'transient');
  assert.equal(classifyKafkaError(tooLarge()), 'record-rejected');
  assert.equal(classifyKafkaError(protocolError('CORRUPT_MESSAGE', 2, true)), 'record-rejected');
  // kafkajs wraps the last error when its own retries are spent: the wrapped error decides.
  assert.equal(classifyKafkaError(new KafkaJSNumberOfRetriesExceeded(tooLarge(), { retryCount: 5, retryTime: 3000 })), 'record-rejected');
  assert.equal(classifyKafkaError(new KafkaJSNumberOfRetriesExceeded(brokerDown(), { retryCount: 5, retryTime: 3000 })), 'transient');
});

test('maxAttempts bounds the retries and the last error is thrown', async () => {
  const clock = new FakeClock();
  const w = failing(brokerDown(), brokerDown(), brokerDown(), brokerDown());
  await assert.rejects(retry(w.attempt, { clock, maxAttempts: 3, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } }), KafkaJSConnectionError);
  assert.equal(w.calls(), 3);
  assert.equal(clock.sleeps.length, 2);
});

test('an aborted signal stops retrying with RetryAbortedError carrying the last failure', async () => {
  const clock = new FakeClock();
  const ac = new AbortController();
  let n = 0;
  const attempt = async (): Promise<string> => {
    if (++n === 2) ac.abort();
    throw brokerDown();
  };
  await assert.rejects(retry(attempt, { clock, signal: ac.signal }), (e: unknown) => e instanceof RetryAbortedError && e.lastError instanceof KafkaJSConnectionError);
  assert.equal(n, 2);
});

test('the circuit opens after the failure threshold and refuses attempts until the open time has passed', () => {
  const clock = new FakeClock();
  const states: string[] = [];
  const b = new CircuitBreaker({ failureThreshold: 3, openMs: 10_000, clock, onStateChange: (s) => states.push(s) });
  for (let i = 0; i < 2; i++) {
    assert.equal(b.tryAcquire(), true);
    b.onFailure();
  }
  assert.equal(b.state, 'closed');
  assert.equal(b.tryAcquire(), true);
  b.onFailure();
  assert.equal(b.state, 'open');
  assert.equal(b.tryAcquire(), false);
  clock.t += 4000;
  assert.equal(b.waitMs(), 6000);
  assert.equal(b.tryAcquire(), false);
  clock.t += 6000;
  assert.equal(b.state, 'half-open');
  assert.deepEqual(states, ['open']);
});

test('half-open lets exactly one probe through; its success closes the circuit', () => {
  const clock = new FakeClock();
  const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, clock });
  b.tryAcquire();
  b.onFailure();
  clock.t += 1000;
  assert.equal(b.tryAcquire(), true, 'the probe');
  assert.equal(b.tryAcquire(), false, 'a second caller while the probe is out');
  b.onSuccess();
  assert.equal(b.state, 'closed');
  assert.equal(b.tryAcquire(), true);
  assert.equal(b.consecutiveFailures, 0);
});

test('a failed probe opens the circuit again for a full open period', () => {
  const clock = new FakeClock();
  const b = new CircuitBreaker({ failureThreshold: 2, openMs: 1000, clock });
  b.onFailure();
  b.onFailure();
  clock.t += 1000;
  assert.equal(b.tryAcquire(), true);
  b.onFailure();
  assert.equal(b.state, 'open');
  assert.equal(b.waitMs(), 1000);
});

test('retry waits out an open circuit instead of calling a broker that is down', async () => {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 10_000, clock });
  const calledAt: number[] = [];
  let n = 0;
  const attempt = async (): Promise<string> => {
    calledAt.push(clock.now());
    if (++n <= 3) throw brokerDown();
    return 'stored';
  };
  const result = await retry(attempt, { clock, breaker, backoff: { initialMs: 100, maxMs: 100, jitter: 0 } });
  assert.equal(result, 'stored');
  const start = calledAt[0]!;
  // Two failures open the circuit; the third call is the probe 10 s later, which fails and
  // reopens it; the fourth is the next probe, 10 s after that.
  assert.deepEqual(calledAt.map((t) => t - start), [0, 100, 10_100, 20_100]);
  assert.equal(breaker.state, 'closed');
});

test('a refused record does not count against the circuit: the broker answered', async () => {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 10_000, clock });
  await assert.rejects(retry(failing(tooLarge()).attempt, { clock, breaker }));
  assert.equal(breaker.state, 'closed');
});

test('CircuitOpenError tells the operator when the next attempt is due, and is transient', () => {
  const e = new CircuitOpenError(2500);
  assert.match(e.message, /2500 ms/);
  assert.equal(classifyKafkaError(e), 'transient');
});
