/**
 * MllpListener over TLS and mutual TLS, with a throwaway CA made by test/support/certs.ts. The
 * unit tests use a fake FrameHandler; the last test runs the real engine from a channel YAML
 * with a tls: section and sends through MllpSender, as `hl7-engine send` does.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { MllpListener, type FrameAnswer, type FrameHandler, type ListenerEvents, type ListenerTls } from '../../src/mllp/listener.js';
import { MllpSender } from '../../src/mllp/sender.js';
import { freePort } from '../support/net.js';
import { createTestPki, type CertPair } from '../support/certs.js';
import { startEngine, uniqueChannel } from '../support/engine.js';

const pki = createTestPki();
after(() => pki.remove());

const CR = '\r';

function message(controlId: string): string {
  return `MSH|^~\\&|LIS|LAB|ENGINE|HOSP|20260101120000||ORU^R01|${controlId}|P|2.5.1${CR}OBX|1|ST|TEST^Test||value${CR}`;
}

function frame(controlId: string): Buffer {
  return Buffer.from(`\x0b${message(controlId)}\x1c${CR}`, 'latin1');
}

/** Answers each frame with an AA whose MSA-2 is the frame's MSH-10. */
function fakeHandler(): FrameHandler & { frames: string[] } {
  const frames: string[] = [];
  const answer = (controlId: string, code: string): FrameAnswer => ({
    ack: Buffer.from(`MSH|^~\\&|ENGINE|HOSP|LIS|LAB|20260101120001||ACK|A-${controlId}|P|2.5.1${CR}MSA|${code}|${controlId}${CR}`, 'latin1'),
    code,
    outcome: 'accepted',
    controlId,
    type: 'ORU^R01',
  });
  return {
    frames,
    async handleFrame(payload) {
      const controlId = payload.toString('latin1').split(CR)[0]?.split('|')[9] ?? '';
      frames.push(controlId);
      return answer(controlId, 'AA');
    },
    async handleOversize() {
      return answer('', 'AR');
    },
    async handleIncomplete() {
      return answer('', 'AR');
    },
  };
}

function serverTls(over: Partial<ListenerTls> = {}): ListenerTls {
  return {
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca,
    requestCert: false,
    rejectUnauthorized: true,
    allowedSubjects: null,
    minVersion: 'TLSv1.2',
    ...over,
  };
}

async function startListener(t: TestContext, handler: FrameHandler, tlsOptions: ListenerTls, events: ListenerEvents = {}): Promise<number> {
  const listener = new MllpListener(
    {
      channel: 'tls-test',
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1 << 20,
      idleTimeoutSeconds: 0,
      maxConnections: 10,
      tls: tlsOptions,
      isAddressAllowed: () => true,
    },
    handler,
    events,
  );
  const { port } = await listener.listen();
  t.after(() => listener.close(500));
  return port;
}

/** What one client saw: did the handshake complete, why did it fail, what came back. */
interface Exchange {
  readonly handshake: boolean;
  readonly protocol: string | null;
  /** The client-side error code, if any (handshake alert, reset by the server). */
  readonly error: string | null;
  /** The payload of the first answer frame, or null when the connection ended without one. */
  readonly answer: string | null;
}

/**
 * Connects with these client TLS options, sends one frame once the handshake completes and waits
 * (bounded) for an answer or for the connection to end.
 */
function exchange(port: number, client: tls.ConnectionOptions, controlId: string): Promise<Exchange> {
  return new Promise<Exchange>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.ca), ...client });
    let handshake = false;
    let protocol: string | null = null;
    let error: string | null = null;
    let received = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const end = received.indexOf(0x1c);
      const start = received.indexOf(0x0b);
      resolve({ handshake, protocol, error, answer: start !== -1 && end > start ? received.subarray(start + 1, end).toString('latin1') : null });
    };
    const timer = setTimeout(() => {
      error = error ?? 'client-timeout';
      finish();
    }, 5000);
    socket.on('secureConnect', () => {
      handshake = true;
      protocol = socket.getProtocol();
      socket.write(frame(controlId));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.includes(0x1c)) finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = error ?? err.code ?? err.message;
    });
    socket.on('close', finish);
  });
}

function keyPair(pair: CertPair): { key: Buffer; cert: Buffer } {
  return { key: readFileSync(pair.key), cert: readFileSync(pair.cert) };
}

function msa(answer: string | null): string {
  return answer?.split(CR).find((s) => s.startsWith('MSA|')) ?? '';
}

const labSender = pki.client('/C=US/O=Test Hospital/CN=lab-sender');
const intruder = pki.client('/C=US/O=Test Hospital/CN=intruder');

test('TLS: a client that trusts the CA completes the handshake and gets its answer', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(t, handler, serverTls());
  const result = await exchange(port, {}, 'TLS1');
  assert.equal(result.handshake, true, `handshake failed: ${result.error}`);
  assert.equal(msa(result.answer), 'MSA|AA|TLS1');
  assert.deepEqual(handler.frames, ['TLS1']);
});

test('TLS: a client that does not trust the CA refuses the listener\'s certificate', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(t, handler, serverTls());
  const result = await exchange(port, { ca: undefined }, 'NOTRUST');
  assert.equal(result.handshake, false);
  assert.match(result.error ?? '', /UNABLE_TO_|CERT/);
  assert.deepEqual(handler.frames, []);
});

