/**
 * The transform stage recovers from Kafka faults by itself, on a real broker this file owns and
 * with the engine never restarted: every message answered AA ends converted in `<channel>.fhir`
 * (or dead-lettered with a reason), any repeat is byte-identical, and hl7_transform_up is back
 * to 1 afterwards. The faults: the broker stopped three times at random points; a consumer whose
 * batch handler throws (kafkajs gives up on it with restart:false); the broker restarted while
 * a second member joining the group has a rebalance under way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { LocalKafka } from '../../devtools/local-kafka/index.js';
import { loadChannelFile, type ChannelConfig } from '../../src/channel/index.js';
import { Engine } from '../../src/engine/index.js';
import { GroupCommitProducer, ensureTopics, type OutRecord, type StoredAt } from '../../src/kafka/index.js';
import { createLogger, EngineMetrics, type Logger } from '../../src/ops/index.js';
import { SupervisedTransform, converterForChannel, transformGroupId, type RecordPublisher } from '../../src/transform/index.js';
import { createKafka } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka, type ReadRecord } from '../support/kafka.js';
import { FhirAudit, Ledger, MAPPINGS_ROOT, SteadyStream, sleep, readUntilSeen } from '../support/reliability.js';
import { adt, channelWithTopics, fakeConverter, writeRaw } from '../transform/support.js';

let kafka: LocalKafka;
let list: string[];

before(async () => {
  kafka = new LocalKafka({ name: 'transform-faults', fresh: true });
  await kafka.start();
  list = [kafka.bootstrap];
});

after(async () => {
  await kafka.stop({ removeData: true });
});

/** A small seeded generator, so a failing schedule can be told and replayed (seed printed). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function capturingLogger(): { logger: Logger; logs: () => string } {
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      captured += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination: sink }), logs: () => captured };
}

interface InProcessEngine {
  readonly engine: Engine;
  readonly channel: ChannelConfig;
  readonly metrics: EngineMetrics;
  readonly port: number;
  readonly logs: () => string;
}

/** The real engine in this process (so its metrics and readiness can be read), default mapping set. */
async function startEngine(prefix: string): Promise<InProcessEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-transform-faults-'));
  const port = await freePort();
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, `name: ${uniqueChannel(prefix)}\nlistener:\n  host: 127.0.0.1\n  port: ${port}\nack:\n  mode: original\n  timeoutMs: 1000\nmapping: default\n`);
  const channel = loadChannelFile(file);
  await ensureTopics(testKafka(list), [channel.topics.raw, channel.topics.fhir, channel.topics.dlq].map((topic) => ({ topic, partitions: 3 })));
  const { logger, logs } = capturingLogger();
  const metrics = new EngineMetrics({ defaultMetrics: false });
  const engine = new Engine({ channels: [channel], brokers: list, logger, metrics, transform: { mappingsRoot: MAPPINGS_ROOT } });
  await engine.start();
  return { engine, channel, metrics, port, logs };
}

async function gauge(metrics: EngineMetrics, channel: string): Promise<number | null> {
  const v = (await metrics.transformUp.get()).values.find((s) => s.labels['channel'] === channel);
  return v ? v.value : null;
}

async function restarts(metrics: EngineMetrics, channel: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of (await metrics.transformRestarts.get()).values) {
    if (s.labels['channel'] === channel) out[String(s.labels['reason'])] = s.value;
  }
  return out;
}

