/**
 * MllpListener on plain TCP, driven by raw node:net sockets so the bytes on the wire are in
 * view. The FrameHandler is a fake that answers with a tiny ACK naming the frame's MSH-10; that
 * keeps these tests about the listener (ordering, limits, shutdown) and not about ingest.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MllpListener, type FrameAnswer, type FrameHandler, type ListenerEvents, type ListenerOptions } from '../../src/mllp/listener.js';

const VT = '\x0b';
const FS = '\x1c';
const CR = '\r';

/** A synthetic ORU with no patient data; only MSH-10 changes between frames. */
function message(controlId: string, padding = ''): string {
  return (
    `MSH|^~\\&|LIS|LAB|ENGINE|HOSP|20260101120000||ORU^R01|${controlId}|P|2.5.1${CR}` +
    `OBX|1|ST|TEST^Test||value${padding}${CR}`
  );
}

function frame(controlId: string, padding = ''): Buffer {
  return Buffer.from(`${VT}${message(controlId, padding)}${FS}${CR}`, 'latin1');
}

function controlIdOf(payload: Buffer): string {
  return payload.toString('latin1').split(CR)[0]?.split('|')[9] ?? '';
}

/** The fake's ACK: MSA-2 is the frame's MSH-10, so the order of answers is visible. */
function ackFor(controlId: string, code = 'AA'): FrameAnswer {
  const text = `MSH|^~\\&|ENGINE|HOSP|LIS|LAB|20260101120001||ACK|ACK-${controlId}|P|2.5.1${CR}MSA|${code}|${controlId}${CR}`;
  return { ack: Buffer.from(text, 'latin1'), code, outcome: 'accepted', controlId, type: 'ORU^R01' };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Bounds every wait: a listener bug must fail the test with a reason, not hang the suite. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface FakeHandler extends FrameHandler {
  readonly frames: string[];
  readonly oversize: { head: Buffer; totalBytes: number }[];
  readonly incomplete: { head: Buffer; bytes: number; reason: string }[];
  /** Most handleFrame calls that were running at the same time. */
  peakInFlight: number;
  /** Resolves when handleFrame has been called `n` times in total. */
  called(n: number): Promise<void>;
}

interface FakeBehaviour {
  /** Milliseconds before the answer to this frame (by MSH-10) resolves; default 0. */
  readonly delayMs?: (controlId: string) => number;
  /** Frames (by MSH-10) whose handling rejects. */
  readonly rejects?: (controlId: string) => boolean;
}

function fakeHandler(behaviour: FakeBehaviour = {}): FakeHandler {
  let inFlight = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const fake: FakeHandler = {
    frames: [],
    oversize: [],
    incomplete: [],
    peakInFlight: 0,
    called(n) {
      if (fake.frames.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async handleFrame(payload) {
      const controlId = controlIdOf(payload);
      fake.frames.push(controlId);
      for (const w of waiters.filter((x) => fake.frames.length >= x.n)) w.resolve();
      inFlight++;
      fake.peakInFlight = Math.max(fake.peakInFlight, inFlight);
      try {
        const ms = behaviour.delayMs?.(controlId) ?? 0;
        if (ms > 0) await delay(ms);
        if (behaviour.rejects?.(controlId)) throw new Error('fake handler failure');
        return ackFor(controlId);
      } finally {
        inFlight--;
      }
    },
    async handleOversize(head, totalBytes) {
      // The framer hands over a copy; keep one, as the DLQ would.
      fake.oversize.push({ head: Buffer.from(head), totalBytes });
      return ackFor(controlIdOf(head), 'AR');
    },
    async handleIncomplete(head, bytes, reason) {
      fake.incomplete.push({ head: Buffer.from(head), bytes, reason });
      return ackFor(controlIdOf(head), 'AR');
    },
  };
  return fake;
}

interface Recorded {
  readonly refused: { peer: string; reason: string }[];
  readonly discarded: number[];
  readonly opened: string[];
  readonly closed: string[];
  readonly failures: unknown[];
}

/** ListenerEvents that record everything and let a test await a condition on the record. */
function recorder(): { events: ListenerEvents; seen: Recorded; until(what: string, ok: (r: Recorded) => boolean, ms?: number): Promise<void> } {
  const seen: Recorded = { refused: [], discarded: [], opened: [], closed: [], failures: [] };
  const checks = new Set<() => void>();
  const changed = (): void => {
    for (const c of [...checks]) c();
  };
  const events: ListenerEvents = {
    connectionOpened: (peer) => {
      seen.opened.push(peer);
      changed();
    },
    connectionClosed: (peer) => {
      seen.closed.push(peer);
      changed();
    },
    connectionRefused: (peer, reason) => {
      seen.refused.push({ peer, reason });
      changed();
    },
    discarded: (bytes) => {
      seen.discarded.push(bytes);
      changed();
    },
    handlerFailed: (err) => {
      seen.failures.push(err);
      changed();
    },
  };
  const until = (what: string, ok: (r: Recorded) => boolean, ms = 5000): Promise<void> =>
    within(
      ms,
      what,
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (ok(seen)) {
            checks.delete(check);
            resolve();
          }
        };
        checks.add(check);
        check();
      }),
    ).finally(() => checks.clear());
  return { events, seen, until };
}

