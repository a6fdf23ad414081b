/**
 * End to end on the real Kafka with the real mapping set: MLLP → `<channel>.raw` → transform →
 * `<channel>.fhir`, keyed by patient, and an unmapped type dead-lettered as unsupported, through
 * the engine a deployment runs (startEngine) with a channel that names mappings/default.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { validateBundle } from '../../src/fhir/index.js';
import type { DlqRecord } from '../../src/records/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { TransformWorker, converterForChannel } from '../../src/transform/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freshMetrics, quietLogger, testKafka } from './support.js';

const MESSAGES = join(REPO_DIR, 'test-messages');
const ADT_A01 = readFileSync(join(MESSAGES, 'adt', 'adt-a01.hl7'));
const ORU_R01 = readFileSync(join(MESSAGES, 'oru', 'oru-r01.hl7'));
const ORM_O01 = readFileSync(join(MESSAGES, 'orm', 'orm-o01.hl7'));
const MFN_M02 = readFileSync(join(MESSAGES, 'bad', 'mfn-not-accepted.hl7'));

/** The same patient as ADT_A01 (same PID-3), a later message with its own control id. */
const ADT_A01_AGAIN = Buffer.from(ADT_A01.toString('latin1').replace('|MSG00001|', '|MSG00001B|'), 'latin1');

let te: TestEngine;
let raw: ReadRecord[];
let fhir: ReadRecord[];
let dlq: ReadRecord[];

function byControlId(records: readonly ReadRecord[], id: string): ReadRecord {
  const r = records.find((x) => x.headers['hl7_control_id'] === id);
  if (!r) throw new Error(`no record for control id ${id} among ${records.length}`);
  return r;
}

before(async () => {
  te = await startEngine(
    `name: ${uniqueChannel('tx-e2e')}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${join(REPO_DIR, 'mappings', 'default')}\n`,
  );
  const client = await RawMllpClient.open(te.port);
  try {
    for (const m of [ADT_A01, ORU_R01, ORM_O01, MFN_M02, ADT_A01_AGAIN]) {
      const ack = await client.roundTrip(m);
      assert.ok(ack, 'no ACK');
      assert.equal(readAck(ack).code, 'AA');
    }
  } finally {
    client.close();
  }
  raw = await readTopic(te.channel.topics.raw, { until: (rs) => rs.length >= 5 });
  fhir = await readTopic(te.channel.topics.fhir, { until: (rs) => rs.length >= 4, timeoutMs: 40_000 });
  dlq = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 1 });
});

after(async () => {
  await te.stop();
});

test('each mapped message sent over MLLP reaches <channel>.fhir as a valid transaction Bundle', () => {
  assert.equal(fhir.length, 4);
  for (const r of fhir) {
    const bundle = JSON.parse(r.value.toString()) as Bundle;
    assert.equal(bundle.type, 'transaction');
    assert.deepEqual(validateBundle(bundle), [], `Bundle for ${r.headers['hl7_control_id']} is not valid R4`);
    assert.equal(r.headers['ce_type'], 'fhir.Bundle');
    assert.equal(r.headers['content-type'], 'application/fhir+json');
  }
  const types = fhir.map((r) => r.headers['hl7_message_type']).sort();
  assert.deepEqual(types, ['ADT^A01', 'ADT^A01', 'ORM^O01', 'ORU^R01']);
});

test('a Bundle is keyed by patient: the raw record’s key, and the same key for two messages of one patient', () => {
  for (const r of fhir) {
    const id = r.headers['hl7_control_id'] ?? '';
    const source = byControlId(raw, id);
    assert.equal(r.key, source.key, `Bundle for ${id} is not keyed like its raw record`);
    assert.match(r.key ?? '', /^pt:[0-9a-f]{32}$/, 'not a patient key');
    assert.equal(r.headers['hl7_raw_partition'], String(source.partition));
    assert.equal(r.headers['hl7_raw_offset'], source.offset);
  }
  const first = byControlId(fhir, 'MSG00001');
  const again = byControlId(fhir, 'MSG00001B');
  assert.equal(again.key, first.key);
  assert.equal(again.partition, first.partition);
  assert.ok(BigInt(again.offset) > BigInt(first.offset), 'the later message of the patient came out first');
});

test('a message type the mapping set does not cover is dead-lettered as unsupported, its bytes kept', () => {
  assert.equal(dlq.length, 1);
  const body = JSON.parse(dlq[0]!.value.toString()) as DlqRecord;
  assert.equal(body.failure.category, 'unsupported');
  assert.equal(body.failure.stage, 'transform');
  assert.deepEqual(Buffer.from(body.raw, 'base64'), MFN_M02);
  assert.equal(body.rawRecord?.offset, byControlId(raw, 'MFN0001').offset);
});

test('converting the stored messages again (a second consumer group, as a replay would) gives byte-identical Bundle records', async () => {
  const kafka = testKafka();
  const producer = new GroupCommitProducer(kafka);
  await producer.connect();
  await producer.learnTopics([te.channel.topics.fhir, te.channel.topics.dlq]);
  const convert = converterForChannel(te.channel);
  assert.ok(convert);
  const { logger } = quietLogger();
  const replay = new TransformWorker({
    channel: te.channel,
    kafka,
    publisher: producer,
    convert,
    logger,
    metrics: freshMetrics(),
    groupId: `${uniqueChannel('replay')}`,
  });
  await replay.start();
  let all: ReadRecord[];
  try {
    all = await readTopic(te.channel.topics.fhir, { until: (rs) => rs.length >= 8, timeoutMs: 40_000 });
  } finally {
    await replay.stop();
    await producer.disconnect();
  }
  assert.equal(all.length, 8);
  for (const first of fhir) {
    const copies = all.filter((r) => r.headers['hl7_raw_offset'] === first.headers['hl7_raw_offset'] && r.headers['hl7_raw_partition'] === first.headers['hl7_raw_partition']);
    assert.equal(copies.length, 2);
    for (const c of copies) {
      assert.equal(c.key, first.key);
      assert.ok(c.value.equals(first.value), `the Bundle for ${first.headers['hl7_control_id']} changed between two conversions`);
      assert.deepEqual(c.headers, first.headers);
    }
  }
});
