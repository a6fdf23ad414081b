/**
 * Per-partition series after a rebalance, on the real Kafka: a worker that held both partitions
 * of its source reports lag and connection state for both; when a second worker joins its group
 * and takes one partition, the first one's series for that partition are removed (else they would
 * show the queue twice and freeze at their last value); a stopped worker leaves no gauge behind.
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
import { testKafka } from '../support/kafka.js';
import { startRecordingReceiver } from '../support/mllp-receiver.js';

async function partitionsIn(registry: Registry, metric: string, label: string): Promise<string[]> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === metric);
  return (m?.values ?? []).map((v) => String(v.labels[label])).sort();
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('after a rebalance a worker keeps lag and connection series only for the partitions it holds; stopped, it keeps none', { timeout: 300_000 }, async () => {
  const kafka = testKafka();
  const name = `rb-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.src`;
  let received = 0;
  const server = await startRecordingReceiver({
    answer: () => {
      received++;
      return { code: 'AA' };
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  const file = join(dir, 'd.yaml');
  writeFileSync(file, `name: ${name}\nsource: { topic: ${topic} }\nmapping: { passThrough: true }\ntarget: { host: 127.0.0.1, port: ${server.port} }\n`);
  const { destination } = loadDestination(file);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 2 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: [0, 1].map((partition) => ({ partition, value: `MSH|^~\\&|EHR|GEN|LAB|GEN|20261203||ORU^R01|RB${partition}|P|2.5.1\rPID|1||X\r` })),
  });
  await producer.disconnect();

  const groupId = `${name}-group`;
  const firstRegistry = new Registry();
  const first = new DeliveryWorker({ destination, kafka, outbound: null, connections: 2, groupId, metrics: createDeliveryMetrics(firstRegistry), lagIntervalMs: 200 });
  const second = new DeliveryWorker({ destination, kafka, outbound: null, connections: 2, groupId, metrics: createDeliveryMetrics(new Registry()), lagIntervalMs: 200 });
  try {
    await first.start();
    await until('both records sent and both partitions in the series', async () => {
      const lag = await partitionsIn(firstRegistry, 'hl7_outbound_lag_records', 'partition');
      const up = await partitionsIn(firstRegistry, 'hl7_outbound_connection_up', 'connection');
      return received === 2 && lag.join() === '0,1' && up.join() === '0,1';
    });

    await second.start();
    await until('the first worker reporting one partition only', async () => {
      const lag = await partitionsIn(firstRegistry, 'hl7_outbound_lag_records', 'partition');
      const up = await partitionsIn(firstRegistry, 'hl7_outbound_connection_up', 'connection');
      return lag.length === 1 && up.length <= 1;
    });
    const lag = await partitionsIn(firstRegistry, 'hl7_outbound_lag_records', 'partition');
    const up = await partitionsIn(firstRegistry, 'hl7_outbound_connection_up', 'connection');
    assert.ok(up.every((p) => lag.includes(p)), `connection series ${up.join()} only for the held partition ${lag.join()}`);

    await first.stop();
    assert.deepEqual(await partitionsIn(firstRegistry, 'hl7_outbound_lag_records', 'partition'), []);
    assert.deepEqual(await partitionsIn(firstRegistry, 'hl7_outbound_connection_up', 'connection'), []);
  } finally {
    await first.stop();
    await second.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