/** The errors that stopped transform consumers, by name (from the log lines the supervisor writes). */
function stopErrors(logs: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of logs.split('\n')) {
    if (!line.includes('transform stopped consuming')) continue;
    const { err, reason } = JSON.parse(line) as { err?: string; reason?: string };
    const k = `${reason}:${err}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Polls until `check` holds; fails with `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

interface DlqView {
  readonly msh?: { readonly controlId?: string } | null;
  readonly failure?: { readonly category?: string };
}

/**
 * Every AA'd message converted: its Bundle in the fhir topic or a dead letter with a category.
 * Returns the audit for further checks.
 */
async function assertAllConverted(channel: ChannelConfig, ledger: Ledger): Promise<{ fhir: FhirAudit; dlq: ReadRecord[] }> {
  const acked = ledger.acked.map((m) => m.controlId);
  assert.ok(acked.length > 0, 'messages were AA’d');
  const dlq = await readTopic(channel.topics.dlq, { list, timeoutMs: 3000, until: () => false });
  const dead = new Map<string, string>();
  for (const r of dlq) {
    const view = JSON.parse(r.value.toString('utf8')) as DlqView;
    assert.ok(view.failure?.category, 'every dead letter names its category');
    if (view.msh?.controlId) dead.set(view.msh.controlId, view.failure.category);
  }
  const fhir = new FhirAudit();
  await readUntilSeen(channel.topics.fhir, fhir, acked.filter((c) => !dead.has(c)), { list, timeoutMs: 120_000 });
  const missing = acked.filter((c) => !fhir.has(c) && !dead.has(c));
  assert.deepEqual(missing, [], `every AA’d message is converted (${acked.length} AA’d, ${missing.length} missing)`);
  assert.equal(fhir.distinctContentDuplicates, 0, 'no message or resource id converted into two different contents');
  return { fhir, dlq };
}

test('broker stopped 3 times for 5-15 s at random points while messages flow: every AA’d message converted, hl7_transform_up back to 1, no engine restart', { timeout: 540_000 }, async () => {
  const seed = Number(process.env['FAULT_SEED'] ?? Date.now() % 1_000_000);
  const random = seeded(seed);
  const te = await startEngine('tfault-outage');
  const name = te.channel.name;
  const ledger = new Ledger();
  const stream = new SteadyStream({ port: te.port, ledger, lanes: 4, tag: 'T', gapMs: 50 });
  const schedule: string[] = [];
  try {
    // start() does not wait for a first join that failed (a fresh broker's coordinator may still
    // be loading): the supervisor retries it, and the outages begin once it consumes.
    await until('hl7_transform_up to be 1 after start', async () => (await gauge(te.metrics, name)) === 1, 120_000);
    for (let i = 0; i < 3; i++) {
      const flowMs = 2000 + Math.round(random() * 4000);
      const downMs = 5000 + Math.round(random() * 10_000);
      schedule.push(`flow ${flowMs} ms, down ${downMs} ms`);
      await sleep(flowMs);
      await kafka.stop({ removeData: false });
      await sleep(downMs);
      await kafka.start();
    }
    console.log(`# outages (FAULT_SEED=${seed}): ${schedule.join('; ')}`);
    await sleep(2000);
    await stream.stop(90_000);
    assert.deepEqual([...ledger.messages.values()].filter((m) => m.ackedAt === null).map((m) => m.controlId), [], 'every message got AA in the end');

    const { fhir, dlq } = await assertAllConverted(te.channel, ledger);
    await until('hl7_transform_up{channel} back to 1', async () => (await gauge(te.metrics, name)) === 1, 120_000);
    const ready = await te.engine.readiness();
    assert.equal(ready.checks[`transform:${name}`], true, 'readiness reports the transform consuming again');
    console.log(
      `# outage x3: ${ledger.acked.length} AA’d, ${fhir.records} Bundle records (${fhir.identicalCopies} identical repeats), dlq ${dlq.length}; ` +
        `restarts ${JSON.stringify(await restarts(te.metrics, name))}; stopped by ${JSON.stringify(stopErrors(te.logs()))}`,
    );
  } finally {
    await stream.stop(0).catch(() => undefined);
    await te.engine.stop(2000);
  }
});

/** Passes records on to a real producer, except that its first call throws (a bug in a collaborator). */
class ThrowsOnce implements RecordPublisher {
  thrown = 0;
  constructor(private readonly inner: GroupCommitProducer) {}
  publish(record: OutRecord, timeoutMs: number): Promise<StoredAt> {
    if (this.thrown === 0) {
      this.thrown++;
      throw new TypeError('injected fault: the publisher threw inside the batch handler');
    }
    return this.inner.publish(record, timeoutMs);
  }
}

test('a batch handler that throws (kafkajs gives up with restart:false) is replaced by a new consumer: restart counted by reason, every raw record converted, repeats byte-identical', { timeout: 240_000 }, async () => {
  const client = testKafka(list);
  const channel = await channelWithTopics('tfault-crash', client);
  const raws = Array.from({ length: 40 }, (_, i) => ({ text: adt(`MRN${i % 7}`, `X${i}`) }));
  await writeRaw(client, channel, raws);
  const { logger, logs } = capturingLogger();
  const metrics = new EngineMetrics({ defaultMetrics: false });
  const engineKafka = createKafka(list, logger);
  const producer = new GroupCommitProducer(engineKafka);
  await producer.connect();
  await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
  const publisher = new ThrowsOnce(producer);
  const stage = new SupervisedTransform({ channel, kafka: engineKafka, publisher, convert: fakeConverter, logger, metrics });
  try {
    await stage.start();
    await until('a restart after the injected fault', () => stage.restarts >= 1, 60_000);
    await until('the new consumer consuming', () => stage.up, 60_000);
    const fhir = await readTopic(channel.topics.fhir, {
      list,
      timeoutMs: 90_000,
      until: (records) => new Set(records.map((r) => r.headers['hl7_control_id'])).size >= raws.length,
    });
    const byControlId = new Map<string, Set<string>>();
    for (const r of fhir) {
      const id = r.headers['hl7_control_id'] ?? '';
      const values = byControlId.get(id) ?? new Set<string>();
      values.add(r.value.toString('base64'));
      byControlId.set(id, values);
    }
    assert.equal(publisher.thrown, 1, 'the fault was injected once');
    assert.deepEqual(raws.map((_, i) => `X${i}`).filter((id) => !byControlId.has(id)), [], 'every raw record has its Bundle');
    assert.deepEqual([...byControlId].filter(([, v]) => v.size > 1).map(([k]) => k), [], 'repeats are byte-identical');
    const counted = await restarts(metrics, channel.name);
    assert.equal(counted['crash'], 1, `one restart, reason crash (counted: ${JSON.stringify(counted)})`);
    assert.equal(await gauge(metrics, channel.name), 1, 'hl7_transform_up is 1 again');
    assert.match(logs(), /transform stopped consuming; starting a new consumer after a backoff/);
    assert.match(logs(), /transform restarting: new consumer joining the group/);
    assert.doesNotMatch(logs(), /MRN\d|DOE/, 'no patient data in the logs');
  } finally {
    await stage.stop();
    await producer.disconnect();
  }
});

test('broker restarted while a second transform member joining the group has a rebalance under way: every AA’d message converted once in content', { timeout: 480_000 }, async () => {
  const te = await startEngine('tfault-rebalance');
  const name = te.channel.name;
  const ledger = new Ledger();
  const stream = new SteadyStream({ port: te.port, ledger, lanes: 4, tag: 'R', gapMs: 50 });
  const { logger, logs } = capturingLogger();
  const metrics = new EngineMetrics({ defaultMetrics: false });
  const engineKafka = createKafka(list, logger);
  const producer = new GroupCommitProducer(engineKafka);
  let second: SupervisedTransform | null = null;
  try {
    await producer.connect();
    await producer.learnTopics([te.channel.topics.fhir, te.channel.topics.dlq]);
    const convert = converterForChannel(te.channel, { mappingsRoot: MAPPINGS_ROOT });
    assert.ok(convert, 'the channel names the default mapping set');
    await sleep(3000);
    second = new SupervisedTransform({ channel: te.channel, kafka: engineKafka, publisher: producer, convert, logger, metrics });
    // Not awaited: its join is under way when the broker goes.
    const joining = second.start();
    // The broker goes down once the coordinator has the group rebalancing (the engine's member
    // must rejoin to make room for the second one).
    const admin = testKafka(list).admin();
    await admin.connect();
    let state = '';
    try {
      await until('the group to be rebalancing', async () => {
        const d = await admin.describeGroups([transformGroupId(name)]);
        state = d.groups[0]?.state ?? '';
        return state === 'PreparingRebalance' || state === 'CompletingRebalance';
      }, 30_000);
    } finally {
      await admin.disconnect();
    }
    console.log(`# group state when the broker was stopped: ${state}`);
    await kafka.stop({ removeData: false });
    await sleep(8000);
    await kafka.start();
    await joining;
    await sleep(2000);
    await stream.stop(90_000);
    assert.deepEqual([...ledger.messages.values()].filter((m) => m.ackedAt === null).map((m) => m.controlId), [], 'every message got AA in the end');
    const { fhir } = await assertAllConverted(te.channel, ledger);
    await until('both members consuming', async () => second!.up && (await gauge(te.metrics, name)) === 1, 120_000);
    console.log(
      `# rebalance + restart: ${ledger.acked.length} AA’d, ${fhir.records} Bundle records (${fhir.identicalCopies} identical repeats); ` +
        `restarts engine ${JSON.stringify(await restarts(te.metrics, name))} (${JSON.stringify(stopErrors(te.logs()))}), ` +
        `second member ${JSON.stringify(await restarts(metrics, name))} (${JSON.stringify(stopErrors(logs()))})`,
    );
  } finally {
    await stream.stop(0).catch(() => undefined);
    await second?.stop();
    await producer.disconnect().catch(() => undefined);
    await te.engine.stop(2000);
  }
});
