/**
 * Destination filters: a condition in the outbound mapping language in source.filter. Mistakes
 * are reported at file:line:col; on the real Kafka, records the filter turns away are committed
 * and counted, never sent and never dead-lettered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createDeliveryMetrics, DeliveryWorker, dlqTopicOf, loadDestination, loadDestinations } from '../../src/delivery/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { passesFilter } from '../../src/outbound/index.js';
import { testKafka } from '../support/kafka.js';
import { withFiles } from '../support/files.js';
import { startRecordingReceiver } from '../support/mllp-receiver.js';
import { expectedBundle, loadDefaultOutbound } from '../outbound/cases.js';

/** The ORU example Bundle with its report's status and filler number (OBR-3) set. */
function report(status: string, filler: string): Record<string, unknown> {
  const b = structuredClone(expectedBundle('oru/oru-r01.json')) as { id: string; entry: { resource: Record<string, unknown> }[] };
  b.id = `${filler}-${randomUUID()}`;
  const r = b.entry.find((e) => e.resource['resourceType'] === 'DiagnosticReport');
  assert.ok(r);
  r.resource['status'] = status;
  r.resource['identifier'] = [{ type: { coding: [{ code: 'FILL' }] }, value: filler }];
  return b;
}

test('a filter that is not a condition is reported at the column of the mistake', () => {
  withFiles({ 'a.yaml': "name: a\nsource:\n  topic: x.fhir\n  filter: \"DiagnosticReport.status = final\"\ntarget: { host: h, port: 2575 }\n" }, (dir) => {
    const { errors } = loadDestinations(dir);
    assert.deepEqual(
      errors.map((e) => e.message),
      [`${join(dir, 'a.yaml')}:4:38: source.filter: compare with a text in quotes, e.g. = 'A04' (expression)`],
    );
  });
});

test('a filter naming an unknown converter, and a filter on a pass-through destination, are refused', () => {
  withFiles(
    {
      'a.yaml': "name: a\nsource: { topic: x.fhir, filter: \"Patient.gender | nonsense = 'F'\" }\ntarget: { host: h, port: 2575 }\n",
      'b.yaml': "name: b\nsource: { topic: x.raw, filter: \"Patient\" }\nmapping: { passThrough: true }\ntarget: { host: h, port: 2575 }\n",
    },
    (dir) => {
      const { errors } = loadDestinations(dir);
      assert.equal(errors.length, 2);
      const [a, b] = [errors.find((e) => e.file.endsWith('a.yaml')), errors.find((e) => e.file.endsWith('b.yaml'))];
      assert.match(a?.message ?? '', /a\.yaml:2:52: source\.filter: unknown converter "nonsense" \(outbound converters: .*\) \(expression\)$/);
      assert.equal(b?.message, `${join(dir, 'b.yaml')}:2:33: a filter reads FHIR records; a passThrough destination sends v2 bytes as they are: remove filter or passThrough (filter)`);
    },
  );
});

test('a filter is judged on the whole Bundle: paths start at a resource type', () => {
  withFiles({ 'a.yaml': "name: a\nsource: { topic: x.fhir, filter: \"DiagnosticReport.status = 'final' and not(Patient.deceased)\" }\ntarget: { host: h, port: 2575 }\n" }, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.deepEqual(errors, []);
    const f = destinations[0]!.source.filter;
    assert.ok(f);
    assert.equal(f.text, "DiagnosticReport.status = 'final' and not(Patient.deceased)");
    const set = loadDefaultOutbound();
    assert.equal(passesFilter(f.condition, report('final', 'F1'), set), true);
    assert.equal(passesFilter(f.condition, report('preliminary', 'F2'), set), false);
    const deceased = report('final', 'F3') as { entry: { resource: Record<string, unknown> }[] };
    deceased.entry.find((e) => e.resource['resourceType'] === 'Patient')!.resource['deceasedBoolean'] = true;
    assert.equal(passesFilter(f.condition, deceased, set), false);
    assert.equal(passesFilter(f.condition, null, set), false, 'a record that is not JSON passes no filter');
  });
});

test('filtered-out records are committed and counted, never sent, never dead-lettered', { timeout: 180_000 }, async () => {
  const kafka = testKafka();
  const name = `filt-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const got: string[] = [];
  const server = await startRecordingReceiver({
    answer: (m) => {
      const p = parseMessage(m.bytes.toString('utf8'));
      assert.ok(p.ok);
      got.push(p.message.get('OBR-3.1') ?? '');
      return { code: 'AA' };
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  const file = join(dir, 'd.yaml');
  writeFileSync(file, `name: ${name}\nsource: { topic: ${topic}, filter: "DiagnosticReport.status = 'final'" }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${server.port} }\n`);
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  const statuses = ['final', 'preliminary', 'final', 'cancelled', 'final'];
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: statuses.map((s, i) => ({ key: 'p1', value: JSON.stringify(report(s, `R${i}`)) })) });
  await producer.disconnect();
  const registry = new Registry();
  const groupId = `${name}-group`;
  const worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), groupId, metrics: createDeliveryMetrics(registry), lagIntervalMs: 200 });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await worker.start();
    const deadline = Date.now() + 90_000;
    for (;;) {
      const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions[0]?.offset;
      if (committed === String(statuses.length)) break;
      if (Date.now() > deadline) assert.fail(`the group committed ${committed ?? 'nothing'}, not all ${statuses.length} records`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(got, ['R0', 'R2', 'R4'], 'only the final reports were sent, in order');
    const dlqEnd = (await admin.fetchTopicOffsets(dlqTopicOf(destination)))[0]?.high;
    assert.equal(dlqEnd, '0', 'nothing dead-lettered');
    const outcomes = (await registry.getMetricsAsJSON()).find((m) => m.name === 'hl7_outbound_records_total');
    assert.deepEqual(Object.fromEntries((outcomes?.values ?? []).map((v) => [v.labels['outcome'], v.value])), { delivered: 3, filtered: 2 });
  } finally {
    await worker.stop();
    await admin.disconnect();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
