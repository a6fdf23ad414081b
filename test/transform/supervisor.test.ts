/**
 * The restart loop on its own, with fake members and real (short) timers: a member that stops by
 * itself is disconnected and replaced, a start that fails is retried with growing delays, and a
 * stop() during the wait ends it with no timer left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { STOP_REASONS, Supervisor, stopReasonOf, type MemberEvents, type MemberStopped, type StopReason, type SupervisedMember } from '../../src/transform/index.js';

class FakeMember implements SupervisedMember {
  stopped = 0;
  aborted = 0;
  constructor(
    readonly n: number,
    readonly events: MemberEvents,
  ) {}
  async stop(): Promise<void> {
    this.stopped++;
  }
  async abort(): Promise<void> {
    this.aborted++;
  }
}

function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** A supervisor whose members are recorded; `fail(n)` makes the n-th start reject. */
function harness(opts: { failStarts?: ReadonlySet<number>; upOnStart?: boolean } = {}) {
  const members: FakeMember[] = [];
  const log: string[] = [];
  const delays: number[] = [];
  let starts = 0;
  const sup = new Supervisor<FakeMember>({
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 1,
    startMember: async (events) => {
      const n = ++starts;
      if (opts.failStarts?.has(n)) throw new TypeError('broker unreachable');
      const m = new FakeMember(n, events);
      members.push(m);
      if (opts.upOnStart ?? true) events.up();
      return m;
    },
    onUp: (restarts) => log.push(`up after ${restarts} restarts`),
    onDown: (why: MemberStopped, retryInMs) => {
      delays.push(retryInMs);
      log.push(`down ${why.reason}`);
    },
    onRestart: (why) => log.push(`restart after ${why.reason}`),
  });
  return { sup, members, log, delays, starts: () => starts };
}

test('a member that stops by itself is aborted and a new member is started; the supervisor is up again', async () => {
  const h = harness();
  await h.sup.start();
  assert.equal(h.sup.up, true);
  h.members[0]!.events.stopped({ reason: 'connection', error: 'KafkaJSNumberOfRetriesExceeded' });
  assert.equal(h.sup.up, false, 'down at once, before the replacement starts');
  await waitFor('a second member', () => h.members.length === 2 && h.sup.up);
  assert.equal(h.members[0]!.aborted, 1, 'what was left of the stopped member was disconnected');
  assert.equal(h.sup.restartCount, 1);
  assert.equal(h.sup.current, h.members[1]);
  assert.deepEqual(h.log, ['up after 0 restarts', 'down connection', 'restart after connection', 'up after 1 restarts']);
  await h.sup.stop();
  assert.equal(h.members[1]!.stopped, 1);
});

test('a member that reports stopping twice is replaced once', async () => {
  const h = harness();
  await h.sup.start();
  const first = h.members[0]!;
  first.events.stopped({ reason: 'crash', error: 'Error' });
  first.events.stopped({ reason: 'crash', error: 'Error' });
  await waitFor('a second member', () => h.members.length === 2);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(h.members.length, 2);
  assert.equal(h.sup.restartCount, 1);
  await h.sup.stop();
});

test('events from a member already replaced are ignored', async () => {
  const h = harness();
  await h.sup.start();
  const first = h.members[0]!;
  first.events.stopped({ reason: 'fenced', error: 'KafkaJSProtocolError' });
  await waitFor('a second member', () => h.members.length === 2 && h.sup.up);
  first.events.stopped({ reason: 'crash', error: 'Error' });
  first.events.up();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(h.members.length, 2, 'no third member');
  assert.equal(h.sup.up, true);
  await h.sup.stop();
});

test('starts that fail are retried with a delay that doubles up to the maximum, then resets once consuming', async () => {
  const h = harness({ failStarts: new Set([1, 2, 3, 4]) });
  await h.sup.start();
  assert.equal(h.sup.up, false, 'the first start failed; start() still resolved');
  await waitFor('a member after four failed starts', () => h.members.length === 1 && h.sup.up, 10_000);
  assert.deepEqual(h.delays, [10, 20, 40, 40], 'random() = 1 gives the full step: 10, 20, 40, capped at 40');
  assert.deepEqual(h.log.filter((l) => l.startsWith('down')), ['down start-failed', 'down start-failed', 'down start-failed', 'down start-failed']);
  h.members[0]!.events.stopped({ reason: 'connection', error: 'KafkaJSConnectionError' });
  assert.equal(h.delays.at(-1), 10, 'after consuming again the backoff starts from the beginning');
  await waitFor('a replacement', () => h.members.length === 2);
  await h.sup.stop();
});

