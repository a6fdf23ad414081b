/**
 * Issue 11, holes 2 and 3, from the sender's side against the real engine (real Kafka): peers
 * that would hold a connection slot forever lose it, one address cannot take every slot, and the
 * memory all connections hold in unfinished frames has a ceiling. Timeouts are set short in the
 * channel files so no test sleeps long; every wait is bounded and says what it waited for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { encodeFrame } from '../../src/mllp/index.js';
import { freePort } from '../support/net.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { readTopic } from '../support/kafka.js';
import { adtFor, sleep } from '../support/reliability.js';

const VT = Buffer.from([0x0b]);

async function channel(prefix: string, listener: Record<string, number>): Promise<TestEngine> {
  const keys = Object.entries(listener).map(([k, v]) => `  ${k}: ${v}\n`).join('');
  return startEngine(`name: ${uniqueChannel(prefix)}\nlistener:\n  port: ${await freePort()}\n${keys}ack:\n  mode: original\n`);
}

/**
 * A peer that connects and then ignores everything, including the engine's FIN (it never closes
 * its side). `fin` resolves when the engine half-closed or refused the connection; `closed` only
 * once the socket is gone on both sides (see probeUntilReset).
 */
interface Peer {
  readonly socket: Socket;
  readonly received: () => Buffer;
  readonly sawFin: () => boolean;
  readonly fin: Promise<void>;
  readonly closed: Promise<void>;
}

/**
 * A half-open peer cannot see whether the engine merely half-closed or destroyed its socket until
 * it writes: a destroyed socket answers with a reset. Writes a byte every 50 ms until then.
 */
async function probeUntilReset(p: Peer, ms: number, what: string): Promise<void> {
  const probe = setInterval(() => {
    if (!p.socket.destroyed) p.socket.write('x');
  }, 50);
  try {
    await within(ms, what, p.closed);
  } finally {
    clearInterval(probe);
  }
}

