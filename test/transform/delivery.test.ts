/**
 * Delivery guarantees of the transform worker on the real Kafka: at-least-once with idempotent
 * output (a crash between writing and committing repeats records byte for byte, and drops none),
 * progress stopping while a write fails, and one patient's messages staying in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { GroupCommitProducer, type OutRecord, type StoredAt } from '../../src/kafka/index.js';
import { TransformWorker, transformGroupId, type RecordPublisher } from '../../src/transform/index.js';
import { readTopic, type ReadRecord } from '../support/kafka.js';
import {
  adt,
  channelWithTopics,
  committedOffsets,
  endOffsets,
  eventually,
  fakeConverter,
  freshMetrics,
  hl7,
  quietLogger,
  testKafka,
  writeRaw,
} from './support.js';

async function realProducer(kafka: Kafka, topics: string[]): Promise<GroupCommitProducer> {
  const p = new GroupCommitProducer(kafka);
  await p.connect();
  await p.learnTopics(topics);
  return p;
}

function total(offsets: Map<number, string>): number {
  let n = 0;
  for (const o of offsets.values()) if (Number(o) > 0) n += Number(o);
  return n;
}

/** Output records grouped by the raw record they came from ("partition/offset"). */
function byRawRecord(records: readonly ReadRecord[]): Map<string, ReadRecord[]> {
  const m = new Map<string, ReadRecord[]>();
  for (const r of records) {
    const k = `${r.headers['hl7_raw_partition']}/${r.headers['hl7_raw_offset']}`;
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(r);
  }
  return m;
}

test('at-least-once: after a crash between writing Bundles and committing, a restarted worker leaves every raw record with output and every repeat byte-identical', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('tx-crash', kafka);
  const raws = Array.from({ length: 30 }, (_, i) => ({ text: adt(`MRN${i % 5}`, `C${i}`) }));
  await writeRaw(kafka, channel, raws);
  const producer = await realProducer(kafka, [channel.topics.fhir, channel.topics.dlq]);
  const group = transformGroupId(channel.name);
  const { logger } = quietLogger();

  // The first worker "crashes" right after Kafka acknowledged its 12th Bundle: abort() commits
  // nothing more, exactly what a killed process would leave behind.
  let acked = 0;
  let crashed: Promise<void> | null = null;
  let first: TransformWorker | null = null;
  const crashing: RecordPublisher = {
    publish: async (record: OutRecord, timeoutMs: number): Promise<StoredAt> => {
      const at = await producer.publish(record, timeoutMs);
      if (++acked === 12 && first) crashed = first.abort();
      return at;
    },
  };
  first = new TransformWorker({ channel, kafka, publisher: crashing, convert: fakeConverter, logger, metrics: freshMetrics() });
  await first.start();
  assert.ok(await eventually(async () => crashed !== null), 'the first worker never reached its 12th write');
  await crashed;
  const afterCrash = await committedOffsets(kafka, group, channel.topics.raw);
  assert.ok(total(afterCrash) < 30, `the crashed worker committed everything (${total(afterCrash)}), so nothing is redelivered`);

  const second = new TransformWorker({ channel, kafka, publisher: producer, convert: fakeConverter, logger, metrics: freshMetrics() });
  await second.start();
  try {
    const end = await endOffsets(kafka, channel.topics.raw);
    assert.ok(
      await eventually(async () => {
        const c = await committedOffsets(kafka, group, channel.topics.raw);
        return [...end].every(([p, high]) => high === '0' || c.get(p) === high);
      }),
      'the restarted worker did not commit the whole raw topic',
    );
  } finally {
    await second.stop();
    await producer.disconnect();
  }

  const fhir = await readTopic(channel.topics.fhir, { until: (rs) => byRawRecord(rs).size >= 30 });
  const groups = byRawRecord(fhir);
  assert.equal(groups.size, 30, 'a raw record has no Bundle');
  const repeated = [...groups.values()].filter((g) => g.length > 1);
  assert.ok(repeated.length > 0, 'nothing was redelivered, so this run proves nothing');
  for (const copies of repeated) {
    const [one, ...rest] = copies;
    for (const other of rest) {
      assert.equal(other.key, one!.key);
      assert.ok(other.value.equals(one!.value), 'a repeated Bundle differs in its bytes');
      assert.deepEqual(other.headers, one!.headers);
    }
  }
});

