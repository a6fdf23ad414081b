/**
 * The destination throttle's token bucket, on a clock the test moves by hand: how long each send
 * waits follows from the rate and the burst alone, whatever the machine's load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/delivery/index.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('2 messages a second, burst 1: the first goes at once, callers at the same instant queue 500 ms apart', () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 2, burst: 1 }, c.now);
  assert.deepEqual([b.reserve(), b.reserve(), b.reserve(), b.reserve()], [0, 500, 1000, 1500]);
});

test('waiting out the reservation: after 500 ms the next caller waits 500 ms again, not 0', () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 2, burst: 1 }, c.now);
  assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 500);
  c.advance(500); // the second caller sends now
  assert.equal(b.reserve(), 500);
});

test('an idle spell does not bank more than the burst: after 10 s idle, burst 3 lets 3 go, then 250 ms apart', () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 4, burst: 3 }, c.now);
  for (let i = 0; i < 3; i++) assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 250);
  c.advance(10_000);
  assert.deepEqual([b.reserve(), b.reserve(), b.reserve(), b.reserve(), b.reserve()], [0, 0, 0, 250, 500]);
});

test('a fractional rate: 0.5 a second is one message every 2 seconds', () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 0.5, burst: 1 }, c.now);
  assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 2000);
  c.advance(1000);
  assert.equal(b.reserve(), 3000);
});

test('over any stretch, sends allowed never exceed burst + rate × elapsed (100 callers, 1 ms apart)', () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 10, burst: 2 }, c.now);
  const sendAt: number[] = [];
  for (let i = 0; i < 100; i++) {
    sendAt.push(c.now() + b.reserve());
    c.advance(1);
  }
  assert.equal(sendAt.length, 100);
  for (let i = 0; i < sendAt.length; i++) {
    for (let j = i; j < sendAt.length; j++) {
      const window = sendAt[j]! - sendAt[i]!;
      assert.ok(j - i + 1 <= 2 + (window * 10) / 1000 + 1e-9, `sends ${i}..${j} within ${window} ms`);
    }
  }
  // Evenly spaced once the burst is spent: the 100th send is 98 intervals after the burst.
  assert.equal(Math.round(sendAt[99]! - sendAt[0]!), 9800);
});

test('take() sleeps exactly the reserved time with the caller\'s sleep, and not at all when a token is there', async () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 3, burst: 1 }, c.now);
  const slept: number[] = [];
  const sleep = (ms: number): Promise<void> => {
    slept.push(ms);
    return Promise.resolve();
  };
  await b.take(sleep);
  await b.take(sleep);
  await b.take(sleep);
  assert.deepEqual(slept, [334, 667]);
});

test('a stop during the wait rejects take() with the sleep\'s own error (the record stays uncommitted)', async () => {
  const c = clock();
  const b = new TokenBucket({ messagesPerSecond: 1, burst: 1 }, c.now);
  await b.take(() => Promise.resolve());
  await assert.rejects(b.take(() => Promise.reject(new Error('stopping'))), /stopping/);
});

test('a rate or burst that cannot work is refused with what was given', () => {
  assert.throws(() => new TokenBucket({ messagesPerSecond: 0, burst: 1 }), /messagesPerSecond must be a positive number, not 0/);
  assert.throws(() => new TokenBucket({ messagesPerSecond: Number.NaN, burst: 1 }), /not NaN/);
  assert.throws(() => new TokenBucket({ messagesPerSecond: 5, burst: 0 }), /burst must be a whole number of at least 1, not 0/);
});
