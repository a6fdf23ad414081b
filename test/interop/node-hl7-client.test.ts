/**
 * Interop: node-hl7-client 3.2.0, a third-party MLLP sender, against the real engine and Kafka.
 *
 * The client has known defects (listed below); the test
 * works around them rather than the engine bending to them:
 * - sendMessage() resolves when the bytes are written, not when the ACK arrives, and nothing ties
 *   an ACK to its message: the test waits for each ACK itself (bounded) and matches MSA-2.
 * - Calling sendMessage() while a message still awaits its ACK, or before the socket is
 *   connected, queues it and opens a second connection: the test waits for 'connect' and sends
 *   strictly one message at a time.
 * - connectionTimeout is a lifetime timer that kills healthy connections: it stays 0 (the
 *   3.2.0 default), which also means no reconnection, so a dropped connection shows up as a
 *   bounded ACK wait that fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client, Message, type Connection } from 'node-hl7-client';
import { HL7_2_5_1 } from 'node-hl7-client/hl7';
import { freePort } from '../support/net.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';

const TEST_MESSAGES = new URL('../../../test-messages/', import.meta.url);

interface AckSeen {
  readonly code: string;
  readonly controlId: string;
}

/** Bounds every wait: a client defect must fail the test with a reason, not hang the suite. */
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

/** ADT messages made with the library's own builder (synthetic, no patient data). */
function builtAdt(controlId: string, event: string): Message {
  const message = new Message({
    specification: new HL7_2_5_1(),
    messageHeader: { msh_9_1: 'ADT', msh_9_2: event, msh_9_3: 'ADT_A01', msh_10: controlId, msh_11_1: 'P' },
  });
  message.set('MSH.3', 'NODEHL7');
  message.set('MSH.4', 'INTEROP');
  message.addSegment('EVN');
  message.set('EVN.1', event);
  message.addSegment('PID');
  message.set('PID.1', '1');
  message.set('PID.3.1', `TEST-${controlId}`);
  message.set('PID.5.1', 'TEST');
  message.set('PID.5.2', 'PATIENT');
  return message;
}

/** The repository's ORU^R01 test message, parsed by the library and given a fresh MSH-10. */
function fileOru(controlId: string): Message {
  const text = readFileSync(new URL('oru/oru-r01.hl7', TEST_MESSAGES), 'latin1').replace(/[\r\n]+$/, '');
  const message = new Message({ text });
  message.set('MSH.10', controlId);
  return message;
}

test('node-hl7-client 3.2.0 sends 20 messages one at a time; each gets a matching AA and lands in the raw topic', { timeout: 120_000 }, async (t) => {
  const name = uniqueChannel('interop-nodehl7');
  const engine = await startEngine(
    [
      `name: ${name}`,
      'listener:',
      '  host: 127.0.0.1',
      `  port: ${await freePort()}`,
      'accept:',
      '  messageTypes: ["ADT^*", "ORU^R01"]',
      'ack:',
      '  mode: original',
      '',
    ].join('\n'),
  );
  t.after(() => engine.stop());

  const events = ['A01', 'A04', 'A08', 'A03', 'A02'];
  const outgoing: { controlId: string; message: Message }[] = [];
  for (let i = 0; i < 10; i++) {
    const controlId = `NH7-ADT-${i}`;
    outgoing.push({ controlId, message: builtAdt(controlId, events[i % events.length]!) });
  }
  for (let i = 0; i < 10; i++) {
    const controlId = `NH7-ORU-${i}`;
    outgoing.push({ controlId, message: fileOru(controlId) });
  }

  // The library hands every ACK to one per-connection callback; route it to the one send waiting.
  let waiting: { resolve: (ack: AckSeen) => void; reject: (err: Error) => void } | null = null;
  const client = new Client({ host: '127.0.0.1', connectionTimeout: 0 });
  const connection: Connection = client.createConnection({ port: engine.port, waitAck: true }, (res) => {
    const ack = res.getMessage();
    waiting?.resolve({ code: ack.get('MSA.1').toString(), controlId: ack.get('MSA.2').toString() });
    waiting = null;
  });
  t.after(async () => {
    await connection.close();
    client.closeAll();
  });
  connection.on('data.error', (err: unknown) => {
    waiting?.reject(new Error(`node-hl7-client could not read an ACK: ${err instanceof Error ? err.message : 'unknown error'}`));
    waiting = null;
  });
  await within(5000, 'node-hl7-client to connect', new Promise<void>((resolve) => connection.once('connect', () => resolve())));

  const acks: AckSeen[] = [];
  for (const { controlId, message } of outgoing) {
    const answered = new Promise<AckSeen>((resolve, reject) => {
      waiting = { resolve, reject };
    });
    await within(5000, `node-hl7-client to write ${controlId}`, connection.sendMessage(message));
    const ack = await within(10_000, `the ACK for ${controlId}`, answered);
    acks.push(ack);
    assert.deepEqual(ack, { code: 'AA', controlId }, `answer to ${controlId}`);
  }
  assert.equal(acks.length, 20);

  const records = await readTopic(engine.channel.topics.raw, { until: (r) => r.length >= 20, timeoutMs: 30_000 });
  assert.equal(records.length, 20, 'one raw record per message, no more, no fewer');
  const stored = new Map<string, Buffer>();
  for (const record of records) {
    const envelope = JSON.parse(record.value.toString('utf8')) as { raw: string; msh: { controlId: string } | null };
    assert.ok(envelope.msh !== null, 'the engine read each MSH');
    stored.set(envelope.msh.controlId, Buffer.from(envelope.raw, 'base64'));
  }
  assert.deepEqual([...stored.keys()].sort(), outgoing.map((o) => o.controlId).sort());
  for (const { controlId, message } of outgoing) {
    // The client writes message.toString() as UTF-8; the raw record keeps those exact bytes.
    assert.deepEqual(stored.get(controlId), Buffer.from(message.toString(), 'utf8'), `raw bytes of ${controlId}`);
  }
});
