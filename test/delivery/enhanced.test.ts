/**
 * Enhanced-mode acknowledgment (MSH-15/16 = AL) against a hostile receiver, on the real Kafka:
 * a record is committed only after CA then AA; CE and AE are retried, CR and AR dead-lettered
 * with the receiver's ERR, a CA without its application ACK (or with one whose MSA-2 does not
 * match) is a timeout and retried with the same MSH-10; each application ACK that asks for a
 * commit ACK gets our CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryWorker, dlqTopicOf, loadDestination, type OutboundDeadLetter } from '../../src/delivery/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { encodeFrame, MllpFramer } from '../../src/mllp/index.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { expectedBundle, loadDefaultOutbound } from '../outbound/cases.js';

/** What the receiver answers to each copy of a record (by its filler number): a list per attempt. */
const SCRIPT: Record<string, string[][]> = {
  E0: [['CA', 'AA']],
  E1: [['CE'], ['CA', 'AA']],
  E2: [['CA', 'AE'], ['CA', 'AA']],
  E3: [['CR']],
  E4: [['CA', 'AR']],
  E5: [['CA'], ['CA', 'AA']],
  E6: [['CA', 'AA-wrong-id'], ['CA', 'AA']],
};
const RECORDS = Object.keys(SCRIPT);

function bundle(filler: string): string {
  const b = structuredClone(expectedBundle('oru/oru-r01.json')) as { id: string; entry: { resource: Record<string, unknown> }[] };
  b.id = `${filler}-${randomUUID()}`;
  const r = b.entry.find((e) => e.resource['resourceType'] === 'DiagnosticReport');
  assert.ok(r);
  r.resource['identifier'] = [{ type: { coding: [{ code: 'FILL' }] }, value: filler }];
  return JSON.stringify(b);
}

interface Copy {
  readonly seq: string;
  readonly controlId: string;
  readonly msh15: string;
  readonly msh16: string;
}

test('enhanced mode: committed only after CA then AA; CE/AE retried, CR/AR dead-lettered, a CA alone times out', { timeout: 240_000 }, async () => {
  const copies: Copy[] = [];
  const commitAcks: string[] = [];
  let appAcks = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, {
        discarded: () => undefined,
        oversize: () => undefined,
        frame: (f) => {
          const p = parseMessage(Buffer.from(f).toString('utf8'));
          assert.ok(p.ok);
          const msh = p.message.msh();
          if (msh.messageCode === 'ACK') {
            // Our commit ACK for one of our application ACKs.
            commitAcks.push(`${p.message.get('MSA-1') ?? ''}|${p.message.get('MSA-2') ?? ''}`);
            return;
          }
          const seq = p.message.get('OBR-3.1') ?? '';
          const attempt = copies.filter((c) => c.seq === seq).length;
          copies.push({ seq, controlId: msh.controlId, msh15: msh.acceptAckType, msh16: msh.applicationAckType });
          const answers = SCRIPT[seq]?.[Math.min(attempt, (SCRIPT[seq]?.length ?? 1) - 1)] ?? ['AR'];
          for (const a of answers) {
            const app = a.startsWith('A');
            const id = a === 'AA-wrong-id' ? `${msh.controlId}X` : msh.controlId;
            const code = a.slice(0, 2);
            const own = app ? `APP${++appAcks}` : `COM${copies.length}`;
            const err = code === 'AR' || code === 'CR' ? `ERR|||207^Application error^HL70357|E\r` : '';
            // An application ACK is a message of its own, asking for a commit ACK (MSH-15 = AL).
            socket.write(encodeFrame(Buffer.from(`MSH|^~\\&|LAB|GEN|HL7ENGINE||20261203||ACK^R01^ACK|${own}|P|2.5.1|||${app ? 'AL' : ''}|${app ? 'NE' : ''}\rMSA|${code}|${id}\r${err}`)));
          }
        },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kafka = testKafka();
  const name = `enh-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  const file = join(dir, 'd.yaml');
  writeFileSync(
    file,
    `name: ${name}\nsource: { topic: ${topic} }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${(server.address() as net.AddressInfo).port}, ackTimeoutMs: 1500, acknowledgment: enhanced }\nretry: { maxAttempts: 3, backoffMs: 10, maxBackoffMs: 10 }\n`,
  );
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: RECORDS.map((seq) => ({ key: 'p1', value: bundle(seq) })) });
  await producer.disconnect();
  const groupId = `${name}-group`;
  const worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), groupId });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await worker.start();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions[0]?.offset;
      if (committed === String(RECORDS.length)) break;
      if (Date.now() > deadline) assert.fail(`committed ${committed ?? 'nothing'} of ${RECORDS.length}; copies: ${JSON.stringify(copies.map((c) => c.seq))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      copies.map((c) => c.seq),
      ['E0', 'E1', 'E1', 'E2', 'E2', 'E3', 'E4', 'E5', 'E5', 'E6', 'E6'],
      'in order; CE, AE, a lone CA and a mismatched application ACK each cost one resend; CR and AR none',
    );
    for (const seq of RECORDS) assert.equal(new Set(copies.filter((c) => c.seq === seq).map((c) => c.controlId)).size, 1, `${seq}: one MSH-10 across resends`);
    assert.ok(copies.every((c) => c.msh15 === 'AL' && c.msh16 === 'AL'), 'every message asks for enhanced acknowledgment (MSH-15/16 = AL)');
    const dead = (await readTopic(dlqTopicOf(destination), { until: (rs) => rs.length >= 2 })).map((r) => JSON.parse(r.value.toString('utf8')) as OutboundDeadLetter);
    assert.deepEqual(
      dead.map((d) => [d.failure.category, d.failure.ackCode, d.failure.detail]),
      [
        ['rejected', 'CR', 'ERR|||207^Application error^HL70357|E'],
        ['rejected', 'AR', 'ERR|||207^Application error^HL70357|E'],
      ],
    );
    // Our CA for each application ACK that matched a message of ours (AA, AE, AR); the mismatched one got none.
    assert.equal(commitAcks.length, 7);
    assert.ok(commitAcks.every((c) => /^CA\|APP\d+$/.test(c)), commitAcks.join(' '));
    assert.equal(new Set(commitAcks).size, 7);
  } finally {
    await worker.stop();
    await admin.disconnect();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