test('mTLS: a client without a certificate is refused, one with a certificate from the CA is served', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(t, handler, serverTls({ requestCert: true, rejectUnauthorized: true }));

  const anonymous = await exchange(port, {}, 'ANON');
  assert.equal(anonymous.answer, null, 'no answer without a client certificate');
  assert.notEqual(anonymous.error, 'client-timeout', 'the listener ended the connection');

  const known = await exchange(port, keyPair(labSender), 'KNOWN');
  assert.equal(msa(known.answer), 'MSA|AA|KNOWN');
  assert.deepEqual(handler.frames, ['KNOWN']);
});

test('mTLS: a self-signed client certificate the CA never issued is refused', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(t, handler, serverTls({ requestCert: true, rejectUnauthorized: true }));
  const forged = pki.untrustedClient('/C=US/O=Test Hospital/CN=lab-sender');
  const result = await exchange(port, keyPair(forged), 'FORGED');
  assert.equal(result.answer, null);
  assert.notEqual(result.error, 'client-timeout', 'the listener ended the connection');
  assert.deepEqual(handler.frames, []);
});

test('allowedSubjects by CN: lab-sender is served; intruder from the same CA is disconnected with reason subject', async (t) => {
  const handler = fakeHandler();
  const refused: string[] = [];
  const port = await startListener(t, handler, serverTls({ requestCert: true, allowedSubjects: ['lab-sender'] }), {
    connectionRefused: (_peer, reason) => refused.push(reason),
  });

  const allowed = await exchange(port, keyPair(labSender), 'LAB');
  assert.equal(msa(allowed.answer), 'MSA|AA|LAB');

  const denied = await exchange(port, keyPair(intruder), 'INTRUDER');
  assert.equal(denied.answer, null);
  assert.deepEqual(refused, ['subject']);
  assert.deepEqual(handler.frames, ['LAB'], 'the intruder\'s frame never reached the handler');
});

test('allowedSubjects by full subject, in the order the certificate writes its DN (C=US,O=…,CN=…)', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(
    t,
    handler,
    serverTls({ requestCert: true, allowedSubjects: ['C=US,O=Test Hospital,CN=lab-sender'] }),
  );
  assert.equal(msa((await exchange(port, keyPair(labSender), 'FULL')).answer), 'MSA|AA|FULL');
  assert.equal((await exchange(port, keyPair(intruder), 'FULL-X')).answer, null);
});

test('allowedSubjects by full subject in RFC 4514 order (CN first), as the channel schema documents it', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(
    t,
    handler,
    serverTls({ requestCert: true, allowedSubjects: ['CN=lab-sender,O=Test Hospital,C=US'] }),
  );
  assert.equal(msa((await exchange(port, keyPair(labSender), 'RFC')).answer), 'MSA|AA|RFC');
  assert.equal((await exchange(port, keyPair(intruder), 'RFC-X')).answer, null);
});

test('minVersion TLSv1.3: a client limited to TLSv1.2 fails the handshake', async (t) => {
  const handler = fakeHandler();
  const port = await startListener(t, handler, serverTls({ minVersion: 'TLSv1.3' }));
  const old = await exchange(port, { maxVersion: 'TLSv1.2' }, 'OLD');
  assert.equal(old.handshake, false);
  assert.match(old.error ?? '', /PROTOCOL_VERSION|VERSION/);
  const current = await exchange(port, {}, 'NEW');
  assert.equal(current.protocol, 'TLSv1.3');
  assert.equal(msa(current.answer), 'MSA|AA|NEW');
});

test('engine end to end: a channel with mutual TLS and allowedSubjects answers AA to MllpSender', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const name = uniqueChannel('tls-e2e');
  const engine = await startEngine(
    [
      `name: ${name}`,
      'listener:',
      '  host: 127.0.0.1',
      `  port: ${port}`,
      '  tls:',
      `    key: ${JSON.stringify(pki.server.key)}`,
      `    cert: ${JSON.stringify(pki.server.cert)}`,
      `    ca: ${JSON.stringify(pki.ca)}`,
      '    requestCert: true',
      '    allowedSubjects: [lab-sender]',
      '    minVersion: TLSv1.2',
      'accept:',
      '  messageTypes: ["ADT^*"]',
      'ack:',
      '  mode: original',
      '',
    ].join('\n'),
  );
  t.after(() => engine.stop());
  assert.notEqual(engine.channel.listener.tls, null, 'the channel loaded its tls: section');

  // What `hl7-engine send --ca --cert --key --servername localhost` builds.
  const sender = new MllpSender({
    host: '127.0.0.1',
    port,
    ackTimeoutMs: 10_000,
    retries: 0,
    backoffMs: 100,
    tls: {
      ca: readFileSync(pki.ca),
      cert: readFileSync(labSender.cert),
      key: readFileSync(labSender.key),
      servername: 'localhost',
      rejectUnauthorized: true,
    },
  });
  t.after(() => sender.close());
  const adt = Buffer.from(
    `MSH|^~\\&|ADTSYS|HOSP|ENGINE|HOSP|20260101120000||ADT^A01^ADT_A01|TLS-E2E-1|P|2.5.1${CR}` +
      `EVN|A01|20260101120000${CR}PID|1||TEST-0001^^^HOSP^MR||TEST^PATIENT${CR}PV1|1|I${CR}`,
    'latin1',
  );
  const ack = await sender.send(adt);
  assert.equal(ack.code, 'AA', `MSA-3: ${ack.text}`);
  assert.equal(ack.controlId, 'TLS-E2E-1');
});