function options(over: Partial<ListenerOptions> = {}): ListenerOptions {
  return {
    channel: 'listener-test',
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1 << 20,
    idleTimeoutSeconds: 0,
    maxConnections: 10,
    tls: null,
    isAddressAllowed: () => true,
    ...over,
  };
}

async function startListener(
  t: TestContext,
  handler: FrameHandler,
  over: Partial<ListenerOptions> = {},
  events: ListenerEvents = {},
): Promise<{ listener: MllpListener; port: number }> {
  const listener = new MllpListener(options(over), handler, events);
  const addr = await listener.listen();
  t.after(() => listener.close(500));
  return { listener, port: addr.port };
}

/** A raw client socket that collects every byte the listener sends back. */
interface RawClient {
  readonly socket: net.Socket;
  /** All bytes received so far. */
  received(): Buffer;
  /** Resolves with the payloads of the first `n` complete MLLP frames received. */
  answers(n: number, ms?: number): Promise<Buffer[]>;
  /** Resolves when the listener has closed the connection. */
  closed(ms?: number): Promise<void>;
}

async function connect(t: TestContext, port: number, host = '127.0.0.1', allowHalfOpen = false): Promise<RawClient> {
  const socket = net.connect({ host, port, allowHalfOpen });
  t.after(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let wake: (() => void) | null = null;
  let isClosed = false;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    wake?.();
  });
  socket.on('error', () => undefined); // a reset by the listener shows up as 'close'
  socket.on('close', () => {
    isClosed = true;
    wake?.();
  });
  await within(2000, 'the TCP connection', new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  }));
  const received = (): Buffer => Buffer.concat(chunks);
  const waitFor = (what: string, ok: () => boolean, ms: number): Promise<void> =>
    within(
      ms,
      what,
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (ok()) {
            wake = null;
            resolve();
          }
        };
        wake = check;
        check();
      }),
    );
  return {
    socket,
    received,
    async answers(n, ms = 5000) {
      let payloads: Buffer[] = [];
      await waitFor(`${n} answer frame(s)`, () => {
        payloads = splitFrames(received());
        return payloads.length >= n || isClosed;
      }, ms);
      assert.ok(payloads.length >= n, `connection closed after ${payloads.length} of ${n} answers`);
      return payloads.slice(0, n);
    },
    closed(ms = 5000) {
      return waitFor('the listener to close the connection', () => isClosed, ms);
    },
  };
}

/** Complete VT…FS CR frames in received bytes; the fake's ACKs never contain VT or FS. */
function splitFrames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const start = bytes.indexOf(0x0b, at);
    if (start === -1) return out;
    const end = bytes.indexOf(0x1c, start);
    if (end === -1 || end + 1 >= bytes.length) return out;
    assert.equal(bytes[end + 1], 0x0d, 'every answer frame ends FS CR');
    out.push(bytes.subarray(start + 1, end));
    at = end + 2;
  }
}

/** MSA-1 and MSA-2 of an answer. */
function msa(ack: Buffer): { code: string; controlId: string } {
  const segment = ack.toString('latin1').split(CR).find((s) => s.startsWith('MSA|')) ?? '';
  const [, code = '', controlId = ''] = segment.split('|');
  return { code, controlId };
}

function connectFails(port: number, host = '127.0.0.1'): Promise<string> {
  return within(
    3000,
    `a connection attempt to ${host}:${port} to be refused`,
    new Promise<string>((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        reject(new Error(`connected to ${host}:${port}, expected a refusal`));
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    }),
  );
}

// Linux routes all of 127.0.0.0/8 to the loopback interface with no setup, so 127.0.0.2 is a
// second local address on every machine the suite runs on.
const OTHER_LOCAL_ADDRESS = '127.0.0.2';