test('jitter keeps each delay between half and all of its step', async () => {
  const delays: number[] = [];
  const sup = new Supervisor<FakeMember>({
    backoff: { initialMs: 100, maxMs: 100 },
    random: () => 0,
    startMember: async () => {
      throw new Error('down');
    },
    onDown: (_why, ms) => delays.push(ms),
  });
  await sup.start();
  await sup.stop();
  assert.deepEqual(delays, [50]);
});

test('stop() during the backoff cancels the restart: no member is started afterwards and no timer keeps the process alive', async () => {
  const members: FakeMember[] = [];
  const sup = new Supervisor<FakeMember>({
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    startMember: async (events) => {
      const m = new FakeMember(members.length + 1, events);
      members.push(m);
      events.up();
      return m;
    },
  });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  await sup.start();
  const before = timers();
  members[0]!.events.stopped({ reason: 'crash', error: 'Error' });
  assert.ok(timers() > before, 'a restart is pending');
  await sup.stop();
  assert.equal(timers(), before, 'the 60 s restart timer (and the bound on the abort) are gone');
  assert.equal(members.length, 1);
  assert.equal(sup.up, false);
});

test('stop() while a member is starting stops that member once it has started', async () => {
  let release: () => void = () => undefined;
  const started: FakeMember[] = [];
  const sup = new Supervisor<FakeMember>({
    startMember: async (events) => {
      await new Promise<void>((r) => (release = r));
      const m = new FakeMember(1, events);
      started.push(m);
      return m;
    },
  });
  const starting = sup.start();
  await new Promise((r) => setTimeout(r, 10));
  const stopping = sup.stop();
  release();
  await Promise.all([starting, stopping]);
  assert.equal(started[0]!.stopped, 1);
  assert.equal(sup.current, null);
});

test('a member that reports stopping while it is still starting is aborted once started, and replaced', async () => {
  const members: FakeMember[] = [];
  const sup = new Supervisor<FakeMember>({
    backoff: { initialMs: 5, maxMs: 5 },
    startMember: async (events) => {
      const m = new FakeMember(members.length + 1, events);
      members.push(m);
      // kafkajs reports CRASH from inside run() when joining the group fails.
      if (members.length === 1) events.stopped({ reason: 'rebalance', error: 'KafkaJSProtocolError' });
      else events.up();
      return m;
    },
  });
  await sup.start();
  await waitFor('the replacement up', () => sup.up && members.length === 2);
  assert.equal(members[0]!.aborted, 1);
  assert.equal(sup.current, members[1]);
  await sup.stop();
});

test('why a kafkajs consumer stopped is one of a few fixed labels, read through the error’s causes', () => {
  // kafkajs' own error classes, built as kafkajs builds them (its typings omit the cause arguments).
  type ErrorClass = new (...args: unknown[]) => Error;
  const make = (cls: unknown, ...args: unknown[]): Error => new (cls as ErrorClass)(...args);
  const protocol = (type: string) => Object.assign(make(kafkajs.KafkaJSProtocolError, 'broker said no'), { type });
  const refused = make(kafkajs.KafkaJSConnectionError, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092');
  assert.equal(stopReasonOf(make(kafkajs.KafkaJSNumberOfRetriesExceeded, refused, { retryCount: 5, retryTime: 3000 })), 'connection');
  assert.equal(stopReasonOf(make(kafkajs.KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator')), 'connection');
  assert.equal(stopReasonOf(protocol('NOT_COORDINATOR_FOR_GROUP')), 'connection');
  assert.equal(stopReasonOf(protocol('REBALANCE_IN_PROGRESS')), 'rebalance');
  assert.equal(stopReasonOf(make(kafkajs.KafkaJSNonRetriableError, protocol('FENCED_INSTANCE_ID'), { cause: protocol('FENCED_INSTANCE_ID') })), 'fenced');
  assert.equal(stopReasonOf(new TypeError('Cannot read properties of undefined')), 'crash');
  assert.equal(stopReasonOf('not even an error'), 'crash');
  for (const reason of ['connection', 'rebalance', 'fenced', 'crash']) assert.ok(STOP_REASONS.includes(reason as StopReason), reason);
});
