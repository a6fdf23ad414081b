import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { MllpFramer, encodeFrame } from '../../src/mllp/framer.js';
import { MllpSender, type SendOptions } from '../../src/mllp/sender.js';
import { MllpSendError } from '../../src/mllp/types.js';

const ADT =
  'MSH|^~\\&|LAB|HOSP|ENG|HOSP|20261121083000||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r' +
  'PID|1||12345^^^HOSP^MR||DOE^JANE\r';

function ackFor(controlId: string, code = 'AA', text = 'stored'): string {
  return `MSH|^~\\&|ENG|HOSP|LAB|HOSP|20261121083001||ACK^A01^ACK|A-${controlId}|P|2.5.1\rMSA|${code}|${controlId}|${text}\r`;
}

function adt(controlId: string): Buffer {
  return Buffer.from(ADT.replace('MSG0001', controlId), 'latin1');
}

interface Peer {
  readonly port: number;
  readonly received: string[];
  connections: number;
  close(): Promise<void>;
}

/**
 * A tiny MLLP server: every complete frame goes to onFrame with the socket it came on and the
 * 1-based number of that connection.
 */
async function peer(onFrame: (payload: string, socket: net.Socket, connection: number) => void): Promise<Peer> {
  const sockets = new Set<net.Socket>();
  const state: Peer = {
    port: 0,
    received: [],
    connections: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const connection = ++state.connections;
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, {
        frame: (f) => {
          const text = f.toString('latin1');
          state.received.push(text);
          onFrame(text, socket, connection);
        },
        discarded: () => {},
        oversize: () => {},
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return Object.assign(state, { port: addr.port });
}

function reply(socket: net.Socket, ack: string): void {
  socket.write(encodeFrame(Buffer.from(ack, 'latin1')));
}

function controlIdOf(payload: string): string {
  return payload.split('\r')[0]?.split('|')[9] ?? '';
}

function options(port: number, over: Partial<SendOptions> = {}): SendOptions {
  return { host: '127.0.0.1', port, ackTimeoutMs: 2000, retries: 0, backoffMs: 10, ...over };
}

test('send resolves with the ACK whose MSA-2 equals the message MSH-10', async () => {
  const server = await peer((payload, socket) => reply(socket, ackFor(controlIdOf(payload))));
  const sender = new MllpSender(options(server.port));
  try {
    await sender.connect();
    const ack = await sender.send(adt('MSG0001'));
    assert.equal(ack.code, 'AA');
    assert.equal(ack.controlId, 'MSG0001');
    assert.equal(ack.text, 'stored');
    assert.equal(ack.raw.toString('latin1'), ackFor('MSG0001'));
    assert.deepEqual(server.received, [ADT]);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('an ACK for another control id is skipped and the matching one is returned', async () => {
  const server = await peer((payload, socket) => {
    reply(socket, ackFor('SOMEONE-ELSE', 'AE', 'late answer'));
    reply(socket, ackFor(controlIdOf(payload), 'AA', 'stored'));
  });
  const sender = new MllpSender(options(server.port));
  try {
    const ack = await sender.send(adt('MSG0002'));
    assert.equal(ack.code, 'AA');
    assert.equal(ack.controlId, 'MSG0002');
    assert.equal(sender.skippedAcks, 1);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('no ACK within ackTimeoutMs rejects with ack-timeout and no message content in the error', async () => {
  const server = await peer(() => {}); // receives, never answers
  const sender = new MllpSender(options(server.port, { ackTimeoutMs: 150 }));
  try {
    const started = Date.now();
    await assert.rejects(sender.send(adt('MSG0003')), (err: unknown) => {
      assert.ok(err instanceof MllpSendError);
      assert.equal(err.code, 'ack-timeout');
      assert.match(err.message, /150 ms/);
      assert.doesNotMatch(err.message, /DOE|JANE|12345/);
      return true;
    });
    assert.ok(Date.now() - started >= 140);
    assert.equal(server.received.length, 1);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('when the server drops the connection before answering, the sender reconnects and resends', async () => {
  const server = await peer((payload, socket, connection) => {
    if (connection === 1) socket.destroy();
    else reply(socket, ackFor(controlIdOf(payload)));
  });
  const sender = new MllpSender(options(server.port, { retries: 3, backoffMs: 20 }));
  try {
    const ack = await sender.send(adt('MSG0004'));
    assert.equal(ack.controlId, 'MSG0004');
    assert.equal(server.connections, 2);
    assert.deepEqual(server.received.map(controlIdOf), ['MSG0004', 'MSG0004']);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('a connection lost on every attempt rejects with connection-failed after 1 + retries writes', async () => {
  const server = await peer((_payload, socket) => socket.destroy());
  const sender = new MllpSender(options(server.port, { retries: 2, backoffMs: 5 }));
  try {
    await assert.rejects(sender.send(adt('MSG0005')), (err: unknown) => {
      assert.ok(err instanceof MllpSendError);
      assert.equal(err.code, 'connection-failed');
      assert.equal(err.attempts, 3);
      return true;
    });
    assert.equal(server.received.length, 3);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('concurrent sends go out one at a time, in call order, each after the previous ACK', async () => {
  let outstanding = 0;
  let maxOutstanding = 0;
  const server = await peer((payload, socket) => {
    outstanding++;
    maxOutstanding = Math.max(maxOutstanding, outstanding);
    setTimeout(() => {
      outstanding--;
      reply(socket, ackFor(controlIdOf(payload)));
    }, 15);
  });
  const sender = new MllpSender(options(server.port));
  try {
    const acks = await Promise.all(['M1', 'M2', 'M3'].map((id) => sender.send(adt(id))));
    assert.deepEqual(acks.map((a) => a.controlId), ['M1', 'M2', 'M3']);
    assert.deepEqual(server.received.map(controlIdOf), ['M1', 'M2', 'M3']);
    assert.equal(maxOutstanding, 1);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('MSH-10 and MSA-2 are read with the message’s own field separator', async () => {
  const message = 'MSH#$*@%#LAB#HOSP#ENG#HOSP#20261121##ADT$A01#CUSTOM-7#P#2.5.1\rPID#1\r';
  const server = await peer((_payload, socket) =>
    reply(socket, 'MSH#$*@%#ENG#HOSP#LAB#HOSP#20261121##ACK$A01$ACK#X1#P#2.5.1\rMSA#CA#CUSTOM-7\r'),
  );
  const sender = new MllpSender(options(server.port));
  try {
    const ack = await sender.send(Buffer.from(message, 'latin1'));
    assert.equal(ack.code, 'CA');
    assert.equal(ack.controlId, 'CUSTOM-7');
    assert.equal(ack.text, '');
  } finally {
    await sender.close();
    await server.close();
  }
});

test('a message without MSH-10 is refused before anything is written', async () => {
  const server = await peer(() => {});
  const sender = new MllpSender(options(server.port));
  try {
    await assert.rejects(sender.send(Buffer.from('MSH|^~\\&|LAB|HOSP|ENG|HOSP|20261121||ADT^A01||P|2.5.1\r', 'latin1')), {
      code: 'no-control-id',
    });
    assert.deepEqual(server.received, []);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('close() fails the send that is waiting for its ACK with code closed', async () => {
  const server = await peer(() => {});
  const sender = new MllpSender(options(server.port));
  try {
    const pending = sender.send(adt('MSG0009'));
    while (server.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    await sender.close();
    await assert.rejects(pending, { code: 'closed' });
  } finally {
    await server.close();
  }
});
