/**
 * Conversion threads (src/transform/pool.ts) under the transform worker, on the real Kafka with a
 * copy of the real mapping set: records of one key published in raw offset order with several
 * threads, the bytes those threads produce equal to converting on the main thread, a thread
 * killed mid-batch replaced with nothing lost and no record converted into two contents, a
 * mapping edit (hot reload) reaching the threads, and a thread that cannot start said loudly
 * while its records are converted on the main thread.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../../src/channel/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import type { EngineMetrics } from '../../src/ops/index.js';
import { ConversionPool, TransformWorker, converterForChannel, poolItem, resultFromWire, resultsToWire, transformRecord, type MessageConverter } from '../../src/transform/index.js';
import { REPO_DIR } from '../support/repo.js';
import { readTopic, type ReadRecord } from '../support/kafka.js';
import { channelWithTopics, endOffsets, eventually, freshMetrics, quietLogger, testKafka, writeRaw } from './support.js';

const ADT = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORU = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');
const ORIGINAL_CATEGORY = 'code: laboratory }] }';

/** The ADT^A01 test message for patient `mrn` with control id `id`. */
function adtFor(mrn: string, id: string): string {
  assert.ok(ADT.includes('|MSG00001|') && ADT.includes('123456789^^^GENHOSP^MR'), 'the ADT test message changed');
  return ADT.replace('|MSG00001|', `|${id}|`).replace('123456789^^^GENHOSP^MR', `${mrn}^^^GENHOSP^MR`);
}

function withControlId(message: string, id: string): string {
  const old = message.split('\r')[0]!.split('|')[9]!;
  return message.replace(`|${old}|`, `|${id}|`);
}

/** `patients` × `each` ADT messages, patients interleaved: P0-0, P1-0, …, P0-1, … */
function interleaved(patients: number, each: number, tag: string): string[] {
  const out: string[] = [];
  for (let n = 0; n < each; n++) for (let p = 0; p < patients; p++) out.push(adtFor(`${tag}${p}`, `${tag}-${p}-${n}`));
  assert.equal(out.length, patients * each);
  return out;
}

/** A private copy of mappings/default, so an edit here touches no other test. */
function mappingCopy(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'hl7-engine-pool-')), 'default');
  cpSync(join(REPO_DIR, 'mappings', 'default'), dir, { recursive: true });
  return dir;
}

let kafka: Kafka;
let producer: GroupCommitProducer;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  kafka = testKafka();
  producer = new GroupCommitProducer(kafka);
  await producer.connect();
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await producer.disconnect();
});

interface Running {
  readonly channel: ChannelConfig;
  readonly convert: MessageConverter;
  readonly worker: TransformWorker;
  readonly metrics: EngineMetrics;
  readonly logs: () => string;
}

async function startWorker(prefix: string, mappingDir: string, pool: ConversionPool | null, metrics = freshMetrics()): Promise<Running> {
  const channel: ChannelConfig = { ...(await channelWithTopics(prefix, kafka)), mapping: mappingDir };
  await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
  const convert = converterForChannel(channel);
  assert.ok(convert, 'the mapping set did not give a converter');
  const q = quietLogger();
  const worker = new TransformWorker({ channel, kafka, publisher: producer, convert, logger: q.logger, metrics, pool });
  cleanups.push(() => worker.stop());
  return { channel, convert, worker, metrics, logs: q.logs };
}

function newPool(threads: number, metrics: EngineMetrics, extra: Partial<ConstructorParameters<typeof ConversionPool>[0]> = {}): ConversionPool {
  const pool = new ConversionPool({ threads, logger: quietLogger().logger, metrics, ...extra });
  cleanups.push(() => pool.close());
  return pool;
}

function controlIds(records: readonly ReadRecord[]): string[] {
  return records.map((r) => r.headers['hl7_control_id'] ?? '?');
}

test('a record handed to a thread carries its own bytes, not the Kafka fetch buffer its value is a view of', () => {
  // The client's values are views into one fetch response; posting a view clones the whole
  // response to the thread, once per record.
  const fetched = Buffer.alloc(1 << 20, 0x20);
  const text = 'MSH|^~\\&|A';
  const value = fetched.subarray(4096, 4096 + text.length);
  value.write(text, 'latin1');
  const item = poolItem({ key: Buffer.from('MRN-1'), value, headers: { 'hl7-channel': Buffer.from('adt') }, offset: '7', timestamp: '0', attributes: 0 }, 'adt.raw', 2);
  assert.equal(item.value?.buffer.byteLength, text.length, 'the backing buffer is exactly the value');
  assert.equal(Buffer.from(item.value!).toString('latin1'), text);
  assert.deepEqual({ key: item.key, headers: item.headers, at: item.at }, { key: 'MRN-1', headers: { 'hl7-channel': 'adt' }, at: { topic: 'adt.raw', partition: 2, offset: '7' } });
});

