/**
 * Hot reload of destinations on the real Kafka: a changed destination's worker is restarted
 * from its committed offset (the record in flight when it stopped is sent again, nothing lost,
 * order kept), an unchanged one keeps its connection, a removed one stops; an invalid edit is
 * rejected with file:line:col, logged and counted while the last good configuration delivers on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createReloadCounter, DeliveryFleet, DestinationReloader } from '../../src/delivery/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { createLogger } from '../../src/ops/index.js';
import { testKafka } from '../support/kafka.js';
import { startRecordingReceiver, type RecordingReceiver } from '../support/mllp-receiver.js';

/** A receiver that records each frame's MSH-10 and answers AA, except to the ids in `silentFor`. */
async function aaReceiver(): Promise<{ got: string[]; silentFor: Set<string>; receiver: RecordingReceiver }> {
  const got: string[] = [];
  const silentFor = new Set<string>();
  const receiver = await startRecordingReceiver({
    answer: (m) => {
      got.push(m.controlId);
      return silentFor.has(m.controlId) ? null : { code: 'AA' };
    },
  });
  return { got, silentFor, receiver };
}

function v2(id: string): string {
  return `MSH|^~\\&|EHR|GEN|LAB|GEN|20261203||ORU^R01|${id}|P|2.5.1\rPID|1||X\r`;
}

function destinationYaml(name: string, topic: string, port: number, extra = ''): string {
  return `name: ${name}\nsource: { topic: ${topic} }\nmapping: { passThrough: true }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 120000 }\nretry: { maxAttempts: 3, backoffMs: 10, maxBackoffMs: 10 }\n${extra}`;
}

async function until(what: string, check: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function produce(topic: string, ids: string[]): Promise<void> {
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: ids.map((id) => ({ key: 'patient-1', value: v2(id) })) });
  await producer.disconnect();
}

async function reloadsBy(registry: Registry): Promise<Record<string, number>> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'hl7_outbound_config_reloads_total');
  return Object.fromEntries((m?.values ?? []).map((v) => [String(v.labels['result']), v.value]));
}

function setup(): { dir: string; run: string; kafka: ReturnType<typeof testKafka>; registry: Registry; fleet: DeliveryFleet; reloader: DestinationReloader; logs: string[] } {
  const run = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  const kafka = testKafka();
  const registry = new Registry();
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) }) });
  const fleet = new DeliveryFleet({ kafka, groupId: (n) => `${n}-${run}` });
  const reloader = new DestinationReloader({ dir, fleet, logger, reloads: createReloadCounter(registry), debounceMs: 100 });
  return { dir, run, kafka, registry, fleet, reloader, logs };
}

