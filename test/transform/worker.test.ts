/**
 * The transform worker against the real Kafka, with a fake converter (support.ts) standing in
 * for the mapping set: what lands on `<channel>.fhir` and `<channel>.dlq`, with which key and
 * headers, and when the raw offsets are committed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../../src/channel/index.js';
import type { DlqRecord } from '../../src/records/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import type { EngineMetrics } from '../../src/ops/index.js';
import { TransformWorker, transformGroupId } from '../../src/transform/index.js';
import { readTopic, type ReadRecord } from '../support/kafka.js';
import {
  adt,
  channelWithTopics,
  committedOffsets,
  endOffsets,
  envelopeFor,
  eventually,
  fakeConverter,
  freshMetrics,
  hl7,
  quietLogger,
  testKafka,
  writeRaw,
} from './support.js';

const ORU = hl7('MSH|^~\\&|LAB|GENHOSP|HL7ENGINE|GENHOSP|20261121090000||ORU^R01^ORU_R01|L1|P|2.5.1', 'PID|1||MRN003^^^GENHOSP^MR', 'OBR|1');
const ORM = hl7('MSH|^~\\&|CPOE|GENHOSP|HL7ENGINE|GENHOSP|20261121090000||ORM^O01^ORM_O01|O1|P|2.5.1', 'PID|1||MRN004^^^GENHOSP^MR', 'ORC|NW');
const MFN = hl7('MSH|^~\\&|MDM|GENHOSP|HL7ENGINE|GENHOSP|20261121090000||MFN^M02^MFN_M02|M1|P|2.5.1', 'PID|1||MRN005^^^GENHOSP^MR');
const SIU = hl7('MSH|^~\\&|SCHED|GENHOSP|HL7ENGINE|GENHOSP|20261121090000||SIU^S12^SIU_S12|S1|P|2.5.1', 'PID|1||MRN006^^^GENHOSP^MR');
const NOT_HL7 = 'PID|1||MRN007^^^GENHOSP^MR\r';
const NOT_ENVELOPE = Buffer.from('{"hello":"world"}');

const A1 = adt('MRN001', 'A1');
const A2 = adt('MRN002', 'A2', 'X');

let kafka: Kafka;
let channel: ChannelConfig;
let producer: GroupCommitProducer;
let worker: TransformWorker;
let metrics: EngineMetrics;
let logs: () => string;
let keys: string[];
let fhir: ReadRecord[];
let dlq: ReadRecord[];

function dlqOf(controlId: string): { record: ReadRecord; body: DlqRecord } {
  for (const record of dlq) {
    const body = JSON.parse(record.value.toString()) as DlqRecord;
    if ((body.msh?.controlId ?? '') === controlId) return { record, body };
  }
  throw new Error(`no dead letter for control id ${controlId} among ${dlq.length}`);
}

function fhirOf(controlId: string): ReadRecord {
  const r = fhir.find((x) => x.headers['hl7_control_id'] === controlId);
  if (!r) throw new Error(`no Bundle record for control id ${controlId} among ${fhir.length}`);
  return r;
}

before(async () => {
  kafka = testKafka();
  channel = await channelWithTopics('tx', kafka);
  keys = await writeRaw(kafka, channel, [
    { text: A1 },
    { text: A2 },
    { text: ORU },
    { text: ORM },
    { text: MFN },
    { text: SIU },
    { text: NOT_HL7 },
    { value: NOT_ENVELOPE, key: 'opaque-key' },
  ]);
  producer = new GroupCommitProducer(kafka);
  await producer.connect();
  await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
  metrics = freshMetrics();
  const q = quietLogger();
  logs = q.logs;
  worker = new TransformWorker({ channel, kafka, publisher: producer, convert: fakeConverter, logger: q.logger, metrics });
  await worker.start();
  fhir = await readTopic(channel.topics.fhir, { until: (rs) => rs.length >= 2 });
  dlq = await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 6 });
});

after(async () => {
  await worker.stop();
  await producer.disconnect();
});

test('a converted message is published to <channel>.fhir under the raw record key, the value being exactly the Bundle JSON', () => {
  assert.equal(fhir.length, 2);
  const r = fhirOf('A1');
  assert.equal(r.key, keys[0]);
  assert.match(r.key ?? '', /^pt:[0-9a-f]{32}$/);
  const expected = fakeConverter(parseOk(A1)).bundle;
  assert.equal(r.value.toString(), JSON.stringify(expected));
  assert.equal((JSON.parse(r.value.toString()) as Bundle).type, 'transaction');
});

test('a Bundle record carries CloudEvents headers of type fhir.Bundle and links back to its raw record', async () => {
  const r = fhirOf('A1');
  const raw = await readTopic(channel.topics.raw, { until: (rs) => rs.length >= 8 });
  const source = raw.find((x) => x.headers['hl7_control_id'] === 'A1');
  assert.ok(source);
  assert.deepEqual(
    { ...r.headers, hl7_issues: undefined },
    {
      ce_specversion: '1.0',
      ce_id: envelopeFor(A1, channel.name).id,
      ce_type: 'fhir.Bundle',
      ce_source: `hl7-engine/${channel.name}/transform`,
      ce_time: '2026-11-21T13:30:00.000Z',
      'content-type': 'application/fhir+json',
      hl7_raw_topic: channel.topics.raw,
      hl7_raw_partition: String(source.partition),
      hl7_raw_offset: source.offset,
      hl7_message_type: 'ADT^A01',
      hl7_control_id: 'A1',
      hl7_issue_count: '0',
      hl7_issues: undefined,
    },
  );
  assert.equal(r.headers['hl7_issues'], '[]');
});

test('conversion issues travel in the hl7_issues header as JSON, the value staying a pure Bundle', () => {
  const r = fhirOf('A2');
  assert.equal(r.headers['hl7_issue_count'], '1');
  assert.deepEqual(JSON.parse(r.headers['hl7_issues'] ?? ''), [
    { severity: 'warning', code: 'unknown-code', location: 'PID-8', table: 'hl7-0001', message: 'code not in table hl7-0001; original coding kept' },
  ]);
  assert.equal((JSON.parse(r.value.toString()) as { resourceType: string }).resourceType, 'Bundle');
});

test('a message type with no mapping is dead-lettered as unsupported, raw bytes kept, under the raw key', () => {
  const { record, body } = dlqOf('S1');
  assert.equal(body.failure.category, 'unsupported');
  assert.equal(body.failure.stage, 'transform');
  assert.equal(body.failure.attempts, 1);
  assert.equal(body.failure.detail['messageType'], 'SIU^S12');
  assert.equal(Buffer.from(body.raw, 'base64').toString(), SIU);
  assert.equal(body.rawRecord?.topic, channel.topics.raw);
  assert.equal(record.key, keys[5]);
  assert.equal(record.headers['dlq_category'], 'unsupported');
  assert.equal(record.headers['dlq_stage'], 'transform');
  assert.equal(record.headers['hl7_raw_offset'], body.rawRecord?.offset);
});

test('a mapping that produces no Bundle is dead-lettered as mapping, with the mapping error as the message', () => {
  const { body } = dlqOf('L1');
  assert.equal(body.failure.category, 'mapping');
  assert.equal(body.failure.message, 'OBR-4 is required for a DiagnosticReport');
  assert.equal(body.failure.detail['errors'], 1);
});

test('a converter that throws is dead-lettered as mapping, naming the error type and never message content', () => {
  const { record, body } = dlqOf('O1');
  assert.equal(body.failure.category, 'mapping');
  assert.match(body.failure.message, /threw TypeError on a ORM\^O01/);
  assert.equal(body.failure.detail['error'], 'TypeError');
  assert.doesNotMatch(JSON.stringify(body.failure), /MRN004/);
  assert.equal(record.headers['dlq_category'], 'mapping');
});

test('a Bundle that fails validation is dead-lettered as validation', () => {
  const { body } = dlqOf('M1');
  assert.equal(body.failure.category, 'validation');
  assert.match(body.failure.message, /invalid code/);
});

test('stored text that is not an HL7 message is dead-lettered as parse, with the parser error code', () => {
  const body = dlq.map((r) => JSON.parse(r.value.toString()) as DlqRecord).find((b) => b.text === NOT_HL7);
  assert.ok(body);
  assert.equal(body.failure.category, 'parse');
  assert.equal(body.failure.detail['code'], 'no-msh');
});

test('a raw record that is not an envelope is dead-lettered as parse, its value kept as the raw bytes', () => {
  const record = dlq.find((r) => r.key === 'opaque-key');
  assert.ok(record);
  const body = JSON.parse(record.value.toString()) as DlqRecord;
  assert.equal(body.failure.category, 'parse');
  assert.equal(body.failure.detail['reason'], 'not-an-envelope');
  assert.deepEqual(Buffer.from(body.raw, 'base64'), NOT_ENVELOPE);
});

test('every raw offset is committed once its Bundle or dead letter is written', async () => {
  const group = transformGroupId(channel.name);
  const end = await endOffsets(kafka, channel.topics.raw);
  const done = await eventually(async () => {
    const committed = await committedOffsets(kafka, group, channel.topics.raw);
    return [...end].every(([p, high]) => high === '0' || committed.get(p) === high);
  });
  assert.ok(done, `committed ${JSON.stringify([...(await committedOffsets(kafka, group, channel.topics.raw))])} vs end ${JSON.stringify([...end])}`);
});

test('metrics count Bundles, issues by code, unknown codes by table and dead letters by category', async () => {
  const text = await metrics.registry.metrics();
  const c = channel.name;
  assert.match(text, new RegExp(`hl7_bundles_published_total\\{channel="${c}"\\} 2`));
  assert.match(text, new RegExp(`hl7_conversion_issues_total\\{channel="${c}",code="unknown-code"\\} 1`));
  assert.match(text, new RegExp(`hl7_unknown_codes_total\\{channel="${c}",table="hl7-0001"\\} 1`));
  assert.match(text, new RegExp(`hl7_dlq_total\\{channel="${c}",category="mapping"\\} 2`));
  assert.match(text, new RegExp(`hl7_dlq_total\\{channel="${c}",category="unsupported"\\} 1`));
  assert.match(text, new RegExp(`hl7_dlq_total\\{channel="${c}",category="parse"\\} 2`));
  assert.match(text, new RegExp(`hl7_conversion_seconds_count\\{channel="${c}",outcome="bundle"\\} 2`));
});

test('the worker logs dead letters without message content', () => {
  const text = logs();
  assert.match(text, /dead-lettered/);
  for (const phi of ['MRN00', 'DOE', 'JANE', '19800215']) assert.ok(!text.includes(phi), `log mentions ${phi}`);
});

function parseOk(text: string) {
  const r = parseMessage(text);
  if (!r.ok) throw new Error('test message does not parse');
  return r.message;
}