test('at-least-once across a real crash: a worker process killed (SIGKILL) after writing but before committing loses nothing, and its repeats are byte-identical', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('tx-kill', kafka);
  await writeRaw(kafka, channel, Array.from({ length: 30 }, (_, i) => ({ text: adt(`MRN${i % 5}`, `K${i}`) })));
  const group = transformGroupId(channel.name);

  const child = spawn(process.execPath, [new URL('./crash-child.js', import.meta.url).pathname], {
    env: { ...process.env, CHANNEL_FILE: channel.file, CRASH_AFTER: '12' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  assert.equal(signal, 'SIGKILL', `the worker process did not die by SIGKILL: ${stderr}`);
  assert.ok(total(await committedOffsets(kafka, group, channel.topics.raw)) < 30, 'the killed worker had committed everything');

  const producer = await realProducer(kafka, [channel.topics.fhir, channel.topics.dlq]);
  const { logger } = quietLogger();
  const worker = new TransformWorker({ channel, kafka, publisher: producer, convert: fakeConverter, logger, metrics: freshMetrics(), sessionTimeoutMs: 6000 });
  await worker.start();
  try {
    const end = await endOffsets(kafka, channel.topics.raw);
    assert.ok(
      await eventually(async () => {
        const c = await committedOffsets(kafka, group, channel.topics.raw);
        return [...end].every(([p, high]) => high === '0' || c.get(p) === high);
      }, 60_000),
      'the restarted worker did not commit the whole raw topic',
    );
  } finally {
    await worker.stop();
    await producer.disconnect();
  }
  const fhir = await readTopic(channel.topics.fhir, { until: (rs) => byRawRecord(rs).size >= 30 });
  const groups = byRawRecord(fhir);
  assert.equal(groups.size, 30, 'a raw record has no Bundle');
  const repeated = [...groups.values()].filter((g) => g.length > 1);
  assert.ok(repeated.length > 0, 'nothing was redelivered, so this run proves nothing');
  for (const [one, ...rest] of repeated) {
    for (const other of rest) {
      assert.equal(other.key, one!.key);
      assert.ok(other.value.equals(one!.value), 'a repeated Bundle differs in its bytes');
      assert.deepEqual(other.headers, one!.headers);
    }
  }
});

test('when the DLQ cannot be written, the raw offset is not committed and the worker retries until it can', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('tx-dlqdown', kafka);
  const unsupported = hl7('MSH|^~\\&|SCHED|GENHOSP|HL7ENGINE|GENHOSP|20261121090000||SIU^S12^SIU_S12|S1|P|2.5.1', 'PID|1||MRN1^^^GENHOSP^MR');
  // One key: all three land on one raw partition, in this order (offsets 0, 1, 2).
  await writeRaw(kafka, channel, [
    { text: adt('MRN1', 'A1'), key: 'pt:same' },
    { text: unsupported, key: 'pt:same' },
    { text: adt('MRN1', 'A3'), key: 'pt:same' },
  ]);
  const producer = await realProducer(kafka, [channel.topics.fhir, channel.topics.dlq]);
  let dlqDown = true;
  let dlqAttempts = 0;
  const flaky: RecordPublisher = {
    publish: (record, timeoutMs) => {
      if (record.topic === channel.topics.dlq) {
        dlqAttempts++;
        if (dlqDown) return Promise.reject(new Error('simulated: DLQ topic unavailable'));
      }
      return producer.publish(record, timeoutMs);
    },
  };
  const metrics = freshMetrics();
  const { logger } = quietLogger();
  const worker = new TransformWorker({
    channel,
    kafka,
    publisher: flaky,
    convert: fakeConverter,
    logger,
    metrics,
    retryBackoffMs: { initial: 100, max: 400 },
  });
  const group = transformGroupId(channel.name);
  const partitionOf = async () => {
    const raw = await readTopic(channel.topics.raw, { until: (rs) => rs.length >= 3 });
    return raw[0]!.partition;
  };
  const partition = await partitionOf();
  await worker.start();
  try {
    assert.ok(await eventually(async () => (await committedOffsets(kafka, group, channel.topics.raw)).get(partition) === '1'), 'A1 was not committed');
    await eventually(async () => dlqAttempts >= 5, 10_000);
    assert.ok(dlqAttempts >= 5, `the DLQ write was tried ${dlqAttempts} times`);
    assert.equal((await committedOffsets(kafka, group, channel.topics.raw)).get(partition), '1', 'committed past the record whose dead letter was never written');

    dlqDown = false;
    assert.ok(await eventually(async () => (await committedOffsets(kafka, group, channel.topics.raw)).get(partition) === '3'), 'did not resume once the DLQ came back');
  } finally {
    await worker.stop();
    await producer.disconnect();
  }
  const dlq = await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 1 });
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.headers['hl7_raw_offset'], '1');
  assert.match(await metrics.registry.metrics(), new RegExp(`hl7_transform_publish_failures_total\\{channel="${channel.name}"\\} [1-9]`));
});