function peer(port: number, localAddress = '127.0.0.1'): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let fin = false;
    socket.on('data', (c: Buffer) => chunks.push(c));
    const finP = new Promise<void>((r) =>
      socket.on('end', () => {
        fin = true; // and deliberately no end() of our own
        r();
      }),
    );
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), sawFin: () => fin, fin: finP, closed }));
    socket.once('error', reject);
  });
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(ms: number, what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** The value of a counter for this channel (and these labels), from the engine's registry. */
async function counter(te: TestEngine, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await te.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const want = { channel: te.channel.name, ...labels };
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => Object.entries(want).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

/** An AA for a fresh message on a new connection: a legitimate sender is served. */
async function legitimateSenderGetsAa(te: TestEngine, controlId: string): Promise<void> {
  const client = await RawMllpClient.open(te.port);
  try {
    const answer = await client.roundTrip(adtFor(controlId), 15_000);
    assert.ok(answer, `the legitimate sender (${controlId}) got no answer`);
    assert.equal(readAck(answer).code, 'AA');
    assert.equal(readAck(answer).controlId, controlId);
  } finally {
    client.close();
  }
}

test('half-open peers that ignore the engine’s FIN lose their slots after idle + grace, and a legitimate sender then connects', { timeout: 60_000 }, async () => {
  const te = await channel('half-open', { maxConnections: 3, maxConnectionsPerAddress: 3, idleTimeoutSeconds: 1, closeGraceSeconds: 0.5 });
  try {
    const squatters = await Promise.all([peer(te.port), peer(te.port), peer(te.port)]);
    // Every slot is taken: a fourth connection is refused at once.
    const fourth = await peer(te.port);
    await within(5000, 'the fourth connection refused while every slot is held', fourth.fin);
    assert.equal(await counter(te, 'hl7_connections_refused_total', { reason: 'max-connections' }), 1);
    fourth.socket.destroy();

    // Idle timeout: the engine half-closes; the peers see its FIN, keep their side open, and the
    // engine destroys the sockets once the grace is over.
    await within(10_000, 'a FIN to every squatter', Promise.all(squatters.map((s) => s.fin)));
    await until(10_000, 'every squatter socket destroyed by the engine', async () => (await counter(te, 'hl7_mllp_closes_forced_total')) === 3);
    // The gauge drops at the socket's 'close', a moment after destroy() was counted.
    await until(5000, 'every slot free', async () => (await counter(te, 'hl7_connections')) === 0);
    await Promise.all(squatters.map((s) => probeUntilReset(s, 5000, 'a reset for the squatter writing after the grace')));
    await legitimateSenderGetsAa(te, 'HALFOPEN-OK');
  } finally {
    await te.stop();
  }
});

test('a peer trickling a frame one byte at a time is cut off by the frame deadline; its partial frame is in the DLQ as `frame` and it is answered AR', { timeout: 60_000 }, async () => {
  const te = await channel('loris', { maxConnections: 2, maxConnectionsPerAddress: 2, idleTimeoutSeconds: 30, frameTimeoutSeconds: 1, closeGraceSeconds: 0.5 });
  try {
    const loris = await peer(te.port);
    loris.socket.write(Buffer.concat([VT, Buffer.from('MSH|^~\\&|SLOW|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|LORIS-1|P|2.5.1\rPID|1||', 'latin1')]));
    let trickled = 0;
    // One byte every 100 ms: each keeps the socket busy, none finishes the frame.
    const trickle = setInterval(() => {
      if (!loris.socket.destroyed && !loris.sawFin()) {
        loris.socket.write('7');
        trickled++;
      }
    }, 100);
    try {
      await within(10_000, 'the trickling connection cut off by the engine', loris.fin);
    } finally {
      clearInterval(trickle);
    }
    assert.ok(trickled >= 3, `the peer trickled bytes before the deadline (${trickled})`);
    const got = loris.received();
    const start = got.indexOf(0x0b);
    const end = got.indexOf(0x1c);
    assert.ok(start >= 0 && end > start, `the trickler was answered before the close (${got.length} bytes)`);
    const ack = readAck(got.subarray(start + 1, end));
    assert.deepEqual([ack.code, ack.controlId], ['AR', 'LORIS-1']);
    assert.match(ack.text, /not completed within 1 s/);
    assert.equal(await counter(te, 'hl7_mllp_frames_abandoned_total', { reason: 'timeout' }), 1);

    const [dlq] = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 1, timeoutMs: 20_000 });
    assert.ok(dlq, 'a dead letter for the partial frame');
    const record = JSON.parse(dlq.value.toString()) as { failure: { category: string; detail: { reason: string } }; msh: { controlId: string }; truncated: boolean };
    assert.equal(record.failure.category, 'frame');
    assert.equal(record.failure.detail.reason, 'timeout');
    assert.equal(record.msh.controlId, 'LORIS-1');
    assert.equal(record.truncated, true);
    await probeUntilReset(loris, 5000, 'the trickler’s socket destroyed after the grace');
    await legitimateSenderGetsAa(te, 'LORIS-OK');
  } finally {
    await te.stop();
  }
});

test('one address is refused beyond maxConnectionsPerAddress (counted, logged without PHI) while another address still connects', { timeout: 60_000 }, async () => {
  const te = await channel('per-addr', { maxConnections: 10, maxConnectionsPerAddress: 2, idleTimeoutSeconds: 30 });
  try {
    const held = await Promise.all([peer(te.port), peer(te.port)]);
    const extra = await peer(te.port);
    await within(5000, 'the third connection from 127.0.0.1 refused', extra.fin);
    assert.equal(extra.received().length, 0, 'a refused connection is closed without a byte');
    assert.equal(await counter(te, 'hl7_connections_refused_total', { reason: 'max-per-address' }), 1);
    assert.match(te.logs(), /"reason":"max-per-address"[^\n]*"msg":"connection refused"|"msg":"connection refused"[^\n]*"reason":"max-per-address"/);

    // Another host (127.0.0.2 on the loopback) is not affected by 127.0.0.1's cap.
    const other = await peer(te.port, '127.0.0.2');
    other.socket.write(encodeFrame(adtFor('OTHER-ADDR')));
    await until(10_000, 'an answer to the other address', () => other.received().includes(0x1c));
    assert.equal(readAck(other.received().subarray(1, other.received().indexOf(0x1c))).code, 'AA');
    other.socket.destroy();

    // A slot of 127.0.0.1 frees up: it may connect again.
    held[0]!.socket.destroy();
    await until(5000, 'the engine noticing the closed connection', async () => (await counter(te, 'hl7_connections')) === 1);
    await legitimateSenderGetsAa(te, 'PER-ADDR-OK');
    held[1]!.socket.destroy();
  } finally {
    await te.stop();
  }
});