test('a converted record goes back from a thread as its own UTF-8 bytes, moved rather than copied, and arrives as the same value', () => {
  // A string value would be cloned onto the engine's heap and encoded again there.
  const value = '{"resourceType":"Bundle","id":"é"}';
  const converted = { kind: 'bundle', category: null, issues: [], controlId: 'C1', seconds: 0.001, record: { topic: 'adt.fhir', key: 'MRN-1', value, headers: { hl7_control_id: 'C1' } } } as const;
  const { results, transfer } = resultsToWire([converted, null]);
  assert.equal(transfer.length, 1, 'one buffer per value');
  assert.equal(transfer[0]!.byteLength, Buffer.byteLength(value), 'the moved buffer holds exactly the value');
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(results, transfer);
  assert.equal(transfer[0]!.byteLength, 0, 'the buffer was moved to the other side, not copied');
  const received = receiveMessageOnPort(port2)!.message as typeof results;
  port1.close();
  const [back, none] = received.map(resultFromWire);
  assert.equal(none, null);
  assert.ok(Buffer.isBuffer(back!.record.value), 'the worker publishes a Buffer');
  assert.equal((back!.record.value as Buffer).toString('utf8'), value);
  assert.deepEqual({ ...back!, record: { ...back!.record, value: null } }, { ...converted, record: { ...converted.record, value: null } });
});

test('with 3 threads, the Bundles of each patient are published in the order their raw records were stored, byte-identical to converting on the main thread', async () => {
  const dir = mappingCopy();
  const metrics = freshMetrics();
  const pool = newPool(3, metrics);
  const messages = interleaved(6, 15, 'ORD');
  const run = await startWorker('pool-order', dir, pool, metrics);
  const keys = await writeRaw(kafka, run.channel, messages.map((text) => ({ text })));
  await run.worker.start();
  const fhir = await readTopic(run.channel.topics.fhir, { until: (rs) => rs.length >= 90, timeoutMs: 120_000 });
  assert.equal(fhir.length, 90, `expected 90 Bundles, got ${fhir.length}`);
  assert.equal(pool.convertedInThreads, 90, 'every record converted by a thread, none on the main thread');

  for (let p = 0; p < 6; p++) {
    const key = keys[p]!;
    const published = fhir.filter((r) => r.key === key).sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
    assert.deepEqual(
      controlIds(published),
      Array.from({ length: 15 }, (_, n) => `ORD-${p}-${n}`),
      `patient ${p}: Bundles out of raw order`,
    );
  }

  const raw = await readTopic(run.channel.topics.raw, { until: (rs) => rs.length >= 90 });
  for (const r of fhir) {
    const source = raw.find((x) => String(x.partition) === r.headers['hl7_raw_partition'] && x.offset === r.headers['hl7_raw_offset']);
    assert.ok(source, `no raw record behind Bundle ${r.headers['hl7_control_id']}`);
    const here = transformRecord(source, { topic: run.channel.topics.raw, partition: source.partition, offset: source.offset }, { channel: run.channel, convert: run.convert });
    assert.equal(here.kind, 'bundle');
    assert.equal(r.value.toString(), String(here.record.value), `Bundle of ${r.headers['hl7_control_id']} differs from the main thread's`);
    assert.deepEqual(r.headers, here.record.headers);
    assert.equal(r.key, here.record.key);
  }
});