test('binds to the configured host only: a listener on 127.0.0.1 is not reachable on 127.0.0.2', async (t) => {
  const { listener, port } = await startListener(t, fakeHandler(), { host: '127.0.0.1' });
  assert.equal(listener.address.address, '127.0.0.1');
  assert.equal(await connectFails(port, OTHER_LOCAL_ADDRESS), 'ECONNREFUSED');
  const client = await connect(t, port);
  client.socket.write(frame('BIND1'));
  const [ack] = await client.answers(1);
  assert.deepEqual(msa(ack!), { code: 'AA', controlId: 'BIND1' });
});

test('a listener on 0.0.0.0 is reachable on 127.0.0.2, so the refusal above comes from the binding', async (t) => {
  const { listener, port } = await startListener(t, fakeHandler(), { host: '0.0.0.0' });
  assert.equal(listener.address.address, '0.0.0.0');
  const client = await connect(t, port, OTHER_LOCAL_ADDRESS);
  client.socket.write(frame('BIND2'));
  const [ack] = await client.answers(1);
  assert.deepEqual(msa(ack!), { code: 'AA', controlId: 'BIND2' });
});

test('several frames in one write are answered in the order they were sent', async (t) => {
  const { port } = await startListener(t, fakeHandler());
  const client = await connect(t, port);
  client.socket.write(Buffer.concat([frame('ONE'), frame('TWO'), frame('THREE')]));
  const acks = await client.answers(3);
  assert.deepEqual(acks.map((a) => msa(a).controlId), ['ONE', 'TWO', 'THREE']);
});

test('frames are answered in arrival order even when the handler finishes them out of order', async (t) => {
  const handler = fakeHandler({ delayMs: (id) => (id === 'SLOW' ? 300 : 0) });
  const { port } = await startListener(t, handler);
  const client = await connect(t, port);
  client.socket.write(Buffer.concat([frame('SLOW'), frame('FAST')]));
  const acks = await client.answers(2);
  assert.deepEqual(acks.map((a) => msa(a).controlId), ['SLOW', 'FAST']);
  // Both were handed over before the slow one finished: handling is concurrent, answering is not.
  assert.equal(handler.peakInFlight, 2);
});

test('a frame written one byte at a time gets its answer', async (t) => {
  const { port } = await startListener(t, fakeHandler());
  const client = await connect(t, port);
  const bytes = frame('BYTEWISE');
  client.socket.setNoDelay(true);
  for (const b of bytes) {
    await new Promise<void>((resolve, reject) => client.socket.write(Buffer.from([b]), (err) => (err ? reject(err) : resolve())));
  }
  const [ack] = await client.answers(1);
  assert.deepEqual(msa(ack!), { code: 'AA', controlId: 'BYTEWISE' });
});

test('garbage outside frames is reported as discarded and does not stop later frames', async (t) => {
  const rec = recorder();
  const { port } = await startListener(t, fakeHandler(), {}, rec.events);
  const client = await connect(t, port);
  const garbage = Buffer.from('GET / HTTP/1.1\r\n\r\n', 'latin1');
  client.socket.write(Buffer.concat([garbage, frame('AFTER-GARBAGE'), Buffer.from('\r\n\r\n'), frame('LATER')]));
  const acks = await client.answers(2);
  assert.deepEqual(acks.map((a) => msa(a).controlId), ['AFTER-GARBAGE', 'LATER']);
  await rec.until('discarded bytes', (r) => r.discarded.reduce((a, b) => a + b, 0) >= garbage.length + 4);
  assert.equal(rec.seen.discarded.reduce((a, b) => a + b, 0), garbage.length + 4);
});

test('an oversize frame gets the handler\'s oversize answer and then the listener closes the connection', async (t) => {
  const handler = fakeHandler();
  const { port } = await startListener(t, handler, { maxFrameBytes: 1024 });
  const client = await connect(t, port);
  const big = frame('TOO-BIG', 'x'.repeat(2000));
  client.socket.write(big);
  const [ack] = await client.answers(1);
  assert.deepEqual(msa(ack!), { code: 'AR', controlId: 'TOO-BIG' });
  await client.closed();
  assert.equal(handler.frames.length, 0, 'the oversize frame never reaches handleFrame');
  assert.equal(handler.oversize.length, 1);
  const { head, totalBytes } = handler.oversize[0]!;
  assert.ok(totalBytes > 1024, `total ${totalBytes} is past the limit`);
  assert.ok(head.toString('latin1').startsWith('MSH|^~\\&|LIS|LAB|'), 'the head starts at the payload, without VT');
  assert.ok(head.length <= 1024);
});

