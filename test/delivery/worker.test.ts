/**
 * A destination end to end on the real Kafka: FHIR Bundles for three patients on a 3-partition
 * topic, a hostile receiver that answers AE once, times out once and rejects one record with AR.
 * Every record ends AA'd exactly once or in the DLQ (the AR one, with the receiver's ERR); each
 * patient's records arrive in order; the group's committed offsets reach the end of the topic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createDeliveryMetrics, DeliveryWorker, dlqTopicOf, loadDestination, type OutboundDeadLetter } from '../../src/delivery/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { startRecordingReceiver, type RecordingReceiver } from '../support/mllp-receiver.js';
import { loadDefaultOutbound, oruBundleFor } from '../outbound/cases.js';

const PATIENTS = ['p0', 'p1', 'p2'];
const PER_PATIENT = 4;

interface Receipt {
  readonly seq: string;
  readonly controlId: string;
  readonly answer: string;
}

/** Answers by content: p1-1 AR; the first copy of any *-2 AE; the first copy of p2-3 nothing. */
function hostileReceiver(receipts: Receipt[]): Promise<RecordingReceiver> {
  const seen = new Set<string>();
  return startRecordingReceiver({
    answer: ({ bytes, controlId }) => {
      const p = parseMessage(bytes.toString('utf8'));
      assert.ok(p.ok);
      const seq = p.message.get('OBR-3.1') ?? '';
      const first = !seen.has(seq);
      seen.add(seq);
      let answer = 'AA';
      if (seq === 'p1-1') answer = 'AR';
      else if (first && seq.endsWith('-2')) answer = 'AE';
      else if (first && seq === 'p2-3') answer = 'none';
      receipts.push({ seq, controlId, answer });
      if (answer === 'none') return null;
      return answer === 'AR' ? { code: 'AR', err: 'ERR|||204^Unknown key identifier^HL70357|E' } : { code: answer };
    },
  });
}

type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

function valuesOf(metrics: MetricJson[], name: string): { labels: Record<string, string | number>; value: number }[] {
  const m = metrics.find((x) => x.name === name);
  assert.ok(m, `${name} is registered`);
  return m.values as { labels: Record<string, string | number>; value: number }[];
}

/**
 * What the hostile receiver did, read back from the metrics: three AE and one silence (four
 * resends), one AR dead-lettered, an ACK latency per ACK, every connection up at the end, the
 * queue drained; and no label carries a patient key, record number or control id.
 */
