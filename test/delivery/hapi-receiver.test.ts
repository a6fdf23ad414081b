/**
 * A destination delivering to HAPI HL7v2's SimpleServer (Java, HAPI 2.5.1 from Maven Central), a
 * receiver this project did not write: the real DeliveryWorker reads ORU Bundles of three patients
 * from the real Kafka and sends them on three connections; HAPI parses each message and answers
 * with its own ACK. What HAPI read (MSH-10, message type, PID-3.1, OBR-3.1) must be the source
 * records, each once, and each patient's records in the order they were written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createDeliveryMetrics, DeliveryWorker, dlqTopicOf, loadDestination } from '../../src/delivery/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { deriveControlId } from '../../src/outbound/index.js';
import { startHapiReceiver } from '../support/hapi.js';
import { testKafka } from '../support/kafka.js';
import { loadDefaultOutbound, oruBundleFor } from '../outbound/cases.js';

const PATIENTS = ['p0', 'p1', 'p2'];
const PER_PATIENT = 3;

test('HAPI SimpleServer receives every record once, as ORU^R01 with the source MSH-10, patient and order number, per patient in order', { timeout: 240_000 }, async () => {
  const hapi = await startHapiReceiver();
  const kafka = testKafka();
  const name = `hapi-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'destination-'));
  const file = join(dir, 'd.yaml');
  writeFileSync(
    file,
    `name: ${name}\nsource: { topic: ${topic}, resourceTypes: [DiagnosticReport] }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${hapi.port}, ackTimeoutMs: 15000 }\nretry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 500 }\n`,
  );
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.ok(destination);
  let worker: DeliveryWorker | undefined;
  try {
    await ensureTopics(kafka, [{ topic, partitions: 3 }, { topic: dlqTopicOf(destination), partitions: 3 }]);
    const producer = kafka.producer();
    await producer.connect();
    const messages = PATIENTS.flatMap((p, k) => Array.from({ length: PER_PATIENT }, (_, i) => ({ key: p, partition: k, value: oruBundleFor(p, i) })));
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), connections: 3, metrics: createDeliveryMetrics(new Registry()), groupId: `${name}-group` });
    await worker.start();
    const total = PATIENTS.length * PER_PATIENT;
    const deadline = Date.now() + 180_000;
    while (hapi.received.length < total) {
      if (Date.now() > deadline) assert.fail(`HAPI received ${hapi.received.length} of ${total} messages in 180 s: ${JSON.stringify(hapi.received)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const got = hapi.received;
    // Each record once (a resend after a lost ACK would show as a repeated MSH-10).
    assert.equal(new Set(got.map((r) => r.controlId)).size, total, 'one message per record, no duplicates');
    assert.deepEqual([...new Set(got.map((r) => r.messageType))], ['ORU^R01']);
    for (const p of PATIENTS) {
      const mine = got.filter((r) => r.patientId === `MRN-${p}`);
      assert.deepEqual(mine.map((r) => r.fillerNumber), Array.from({ length: PER_PATIENT }, (_, i) => `${p}-${i}`), `${p}: every record, in order`);
    }
    // MSH-10 is derived from the source record (topic/partition/offset) and the mapping.
    const expectedIds = PATIENTS.flatMap((_, k) => Array.from({ length: PER_PATIENT }, (_, i) => deriveControlId(`${topic}/${k}/${i}`, 'oru_r01'))).sort();
    assert.deepEqual(got.map((r) => r.controlId).sort(), expectedIds, 'MSH-10 of each source record');
  } finally {
    await worker?.stop();
    await hapi.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