test('a 50 MB stream without FS keeps the listener\'s memory far below 50 MB', { timeout: 60_000 }, async (t) => {
  const handler = fakeHandler();
  const rec = recorder();
  const { port } = await startListener(t, handler, { maxFrameBytes: 1 << 20 }, rec.events);
  // Retained memory, not garbage: dropped 64 KiB reads are garbage until the next collection.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const retained = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = retained();
  // Half-open: the sender keeps streaming after the listener's answer and FIN, like a peer that
  // does not read; all 50 MB reach the listener.
  const client = await connect(t, port, '127.0.0.1', true);
  // One reusable 64 KiB chunk, so the sender itself holds no more than that.
  const chunk = Buffer.alloc(64 * 1024, 'A');
  const total = 50 * 1024 * 1024;
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, retained() - before);
  };
  let sent = 0;
  client.socket.write(Buffer.from(`${VT}${message('ENDLESS')}`, 'latin1'));
  await within(30_000, 'the 50 MB stream', (async () => {
    while (sent < total && client.socket.writable) {
      sent += chunk.length;
      if (!client.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            client.socket.off('drain', done).off('close', done);
            resolve();
          };
          client.socket.on('drain', done).on('close', done);
        });
      }
      if (sent % (4 * 1024 * 1024) === 0) sample();
    }
  })());
  assert.equal(sent, total, 'the listener kept reading (and dropping) the whole stream');
  client.socket.end();
  await client.closed(10_000);
  sample();
  assert.equal(handler.oversize.length, 1, 'the frame is refused once');
  assert.ok(handler.oversize[0]!.totalBytes > 1 << 20);
  const [ack] = splitFrames(client.received());
  assert.deepEqual(msa(ack!), { code: 'AR', controlId: 'ENDLESS' });
  assert.ok(peak < 16 * 1024 * 1024, `memory grew by ${Math.round(peak / 1024 / 1024)} MB while ${Math.round(sent / 1024 / 1024)} MB were sent`);
  await rec.until('the listener to close its side', (r) => r.closed.length === 1);
});

