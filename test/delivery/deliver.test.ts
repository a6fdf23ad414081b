/**
 * Delivering one message, the ACK deciding: against a hostile receiver of ours (AE, AR with ERR,
 * silence, a wrong MSA-2, a socket closed mid-ACK, down then up) and against @medplum/hl7's
 * server, a receiver this project did not write. Each test shows what the receiver answered and
 * what it received.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Hl7Message as MedplumMessage } from '@medplum/core';
import { Hl7Server } from '@medplum/hl7';
import { deliver, type AttemptResult, type RetryPolicy } from '../../src/delivery/index.js';
import { encodeFrame, MllpFramer, MllpSender, readControlId } from '../../src/mllp/index.js';
import { encodeOutbound } from '../../src/outbound/index.js';
import { GOLDEN_CASES, loadDefaultOutbound, runCase } from '../outbound/cases.js';

type Answer = 'AA' | 'AE' | 'AR' | 'silent' | 'wrong-msa2' | 'close-mid-ack';

/** A receiver that answers the n-th message it gets with answers[n] (the last answer repeats). */
class HostileReceiver {
  readonly received: Buffer[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly answers: readonly Answer[]) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
      socket.on('data', (chunk: Buffer) =>
        framer.push(chunk, { frame: (f) => this.answer(socket, Buffer.from(f)), discarded: () => undefined, oversize: () => undefined }),
      );
    });
  }

  private answer(socket: net.Socket, message: Buffer): void {
    this.received.push(message);
    const a = this.answers[Math.min(this.received.length, this.answers.length) - 1] ?? 'AA';
    const id = readControlId(message) ?? '';
    const ack = (code: string, msa2: string, extra = ''): Buffer =>
      encodeFrame(Buffer.from(`MSH|^~\\&|RCV|RCV|HL7ENGINE||20261201100000||ACK^R01^ACK|A${this.received.length}|P|2.5.1\rMSA|${code}|${msa2}\r${extra}`));
    switch (a) {
      case 'silent':
        return;
      case 'wrong-msa2':
        socket.write(ack('AA', `${id}X`));
        return;
      case 'close-mid-ack': {
        const whole = ack('AA', id);
        socket.write(whole.subarray(0, 20));
        socket.destroy();
        return;
      }
      case 'AR':
        socket.write(ack('AR', id, 'ERR|||207^Application internal error^HL70357|E||||Unknown patient\r'));
        return;
      default:
        socket.write(ack(a, id, a === 'AE' ? 'ERR|||206^Application record locked^HL70357|E\r' : ''));
    }
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const POLICY: RetryPolicy = { maxAttempts: 4, backoffMs: 20, maxBackoffMs: 100 };
const set = loadDefaultOutbound();
const oru = runCase(set, GOLDEN_CASES.find((c) => c.mapping === 'oru_r01')!);
const MESSAGE = encodeOutbound(oru.text ?? '', 'UNICODE UTF-8');

async function withReceiver(answers: Answer[], fn: (r: HostileReceiver, sender: MllpSender, attempts: AttemptResult[]) => Promise<void>): Promise<void> {
  const r = new HostileReceiver(answers);
  const port = await r.listen();
  const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 300, retries: 0, backoffMs: 10 });
  try {
    await fn(r, sender, []);
  } finally {
    await sender.close();
    await r.close();
  }
}

test('AE then AA: delivered on the second attempt, the same bytes (same MSH-10) sent twice', async () => {
  await withReceiver(['AE', 'AA'], async (r, sender, seen) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY, { onAttempt: (a) => seen.push(a) });
    assert.deepEqual(out, { kind: 'delivered', attempts: 2, ackCode: 'AA' });
    assert.deepEqual(seen, ['AE', 'AA']);
    assert.equal(r.received.length, 2);
    assert.deepEqual(r.received[1], r.received[0]);
    assert.deepEqual(r.received[0], MESSAGE);
  });
});

test('AR: dead-lettered at once with the receiver\'s ERR, never resent', async () => {
  await withReceiver(['AR', 'AA'], async (r, sender) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY);
    assert.equal(out.kind, 'dead-letter');
    assert.ok(out.kind === 'dead-letter');
    assert.equal(out.reason, 'rejected');
    assert.equal(out.attempts, 1);
    assert.equal(out.ackCode, 'AR');
    assert.equal(out.detail, 'ERR|||207^Application internal error^HL70357|E||||Unknown patient');
    assert.equal(r.received.length, 1);
  });
});

test('AE every time: dead-lettered after maxAttempts with the last ERR, each attempt the same bytes', async () => {
  await withReceiver(['AE'], async (r, sender) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY);
    assert.ok(out.kind === 'dead-letter');
    assert.equal(out.reason, 'retries-exhausted');
    assert.equal(out.attempts, 4);
    assert.match(out.detail, /^ERR\|\|\|206/);
    assert.equal(r.received.length, 4);
    assert.ok(r.received.every((m) => m.equals(MESSAGE)));
  });
});

