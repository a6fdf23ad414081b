/**
 * The engine still works on Apache Kafka 3.9.1 (the suite runs on the 4.x broker): ingest,
 * transform and replay against a 3.9.1 broker of its own. An ADT^A01 and an ORU^R01 are sent over
 * MLLP with the ORU mapping broken on purpose (DiagnosticReport.status takes OBR-25 as sent, without
 * the table lookup, so "F" is not an R4 code): both get AA and their raw records, the ADT gets its Bundle, the ORU is dead-lettered;
 * after the fix, a replay from the DLQ brings the ORU's Bundle.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { LocalKafka } from '../../devtools/local-kafka/index.js';
import { validateBundle } from '../../src/fhir/index.js';
import type { RawEnvelope, StoredDeadLetter } from '../../src/records/index.js';
import { runReplay } from '../../src/replay/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic, testKafka, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';

const VERSION = '3.9.1';
const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'));
const ORU_R01 = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'));
// The report's status comes from the shared resultReport template; the ORU map overrides it.
const ORU_REPORT = '    use: resultReport\n    forEach: ORDER\n';
const ORU_REPORT_BROKEN = `${ORU_REPORT}    map:\n      status: { $first: ["OBR-25", { $const: unknown }] }\n`;

const broker = new LocalKafka({ name: 'kafka-3.9-smoke', version: VERSION, fresh: true, startTimeoutMs: 120_000 });
let list: string[];
let te: TestEngine | undefined;
let setDir: string;
let raw: ReadRecord[];
let fhirBefore: ReadRecord[];
let dlq: ReadRecord[];

function controlId(r: ReadRecord): string | undefined {
  return r.headers['hl7_control_id'];
}

before(
  async () => {
    await broker.start();
    list = [broker.bootstrap];
    const work = mkdtempSync(join(tmpdir(), 'hl7-engine-kafka39-'));
    setDir = join(work, 'mappings', 'default');
    cpSync(join(REPO_DIR, 'mappings', 'default'), setDir, { recursive: true });
    const oru = readFileSync(join(setDir, 'messages', 'oru_r01.yaml'), 'utf8');
    assert.ok(oru.includes(ORU_REPORT), 'the ORU mapping lines this test breaks are gone: update the test');
    writeFileSync(join(setDir, 'messages', 'oru_r01.yaml'), oru.replace(ORU_REPORT, ORU_REPORT_BROKEN));

    te = await startEngine(
      `name: ${uniqueChannel('kafka39')}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${setDir}\n`,
      { brokers: list },
    );
    const client = await RawMllpClient.open(te.port);
    try {
      for (const m of [ADT_A01, ORU_R01]) {
        const ack = await client.roundTrip(m);
        assert.ok(ack, 'no ACK');
        assert.equal(readAck(ack).code, 'AA');
      }
    } finally {
      client.close();
    }
    raw = await readTopic(te.channel.topics.raw, { list, until: (rs) => rs.length >= 2 });
    fhirBefore = await readTopic(te.channel.topics.fhir, { list, until: (rs) => rs.length >= 1, timeoutMs: 40_000 });
    dlq = await readTopic(te.channel.topics.dlq, { list, until: (rs) => rs.length >= 1, timeoutMs: 40_000 });
  },
  { timeout: 240_000 },
);

after(async () => {
  await te?.stop();
  await broker.stop();
});

test('the broker under test is Kafka 3.9.1: its JVM runs the 3.9.1 jars', () => {
  assert.ok(broker.pid, 'no broker pid');
  const cmdline = readFileSync(`/proc/${broker.pid}/cmdline`, 'utf8').split('\0');
  assert.ok(
    cmdline.some((a) => a.endsWith(`kafka-${VERSION}/lib/*`)),
    `classpath: ${cmdline[cmdline.indexOf('-cp') + 1]}`,
  );
});

test('on 3.9.1, each message acknowledged AA has its raw record with the bytes sent', () => {
  assert.deepEqual(raw.map(controlId).sort(), ['LAB000042', 'MSG00001']);
  for (const [id, sent] of [['MSG00001', ADT_A01], ['LAB000042', ORU_R01]] as const) {
    const r = raw.find((x) => controlId(x) === id)!;
    const envelope = JSON.parse(r.value.toString()) as RawEnvelope;
    assert.deepEqual(Buffer.from(envelope.raw, 'base64'), sent, `raw bytes of ${id}`);
  }
});

test('on 3.9.1, the mapped ADT^A01 reaches <channel>.fhir as a valid transaction Bundle keyed like its raw record', () => {
  assert.deepEqual(fhirBefore.map(controlId), ['MSG00001']);
  const r = fhirBefore[0]!;
  const bundle = JSON.parse(r.value.toString()) as Bundle;
  assert.equal(bundle.type, 'transaction');
  assert.deepEqual(validateBundle(bundle), []);
  assert.equal(r.key, raw.find((x) => controlId(x) === 'MSG00001')!.key);
});

test('on 3.9.1, the ORU^R01 the broken mapping cannot convert is dead-lettered with its reason', () => {
  assert.equal(dlq.length, 1);
  const dead = JSON.parse(dlq[0]!.value.toString()) as StoredDeadLetter;
  assert.equal(dead.msh?.controlId, 'LAB000042');
  assert.equal(dead.failure.stage, 'transform');
  assert.equal(dead.failure.category, 'validation');
  assert.deepEqual(Buffer.from(dead.raw, 'base64'), ORU_R01);
});

test('on 3.9.1, after the fix a replay from the DLQ publishes the ORU^R01 Bundle', async () => {
  cpSync(join(REPO_DIR, 'mappings', 'default', 'messages', 'oru_r01.yaml'), join(setDir, 'messages', 'oru_r01.yaml'));
  const channel = te!.channel;
  let out = '';
  let err = '';
  const code = await runReplay(
    ['--from', 'dlq', '--reason', 'ORU mapping fixed', '--channels', dirname(channel.file), '--channel', channel.name, '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'hl7-engine-kafka39-cp-'))],
    { stdout: (t) => (out += t), stderr: (t) => (err += t) },
    { kafka: testKafka(list), env: { ...process.env, HL7_OPERATOR: 'smoke-test' } },
  );
  assert.equal(code, 0, err + out);
  assert.match(out, /selected 1: 1 converted/);
  const fhir = await readTopic(channel.topics.fhir, { list, until: (rs) => rs.length >= 2, timeoutMs: 40_000 });
  assert.deepEqual(fhir.map(controlId).sort(), ['LAB000042', 'MSG00001']);
  const bundle = JSON.parse(fhir.find((x) => controlId(x) === 'LAB000042')!.value.toString()) as Bundle;
  assert.deepEqual(validateBundle(bundle), []);
  assert.ok(bundle.entry?.some((e) => e.resource?.resourceType === 'DiagnosticReport'), 'no DiagnosticReport in the replayed Bundle');
});