test('an idle connection is closed after idleTimeoutSeconds', async (t) => {
  const { port } = await startListener(t, fakeHandler(), { idleTimeoutSeconds: 1 });
  const client = await connect(t, port);
  const started = Date.now();
  await client.closed(5000);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before the 1 s idle timeout`);
  assert.equal(client.received().length, 0);
});

test('a peer that never closes its side after the listener ended the connection is dropped after the close grace', async (t) => {
  const rec = recorder();
  const { listener, port } = await startListener(t, fakeHandler(), { maxFrameBytes: 1024, idleTimeoutSeconds: 1, closeGraceMs: 500 }, rec.events);
  // Half-open: this peer takes the answer and FIN but never sends its own FIN.
  const client = await connect(t, port, '127.0.0.1', true);
  client.socket.write(frame('TOO-BIG', 'x'.repeat(2000)));
  const [ack] = await client.answers(1);
  assert.equal(msa(ack!).code, 'AR');
  await rec.until('the listener to drop the connection', (r) => r.closed.length === 1, 5000);
  assert.equal(listener.connectionCount, 0, 'the connection slot is free again');
});

test('with no frame deadline, a peer that falls silent in the middle of a frame is given up at the idle timeout, its partial frame handed over', async (t) => {
  const rec = recorder();
  const handler = fakeHandler();
  const { listener, port } = await startListener(t, handler, { idleTimeoutSeconds: 1, frameTimeoutMs: 0, closeGraceMs: 200 }, rec.events);
  const client = await connect(t, port);
  const partial = Buffer.from('MSH|^~\\&|A|B|C|D|20260101||ADT^A01|SILENT-1|P|2.5\rPID|1', 'latin1');
  client.socket.write(Buffer.concat([Buffer.from([0x0b]), partial]));
  const [ack] = await client.answers(1, 5000);
  assert.equal(msa(ack!).code, 'AR');
  assert.deepEqual(
    handler.incomplete.map((i) => [i.reason, i.bytes, i.head.toString('latin1')]),
    [['timeout', partial.length, partial.toString('latin1')]],
  );
  await rec.until('the listener to drop the connection', (r) => r.closed.length === 1, 5000);
  assert.equal(listener.connectionCount, 0);
});

test('maxConnections: the next connection is refused until one of the open ones closes', async (t) => {
  const rec = recorder();
  const { port } = await startListener(t, fakeHandler(), { maxConnections: 2 }, rec.events);
  const first = await connect(t, port);
  const second = await connect(t, port);
  await rec.until('two open connections', (r) => r.opened.length === 2);

  const third = await connect(t, port);
  await third.closed();
  await rec.until('the refusal', (r) => r.refused.length === 1);
  assert.equal(rec.seen.refused[0]!.reason, 'max-connections');
  assert.equal(rec.seen.opened.length, 2, 'a refused connection is never reported as opened');

  first.socket.end();
  await first.closed();
  await rec.until('the first connection to be closed on the listener side', (r) => r.closed.length >= 1);
  const fourth = await connect(t, port);
  fourth.socket.write(frame('FOURTH'));
  const [ack] = await fourth.answers(1);
  assert.equal(msa(ack!).controlId, 'FOURTH');
  second.socket.write(frame('SECOND'));
  assert.equal(msa((await second.answers(1))[0]!).controlId, 'SECOND');
});

test('a peer the allow-list refuses is closed before any byte, with reason address', async (t) => {
  const rec = recorder();
  const handler = fakeHandler();
  const { port } = await startListener(t, handler, { isAddressAllowed: () => false }, rec.events);
  const client = await connect(t, port);
  client.socket.write(frame('REFUSED'));
  await client.closed();
  await rec.until('the refusal', (r) => r.refused.length === 1);
  assert.equal(rec.seen.refused[0]!.reason, 'address');
  assert.equal(client.received().length, 0);
  assert.equal(handler.frames.length, 0);
  assert.equal(rec.seen.opened.length, 0, 'a refused connection is never reported as opened');
});

test('close() stops accepting but still answers the frame in flight before ending the socket', async (t) => {
  const handler = fakeHandler({ delayMs: () => 300 });
  const { listener, port } = await startListener(t, handler);
  const client = await connect(t, port);
  client.socket.write(frame('IN-FLIGHT'));
  await within(2000, 'the frame to reach the handler', handler.called(1));

  // A grace deadline far beyond the wait below: close() resolving at all shows it did not wait
  // for the deadline but for the drained connection.
  const closing = listener.close(10 * 60_000);
  assert.equal(await connectFails(port), 'ECONNREFUSED');
  await client.closed();
  const acks = splitFrames(client.received());
  assert.equal(acks.length, 1, 'the answer was written before the socket ended');
  assert.deepEqual(msa(acks[0]!), { code: 'AA', controlId: 'IN-FLIGHT' });
  await within(30_000, 'close() to resolve once the drained connection is gone (the 10-minute grace deadline is not what ends it)', closing);
});

test('a handler that rejects still gets the sender an AE, and the connection keeps working', async (t) => {
  const rec = recorder();
  const handler = fakeHandler({ rejects: (id) => id === 'BOOM' });
  const { port } = await startListener(t, handler, {}, rec.events);
  const client = await connect(t, port);
  client.socket.write(frame('BOOM'));
  const [ae] = await client.answers(1);
  assert.equal(msa(ae!).code, 'AE');
  assert.equal(rec.seen.failures.length, 1);

  client.socket.write(frame('NEXT'));
  const acks = await client.answers(2);
  assert.deepEqual(msa(acks[1]!), { code: 'AA', controlId: 'NEXT' });
});

test('backpressure: 2000 pipelined frames to a slow handler all get answers, in order', { timeout: 60_000 }, async (t) => {
  const maxPipelined = 16;
  const handler = fakeHandler({ delayMs: () => 2 });
  const { port } = await startListener(t, handler, { maxPipelined });
  const client = await connect(t, port);
  const ids = Array.from({ length: 2000 }, (_, i) => `P${String(i).padStart(4, '0')}`);
  // ~1 KiB frames, so one 64 KiB socket read holds about 60 of them.
  const padding = 'p'.repeat(900);
  client.socket.write(Buffer.concat(ids.map((id) => frame(id, padding))));
  const acks = await client.answers(ids.length, 40_000);
  assert.deepEqual(acks.map((a) => msa(a).controlId), ids);
  // Reading paused: far fewer than 2000 frames were ever waiting in the handler at once.
  assert.ok(handler.peakInFlight < 200, `peak of ${handler.peakInFlight} frames in the handler at once`);
});