test('one patient’s messages reach <channel>.fhir in the order they were stored, on one partition', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('tx-order', kafka);
  const patients = 6;
  const perPatient = 15;
  const raws = [];
  for (let n = 0; n < perPatient; n++) for (let p = 0; p < patients; p++) raws.push({ text: adt(`MRN${p}`, `P${p}-${n}`) });
  await writeRaw(kafka, channel, raws);
  const producer = await realProducer(kafka, [channel.topics.fhir, channel.topics.dlq]);
  const { logger } = quietLogger();
  const worker = new TransformWorker({ channel, kafka, publisher: producer, convert: fakeConverter, logger, metrics: freshMetrics(), partitionsConcurrently: 3 });
  await worker.start();
  let fhir: ReadRecord[];
  try {
    fhir = await readTopic(channel.topics.fhir, { until: (rs) => rs.length >= raws.length });
  } finally {
    await worker.stop();
    await producer.disconnect();
  }
  assert.equal(fhir.length, raws.length);
  const seen = new Map<string, { partition: number; seq: number[] }>();
  for (const r of fhir.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
    const [patient, n] = (r.headers['hl7_control_id'] ?? '').slice(1).split('-');
    const s = seen.get(patient!) ?? { partition: r.partition, seq: [] };
    assert.equal(r.partition, s.partition, `patient ${patient} spread over two fhir partitions`);
    s.seq.push(Number(n));
    seen.set(patient!, s);
  }
  assert.equal(seen.size, patients);
  for (const [patient, s] of seen) assert.deepEqual(s.seq, Array.from({ length: perPatient }, (_, i) => i), `patient ${patient} out of order`);
});

test('a batch of slow conversions gives way to the event loop, which ingest ACKs share', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('tx-fair', kafka);
  const count = 90;
  await writeRaw(kafka, channel, Array.from({ length: count }, (_, i) => ({ text: adt('MRN1', `F${i}`), key: 'pt:one-partition' })));
  const producer = await realProducer(kafka, [channel.topics.fhir, channel.topics.dlq]);
  // 20 ms of CPU per message, twice the worker's 10 ms slice: one raw partition's batch of 90 is
  // ~1.8 s of synchronous work, and the worker must give way after every single conversion.
  const slow = (m: Parameters<typeof fakeConverter>[0]) => {
    const until = Date.now() + 20;
    while (Date.now() < until);
    return fakeConverter(m);
  };
  // Turns of the event loop, counted by a timer (as an ACK's socket write would get its turn);
  // each conversion notes the turn it ran in. No wall-clock limit: a worker that held the loop
  // for the batch would run many conversions in the same turn, however fast the machine.
  let turns = 0;
  const ticker = setInterval(() => turns++, 1);
  const turnOf: number[] = [];
  const counting = (m: Parameters<typeof fakeConverter>[0]) => {
    turnOf.push(turns);
    return slow(m);
  };
  const { logger } = quietLogger();
  const worker = new TransformWorker({ channel, kafka, publisher: producer, convert: counting, logger, metrics: freshMetrics() });
  await worker.start();
  try {
    assert.ok(await eventually(async () => turnOf.length >= count, 60_000), `converted ${turnOf.length} of ${count}`);
  } finally {
    clearInterval(ticker);
    await worker.stop();
    await producer.disconnect();
  }
  const perTurn = new Map<number, number>();
  for (const turn of turnOf) perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
  const most = Math.max(...perTurn.values());
  assert.ok(most <= 2, `${most} conversions of 20 ms ran without the event loop getting a turn in between`);
});