test('a conversion thread killed mid-batch is replaced and the records it held are converted again: every message converted, none into two different contents', async () => {
  const dir = mappingCopy();
  const metrics = freshMetrics();
  const pool = newPool(2, metrics);
  await pool.whenRunning(30_000);
  const messages = interleaved(10, 60, 'KIL');
  const run = await startWorker('pool-kill', dir, pool, metrics);
  await writeRaw(kafka, run.channel, messages.map((text) => ({ text })));
  await run.worker.start();

  const started = Date.now();
  while (pool.convertedInThreads === 0 && Date.now() - started < 60_000) await new Promise((r) => setImmediate(r));
  assert.ok(pool.convertedInThreads > 0, 'no record was converted by a thread within 60 s');
  const inHand = pool.inFlight;
  await pool.killThread(0);
  assert.ok(inHand > 0, 'the kill came after the batch was already converted: not mid-batch');
  assert.ok(pool.convertedInThreads < 600, 'every record was converted before the kill');

  const fhir = await readTopic(run.channel.topics.fhir, { until: (rs) => new Set(controlIds(rs)).size >= 600, timeoutMs: 180_000 });
  const contents = new Map<string, Set<string>>();
  for (const r of fhir) {
    const id = r.headers['hl7_control_id'] ?? '?';
    const seen = contents.get(id) ?? new Set<string>();
    seen.add(r.value.toString());
    contents.set(id, seen);
  }
  assert.equal(contents.size, 600, `expected a Bundle for each of 600 messages, got ${contents.size}`);
  for (const [id, values] of contents) assert.equal(values.size, 1, `${id} was converted into ${values.size} different Bundles`);

  const restarts = (await metrics.transformThreadRestarts.get()).values.find((v) => v.labels.reason === 'exit')?.value ?? 0;
  assert.equal(restarts, 1);
  assert.ok(await eventually(async () => pool.running === 2, 30_000), `the killed thread was not replaced: ${pool.running} of 2 running`);
  const ends = await endOffsets(kafka, run.channel.topics.raw);
  assert.equal([...ends.values()].reduce((n, o) => n + Number(o), 0), 600);
});

test('a mapping edit (hot reload) reaches the threads: records stored after the switch are converted there with the new mapping, earlier ones with the old', async () => {
  const dir = mappingCopy();
  const metrics = freshMetrics();
  const pool = newPool(2, metrics);
  const run = await startWorker('pool-reload', dir, pool, metrics);
  await writeRaw(kafka, run.channel, [{ text: withControlId(ORU, 'BEFORE') }]);
  await run.worker.start();
  await readTopic(run.channel.topics.fhir, { until: (rs) => rs.length >= 1, timeoutMs: 60_000 });

  const common = join(dir, 'common.yaml');
  const text = readFileSync(common, 'utf8');
  assert.ok(text.includes(ORIGINAL_CATEGORY), 'the marker line moved in mappings/default/common.yaml');
  writeFileSync(common, text.replace(ORIGINAL_CATEGORY, 'code: reload-pool }] }'));
  const edited = converterForChannel(run.channel);
  assert.ok(edited);
  run.worker.setConverter(edited, await endOffsets(kafka, run.channel.topics.raw));
  await writeRaw(kafka, run.channel, [{ text: withControlId(ORU, 'AFTER') }]);

  const fhir = await readTopic(run.channel.topics.fhir, { until: (rs) => rs.length >= 2, timeoutMs: 60_000 });
  const valueOf = (id: string) => fhir.find((r) => r.headers['hl7_control_id'] === id)?.value.toString() ?? '';
  assert.ok(valueOf('BEFORE').includes('"code":"laboratory"'), 'the record stored before the edit lost the old mapping');
  assert.ok(valueOf('AFTER').includes('"code":"reload-pool"'), 'the record stored after the edit was not converted with the new mapping');
  assert.equal(pool.convertedInThreads, 2, 'both records converted by the threads');
});

test('a conversion thread that cannot start is retried and said loudly (log, metrics, running 0) while its records are converted on the main thread', async () => {
  const dir = mappingCopy();
  const metrics = freshMetrics();
  const missing = pathToFileURL(join(tmpdir(), 'hl7-engine-no-such-thread.js'));
  const q = quietLogger();
  const pool = newPool(1, metrics, { threadFile: missing, restartBackoff: { initialMs: 50, maxMs: 200 }, logger: q.logger });
  const run = await startWorker('pool-nostart', dir, pool, metrics);
  await writeRaw(kafka, run.channel, [0, 1, 2].map((n) => ({ text: adtFor(`NS${n}`, `NS-${n}`) })));
  await run.worker.start();

  const fhir = await readTopic(run.channel.topics.fhir, { until: (rs) => rs.length >= 3, timeoutMs: 60_000 });
  assert.deepEqual(controlIds(fhir).sort(), ['NS-0', 'NS-1', 'NS-2']);
  assert.equal(pool.running, 0);
  assert.equal(pool.convertedInThreads, 0);
  const failed = (await metrics.transformThreadRestarts.get()).values.find((v) => v.labels.reason === 'start-failed')?.value ?? 0;
  assert.ok(failed >= 1, 'no start-failed restart counted');
  assert.equal((await metrics.transformThreadsRunning.get()).values[0]?.value, 0);
  assert.equal((await metrics.transformThreadsConfigured.get()).values[0]?.value, 1);
  assert.match(q.logs(), /conversion thread could not start; its records are converted on the main event loop/);
});