test('a frame that arrives after the engine’s FIN is neither answered nor stored: its bytes are counted as discarded', { timeout: 60_000 }, async () => {
  const te = await channel('after-fin', { idleTimeoutSeconds: 1, closeGraceSeconds: 2 });
  try {
    const late = await peer(te.port);
    await until(10_000, 'the idle timeout’s FIN', () => late.sawFin());
    const frame = encodeFrame(adtFor('AFTER-FIN'));
    const before = await counter(te, 'hl7_mllp_discarded_bytes_total');
    late.socket.write(frame);
    await until(10_000, 'the late frame’s bytes counted as discarded', async () => (await counter(te, 'hl7_mllp_discarded_bytes_total')) - before >= frame.length);
    assert.equal((await counter(te, 'hl7_mllp_discarded_bytes_total')) - before, frame.length);
    assert.equal(late.received().length, 0, 'no answer can follow our FIN');
    assert.equal(await counter(te, 'hl7_acks_total'), 0, 'nothing was answered, so nothing was stored');
    await probeUntilReset(late, 10_000, 'the engine destroying the connection after its grace');
  } finally {
    await te.stop();
  }
});

test('the channel’s cap on memory held in unfinished frames refuses the frame that would exceed it with AR and a `frame` dead letter', { timeout: 60_000 }, async () => {
  const te = await channel('buffered', { maxFrameBytes: 32 * 1024, maxBufferedBytes: 64 * 1024, maxConnectionsPerAddress: 10, idleTimeoutSeconds: 30, frameTimeoutSeconds: 30 });
  try {
    const partial = (id: string) => Buffer.concat([VT, Buffer.from(`MSH|^~\\&|BIG|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|${id}|P|2.5.1\rNTE|1||`, 'latin1'), Buffer.alloc(30 * 1024 - 120, 0x41)]);
    const first = await peer(te.port);
    const second = await peer(te.port);
    first.socket.write(partial('HOLD-1'));
    second.socket.write(partial('HOLD-2'));
    const listener = te.engine.channels[0]!.listener;
    await until(10_000, 'both partial frames held by the engine', () => listener.bufferedBytes >= 2 * (30 * 1024 - 100));
    const third = await peer(te.port);
    third.socket.write(partial('OVER-CAP'));
    await within(10_000, 'the connection over the cap closed', third.fin);
    const got = third.received();
    const ack = readAck(got.subarray(got.indexOf(0x0b) + 1, got.indexOf(0x1c)));
    assert.deepEqual([ack.code, ack.controlId], ['AR', 'OVER-CAP']);
    assert.match(ack.text, /maximum of 65536 bytes in unfinished frames/);
    assert.equal(await counter(te, 'hl7_mllp_frames_abandoned_total', { reason: 'memory' }), 1);
    const [dlq] = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 1, timeoutMs: 20_000 });
    const record = JSON.parse(dlq!.value.toString()) as { failure: { category: string; detail: { reason: string } } };
    assert.deepEqual([record.failure.category, record.failure.detail.reason], ['frame', 'memory']);

    // The held frames still complete and are stored: the cap refused only the newcomer.
    first.socket.write(Buffer.from([0x1c, 0x0d]));
    await until(10_000, 'the first held frame answered', () => first.received().includes(0x1c));
    assert.equal(readAck(first.received().subarray(1, first.received().indexOf(0x1c))).code, 'AA');
    second.socket.destroy();
    first.socket.destroy();
    await until(5000, 'memory released after the disconnects', () => listener.bufferedBytes === 0);
  } finally {
    await te.stop();
  }
});