test('a receiver that never answers: each attempt times out, then the record is dead-lettered', async () => {
  await withReceiver(['silent'], async (r, sender, seen) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), { ...POLICY, maxAttempts: 3 }, { onAttempt: (a) => seen.push(a) });
    assert.ok(out.kind === 'dead-letter');
    assert.equal(out.reason, 'retries-exhausted');
    assert.deepEqual(seen, ['timeout', 'timeout', 'timeout']);
    assert.equal(r.received.length, 3);
  });
});

test('an AA whose MSA-2 is not our MSH-10 is a failure, never a success; the resend gets the real AA', async () => {
  await withReceiver(['wrong-msa2', 'AA'], async (r, sender, seen) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY, { onAttempt: (a) => seen.push(a) });
    assert.deepEqual(out, { kind: 'delivered', attempts: 2, ackCode: 'AA' });
    assert.deepEqual(seen, ['timeout', 'AA']);
    assert.equal(r.received.length, 2);
  });
});

test('the socket closed in the middle of the ACK: resent on a new connection with the same MSH-10', async () => {
  await withReceiver(['close-mid-ack', 'AA'], async (r, sender, seen) => {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY, { onAttempt: (a) => seen.push(a) });
    assert.deepEqual(out, { kind: 'delivered', attempts: 2, ackCode: 'AA' });
    assert.deepEqual(seen, ['connection', 'AA']);
    assert.equal(readControlId(r.received[1]!), oru.controlId);
    assert.deepEqual(r.received[1], r.received[0]);
  });
});

test('a receiver that is down at first: connection attempts back off until it is up, then AA', async () => {
  const r = new HostileReceiver(['AA']);
  const port = await r.listen();
  await r.close();
  const late = new HostileReceiver(['AA']);
  const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 300, retries: 0, backoffMs: 10 });
  const seen: AttemptResult[] = [];
  try {
    let started = false;
    const out = await deliver(MESSAGE, (m) => sender.send(m), { maxAttempts: 50, backoffMs: 20, maxBackoffMs: 50 }, {
      onAttempt: (a) => {
        seen.push(a);
        // The receiver comes up after two refused connections.
        if (seen.length === 2 && !started) {
          started = true;
          void late.listen(port);
        }
      },
    });
    assert.equal(out.kind, 'delivered');
    assert.deepEqual(seen.slice(0, 2), ['connection', 'connection']);
    assert.equal(seen.at(-1), 'AA');
    assert.equal(late.received.length, 1);
  } finally {
    await sender.close();
    await late.close();
  }
});

test('@medplum/hl7\'s server receives the ORU^R01 with our MSH-10, reads PID-5 and OBX-5, and its AA delivers it', async () => {
  const got: MedplumMessage[] = [];
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      got.push(message);
      connection.send(message.buildAck());
    });
  });
  server.start(0);
  const s = server.server;
  assert.ok(s);
  if (!s.listening) await new Promise<void>((resolve) => s.once('listening', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 5000, retries: 0, backoffMs: 10 });
  try {
    const out = await deliver(MESSAGE, (m) => sender.send(m), POLICY);
    assert.deepEqual(out, { kind: 'delivered', attempts: 1, ackCode: 'AA' });
    assert.equal(got.length, 1);
    const m = got[0]!;
    assert.equal(m.getSegment('MSH')?.getField(10)?.toString(), oru.controlId);
    assert.equal(m.getSegment('PID')?.getField(5)?.toString(), 'DOE^JANE^Q');
    assert.equal(m.getSegment('OBX')?.getField(5)?.toString(), '105');
  } finally {
    await sender.close();
    await server.stop({ forceDrainTimeoutMs: 100 }).catch(() => server.stop());
  }
});

test('every default outbound message is delivered to @medplum/hl7 with AA (count asserted)', async () => {
  let count = 0;
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      count++;
      connection.send(message.buildAck());
    });
  });
  server.start(0);
  const s = server.server!;
  if (!s.listening) await new Promise<void>((resolve) => s.once('listening', () => resolve()));
  const sender = new MllpSender({ host: '127.0.0.1', port: (s.address() as net.AddressInfo).port, ackTimeoutMs: 5000, retries: 0, backoffMs: 10 });
  try {
    for (const c of GOLDEN_CASES) {
      const out = await deliver(encodeOutbound(runCase(set, c).text ?? '', 'UNICODE UTF-8'), (m) => sender.send(m), POLICY);
      assert.equal(out.kind, 'delivered', c.mapping);
    }
    assert.equal(count, GOLDEN_CASES.length);
  } finally {
    await sender.close();
    await server.stop({ forceDrainTimeoutMs: 100 }).catch(() => server.stop());
  }
});