async function assertDestinationMetrics(registry: Registry, name: string, receipts: Receipt[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let lag: { labels: Record<string, string | number>; value: number }[] = [];
  for (;;) {
    lag = valuesOf(await registry.getMetricsAsJSON(), 'hl7_outbound_lag_records');
    if (lag.length === 3 && lag.every((v) => v.value === 0)) break;
    if (Date.now() > deadline) assert.fail(`queue depth never read 0 on all 3 partitions: ${JSON.stringify(lag)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const metrics = await registry.getMetricsAsJSON();
  const attempts = valuesOf(metrics, 'hl7_outbound_attempts_total');
  const byResult = Object.fromEntries(attempts.map((v) => [v.labels['result'], v.value]));
  assert.deepEqual(byResult, { AA: 11, AE: 3, AR: 1, timeout: 1 }, 'sent: 16 messages, by what came back');
  assert.equal(receipts.length, 16);
  // Resends: the three *-2 after their AE (p1-2 too), and p2-3 after its silence.
  assert.deepEqual(valuesOf(metrics, 'hl7_outbound_retries_total').map((v) => v.value), [4]);
  assert.deepEqual(valuesOf(metrics, 'hl7_outbound_dead_letters_total').filter((v) => v.value > 0).map((v) => [v.labels['category'], v.value]), [['rejected', 1]]);
  const ackCount = valuesOf(metrics, 'hl7_outbound_ack_latency_seconds').find((v) => (v as { metricName?: string }).metricName === 'hl7_outbound_ack_latency_seconds_count');
  assert.equal(ackCount?.value, 15, 'one ACK latency per ACK (the silent send has none)');
  const up = valuesOf(metrics, 'hl7_outbound_connection_up');
  assert.deepEqual(up.map((v) => [v.labels['connection'], v.value]).sort(), [['0', 1], ['1', 1], ['2', 1]]);
  const labelValues = metrics.filter((m) => m.name.startsWith('hl7_outbound_')).flatMap((m) => (m.values as { labels: Record<string, string | number> }[]).flatMap((v) => Object.values(v.labels).map(String)));
  assert.ok(labelValues.includes(name), 'labelled by destination');
  const phi = labelValues.filter((v) => /p\d/.test(v) || receipts.some((r) => r.controlId === v));
  assert.deepEqual(phi, [], 'no patient key, record number or control id in a label');
}

async function until(what: string, check: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('hostile receiver: every record AA\'d once or dead-lettered (AR), per-patient order kept, offsets committed', { timeout: 180_000 }, async () => {
  const kafka = testKafka();
  const name = `dest-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'destination-'));
  const receipts: Receipt[] = [];
  const server = await hostileReceiver(receipts);
  const port = server.port;
  const file = join(dir, 'd.yaml');
  writeFileSync(
    file,
    `name: ${name}\nsource: { topic: ${topic}, resourceTypes: [DiagnosticReport] }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 500 }\nretry: { maxAttempts: 5, backoffMs: 20, maxBackoffMs: 200 }\n`,
  );
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 3 }, { topic: dlqTopicOf(destination), partitions: 3 }]);
  const producer = kafka.producer();
  await producer.connect();
  // One patient per partition (as a keyed partitioner spreads many patients), so three connections work at once.
  const messages = PATIENTS.flatMap((p, k) => Array.from({ length: PER_PATIENT }, (_, i) => ({ key: p, partition: k, value: oruBundleFor(p, i) })));
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();

  const registry = new Registry();
  const worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), connections: 3, metrics: createDeliveryMetrics(registry), groupId: `${name}-group`, lagIntervalMs: 200 });
  try {
    await worker.start();
    const aa = (): Receipt[] => receipts.filter((r) => r.answer === 'AA');
    await until('11 AA and one AR', () => aa().length >= 11 && receipts.some((r) => r.answer === 'AR'));
    const dlq = await readTopic(dlqTopicOf(destination), { until: (rs) => rs.length >= 1 });
    assert.equal(dlq.length, 1);
    const dead = JSON.parse(dlq[0]!.value.toString('utf8')) as OutboundDeadLetter;
    assert.equal(dlq[0]!.key, 'p1');
    assert.equal(dead.failure.category, 'rejected');
    assert.equal(dead.failure.detail, 'ERR|||204^Unknown key identifier^HL70357|E');
    assert.ok(dead.message?.includes('|p1-1|'), 'the v2 message is kept for a resend');

    // Each record AA'd exactly once; resends (after AE or silence) carried the same MSH-10.
    const bySeq = new Map<string, Receipt[]>();
    for (const r of receipts) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), r]);
    assert.equal(bySeq.size, PATIENTS.length * PER_PATIENT);
    for (const [seq, rs] of bySeq) {
      assert.equal(new Set(rs.map((r) => r.controlId)).size, 1, `${seq}: one MSH-10 across resends`);
      assert.equal(rs.filter((r) => r.answer === 'AA').length, seq === 'p1-1' ? 0 : 1, `${seq}: AA'd exactly once`);
    }
    assert.deepEqual(bySeq.get('p0-2')?.map((r) => r.answer), ['AE', 'AA']);
    assert.deepEqual(bySeq.get('p2-3')?.map((r) => r.answer), ['none', 'AA']);

    // Per patient, the first copies arrive in the order the records were written.
    for (const p of PATIENTS) {
      const order = [...new Set(receipts.filter((r) => r.seq.startsWith(`${p}-`)).map((r) => r.seq))];
      assert.deepEqual(order, Array.from({ length: PER_PATIENT }, (_, i) => `${p}-${i}`), `${p} in order`);
    }

    // The group's committed offsets reach the end of every partition.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      let committed: { partition: number; offset: string }[] = [];
      const deadline = Date.now() + 30_000;
      for (;;) {
        committed = (await admin.fetchOffsets({ groupId: `${name}-group`, topics: [topic] }))[0]?.partitions ?? [];
        const done = ends.every((e) => committed.find((c) => c.partition === e.partition)?.offset === e.high);
        assert.ok(ends.every((e) => e.high === String(PER_PATIENT)), 'each partition holds one patient\'s records');
        if (done) break;
        if (Date.now() > deadline) assert.fail(`committed ${JSON.stringify(committed)} never reached ${JSON.stringify(ends)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await admin.disconnect();
    }
    const metrics = await registry.getMetricsAsJSON();
    const outcomes = metrics.find((m) => m.name === 'hl7_outbound_records_total');
    const delivered = outcomes?.values.find((v) => v.labels['outcome'] === 'delivered')?.value;
    assert.equal(delivered, 11);
    await assertDestinationMetrics(registry, name, receipts);
  } finally {
    await worker.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a receiver that is down: its queue depth shows every record, its connection reads down, retries count, nothing is committed', { timeout: 120_000 }, async () => {
  const kafka = testKafka();
  const name = `down-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'destination-'));
  // A port nobody listens on: bound, read, closed.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const file = join(dir, 'd.yaml');
  writeFileSync(file, `name: ${name}\nsource: { topic: ${topic} }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 500 }\nretry: { maxAttempts: 1000, backoffMs: 20, maxBackoffMs: 50 }\n`);
  const { destination } = loadDestination(file);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ key: 'p0', value: oruBundleFor('p0', i) })) });
  await producer.disconnect();
  const registry = new Registry();
  const worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), metrics: createDeliveryMetrics(registry), groupId: `${name}-group`, lagIntervalMs: 200 });
  try {
    await worker.start();
    const read = async (): Promise<{ lag: number[]; up: number[]; retries: number; connection: number }> => {
      const metrics = await registry.getMetricsAsJSON();
      return {
        lag: valuesOf(metrics, 'hl7_outbound_lag_records').map((v) => v.value),
        up: valuesOf(metrics, 'hl7_outbound_connection_up').map((v) => v.value),
        retries: valuesOf(metrics, 'hl7_outbound_retries_total')[0]?.value ?? 0,
        connection: valuesOf(metrics, 'hl7_outbound_attempts_total').find((v) => v.labels['result'] === 'connection')?.value ?? 0,
      };
    };
    let seen = await read();
    const deadline = Date.now() + 60_000;
    while (!(seen.retries >= 3 && seen.lag.length === 1 && seen.lag[0] === 5)) {
      if (Date.now() > deadline) assert.fail(`expected 3+ retries and a queue of 5, saw ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 100));
      seen = await read();
    }
    assert.deepEqual(seen.up, [0], 'the connection reads down');
    assert.equal(seen.connection, seen.retries + 1, 'every send failed to connect; all but the first are retries');
    const metrics = await registry.getMetricsAsJSON();
    assert.deepEqual(valuesOf(metrics, 'hl7_outbound_dead_letters_total').map((v) => v.value), [0, 0, 0, 0], 'nothing dead-lettered while retries remain');
  } finally {
    await worker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a throttle set, delivery still completes: every record AA\'d or dead-lettered once, per-patient order kept', { timeout: 180_000 }, async () => {
  const kafka = testKafka();
  const name = `throttled-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'destination-'));
  const receipts: Receipt[] = [];
  const server = await hostileReceiver(receipts);
  const port = server.port;
  const file = join(dir, 'd.yaml');
  // 20 a second across the three connections: the 16 sends (resends included) take about a second.
  writeFileSync(
    file,
    `name: ${name}\nsource: { topic: ${topic} }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 500 }\nretry: { maxAttempts: 5, backoffMs: 20, maxBackoffMs: 200 }\nthrottle: { messagesPerSecond: 20 }\n`,
  );
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.deepEqual(destination?.throttle, { messagesPerSecond: 20, burst: 1 });
  await ensureTopics(kafka, [{ topic, partitions: 3 }, { topic: dlqTopicOf(destination), partitions: 3 }]);
  const producer = kafka.producer();
  await producer.connect();
  const messages = PATIENTS.flatMap((p, k) => Array.from({ length: PER_PATIENT }, (_, i) => ({ key: p, partition: k, value: oruBundleFor(p, i) })));
  assert.equal(messages.length, 12);
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  const worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), connections: 3, groupId: `${name}-group` });
  try {
    await worker.start();
    await until('11 AA and one AR through the throttle', () => receipts.filter((r) => r.answer === 'AA').length >= 11 && receipts.some((r) => r.answer === 'AR'));
    const dlq = await readTopic(dlqTopicOf(destination), { until: (rs) => rs.length >= 1 });
    assert.equal(dlq.length, 1);
    const bySeq = new Map<string, Receipt[]>();
    for (const r of receipts) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), r]);
    assert.equal(bySeq.size, 12);
    for (const [seq, rs] of bySeq) assert.equal(rs.filter((r) => r.answer === 'AA').length, seq === 'p1-1' ? 0 : 1, `${seq}: AA'd exactly once`);
    for (const p of PATIENTS) {
      const order = [...new Set(receipts.filter((r) => r.seq.startsWith(`${p}-`)).map((r) => r.seq))];
      assert.deepEqual(order, Array.from({ length: PER_PATIENT }, (_, i) => `${p}-${i}`), `${p} in order`);
    }
  } finally {
    await worker.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