test('reload: a changed destination restarts from its committed offset, an unchanged one keeps its connection, a removed one stops', { timeout: 240_000 }, async () => {
  const { dir, run, kafka, registry, fleet, reloader } = setup();
  const [first, second, other] = await Promise.all([aaReceiver(), aaReceiver(), aaReceiver()]);
  const [a, b] = [`ra-${run}`, `rb-${run}`];
  await ensureTopics(kafka, [{ topic: `${a}.src`, partitions: 1 }, { topic: `${b}.src`, partitions: 1 }]);
  writeFileSync(join(dir, 'a.yaml'), destinationYaml(a, `${a}.src`, first.receiver.port));
  writeFileSync(join(dir, 'b.yaml'), destinationYaml(b, `${b}.src`, other.receiver.port));
  try {
    const start = await reloader.reload();
    assert.equal(start.result, 'applied');
    assert.deepEqual(fleet.names(), [a, b]);
    await produce(`${a}.src`, ['A1', 'A2', 'A3']);
    await produce(`${b}.src`, ['B1', 'B2']);
    await until('A1-A3 and B1-B2 delivered', () => first.got.length === 3 && other.got.length === 2);

    // A4 is in flight (the receiver keeps its ACK) when the destination's file changes.
    first.silentFor.add('A4');
    await produce(`${a}.src`, ['A4', 'A5']);
    await until('A4 sent to the first receiver', () => first.got.includes('A4'));
    writeFileSync(join(dir, 'a.yaml'), destinationYaml(a, `${a}.src`, second.receiver.port));
    const changed = await reloader.reload();
    assert.equal(changed.result, 'applied');
    assert.ok(changed.result === 'applied');
    assert.deepEqual(changed.changes, [{ destination: a, action: 'restarted' }, { destination: b, action: 'unchanged' }]);
    await until('A4 and A5 at the second receiver', () => second.got.length >= 2);
    assert.deepEqual(first.got, ['A1', 'A2', 'A3', 'A4'], 'A5 never went to the old target');
    assert.deepEqual(second.got, ['A4', 'A5'], 'the uncommitted A4 first, then A5: nothing lost, order kept');

    // B was not touched: still its one connection, still delivering.
    await produce(`${b}.src`, ['B3']);
    await until('B3 delivered', () => other.got.length === 3);
    assert.equal(other.receiver.connections, 1);
    assert.equal(other.receiver.closedConnections, 0);

    unlinkSync(join(dir, 'b.yaml'));
    const removed = await reloader.reload();
    assert.ok(removed.result === 'applied');
    assert.deepEqual(removed.changes, [{ destination: b, action: 'stopped' }, { destination: a, action: 'unchanged' }]);
    assert.deepEqual(fleet.names(), [a]);
    await until('B\'s connection closed', () => other.receiver.closedConnections === 1);
    assert.deepEqual(await reloadsBy(registry), { success: 3, failure: 0 });
  } finally {
    await reloader.close();
    await fleet.stop();
    await Promise.all([first, second, other].map((r) => r.receiver.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reload: an invalid destination file is rejected at file:line:col, logged and counted; the last good one keeps delivering; a fixed file is picked up by the watcher', { timeout: 240_000 }, async () => {
  const { dir, run, kafka, registry, fleet, reloader, logs } = setup();
  const rcv = await aaReceiver();
  const c = `rc-${run}`;
  await ensureTopics(kafka, [{ topic: `${c}.src`, partitions: 1 }]);
  const file = join(dir, 'c.yaml');
  writeFileSync(file, destinationYaml(c, `${c}.src`, rcv.receiver.port));
  try {
    assert.equal((await reloader.reload()).result, 'applied');
    await produce(`${c}.src`, ['C1']);
    await until('C1 delivered', () => rcv.got.length === 1);

    writeFileSync(file, destinationYaml(c, `${c}.src`, rcv.receiver.port).replace(`port: ${rcv.receiver.port}`, 'port: seventy'));
    const bad = await reloader.reload();
    assert.ok(bad.result === 'rejected');
    assert.equal(bad.errors.length, 1);
    assert.equal(bad.errors[0]!.message, `${file}:4:34: target.port must be a whole number, not text (type)`);
    assert.deepEqual(await reloadsBy(registry), { success: 1, failure: 1 });
    assert.ok(logs.some((l) => l.includes('destination reload rejected') && l.includes('"line":4') && l.includes('"col":34')), 'the error is logged with its position');
    assert.deepEqual(fleet.names(), [c]);
    await produce(`${c}.src`, ['C2']);
    await until('C2 delivered by the last good configuration', () => rcv.got.length === 2);
    assert.equal(rcv.receiver.connections, 1);

    // Fixed on disk (a new retry policy): the watcher reloads it without being asked.
    reloader.watch([]);
    writeFileSync(file, destinationYaml(c, `${c}.src`, rcv.receiver.port).replace('maxAttempts: 3', 'maxAttempts: 4'));
    await until('the watcher applied the fixed file', () => logs.some((l) => l.includes('"trigger":"file-change"') && l.includes('"action":"restarted"')));
    await produce(`${c}.src`, ['C3']);
    await until('C3 delivered', () => rcv.got.length === 3);
    assert.deepEqual(rcv.got, ['C1', 'C2', 'C3']);
  } finally {
    await reloader.close();
    await fleet.stop();
    await rcv.receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
