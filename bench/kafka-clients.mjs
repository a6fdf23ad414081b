#!/usr/bin/env node
/**
 * kafkajs 2.2.4 against @platformatic/kafka 1.x, measured the way the engine uses a Kafka client,
 * in one process against one real local broker (the project's LocalKafka), trials interleaved
 * A, B, B, A, … so that noise from the shared machine falls on both clients alike.
 *
 *   npm run build && node bench/kafka-clients.mjs [options]
 *
 *   --broker=3.9.1|4.4.0   3.9.1 (default) is LocalKafka as the engine ships it; 4.4.0 runs the same
 *                          LocalKafka code on Kafka 4.4.0 jars assembled by this script (see below)
 *   --only=a,b             sections: produce, consume, join, keys, api, handler, faults (default all)
 *   --trial-seconds=N      length of one produce trial (default 6)
 *   --rounds=N             interleaved rounds per setting (default 3)
 *   --records=N            records pre-produced for the consume section (default 100000)
 *   --big-key              also time the 1 MB key (minutes of CPU per client: both murmur2s are quadratic)
 *   --session-timeout=MS   consumer group session timeout (default 30000, kafkajs's default)
 *   --plat-hwm=N           highWaterMark (messages) of platformatic's consumer stream (library default 1024)
 *   --out=FILE             also write every figure as JSON
 *
 * The figures go to stdout as Markdown tables; bench/KAFKA-CLIENTS.md records a run of them.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import kafkajs from 'kafkajs';
import * as plat from '@platformatic/kafka';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { LocalKafka } = await import(join(ROOT, 'dist/src/kafka/local-broker.js'));

// ---------------------------------------------------------------------------------------------
// options

const argv = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const BROKER = argv.broker ?? '3.9.1';
const ONLY = new Set((argv.only ?? 'produce,consume,join,keys,api,handler,faults').split(','));
const TRIAL_S = Number(argv['trial-seconds'] ?? 6);
const ROUNDS = Number(argv.rounds ?? 3);
const CONSUME_RECORDS = Number(argv.records ?? 100_000);
const BIG_KEY = argv['big-key'] === 'true';
const OUT = argv.out;
const SESSION_MS = Number(argv['session-timeout'] ?? 30_000);
const PLAT_HWM = argv['plat-hwm'] ? Number(argv['plat-hwm']) : undefined;

const KAFKAJS_VERSION = JSON.parse(readFileSync(join(ROOT, 'node_modules/kafkajs/package.json'), 'utf8')).version;
const PLAT_VERSION = JSON.parse(readFileSync(join(ROOT, 'node_modules/@platformatic/kafka/package.json'), 'utf8')).version;
const CLIENTS = ['kafkajs', 'platformatic'];

const results = { machine: {}, versions: {}, produce: [], consume: [], join: [], keys: [], api: {}, handler: {}, faults: {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

// Errors the libraries let escape (an emitter with no listener, a throwing stream listener) are
// recorded against the section that is running instead of ending the whole run.
let escaped = [];
process.on('uncaughtException', (e) => {
  escaped.push({ kind: 'uncaughtException', name: e?.name, message: String(e?.message).slice(0, 200) });
  log('uncaughtException', e?.name, e?.message);
});
process.on('unhandledRejection', (e) => {
  escaped.push({ kind: 'unhandledRejection', name: e?.name, message: String(e?.message).slice(0, 200) });
  log('unhandledRejection', e?.name, e?.message);
});

// ---------------------------------------------------------------------------------------------
// the broker

/**
 * LocalKafka keeps its jars in <cacheDir>/kafka-<the version it pins>/lib. For 4.4.0 the bench
 * fills that folder, in a cache of its own, with the 4.4.0 broker jars and a log4j2 backend (4.x
 * logs through log4j2, which reads LOG4J_CONFIGURATION_FILE), so the very same start/stop/restart
 * code runs the newer broker. The folder name then only tells which LocalKafka it serves.
 */
function prepareKafka44() {
  const cacheDir = join(homedir(), '.cache', 'hl7-engine-bench-kafka-4.4.0');
  const home = join(cacheDir, 'kafka-3.9.1');
  const log4j2 = join(home, 'log4j2.properties');
  if (!existsSync(join(home, '.complete'))) {
    mkdirSync(home, { recursive: true });
    writeFileSync(
      join(home, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.hl7engine</groupId><artifactId>kafka-broker-classpath-bench</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>4.4.0</version></dependency>
    <!-- kafka_2.13 4.4.0 brings slf4j-api 1.7.36, so the SLF4J 1.x binding of log4j2 -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.5</version></dependency>
  </dependencies></project>\n`,
    );
    execFileSync('mvn', ['-B', '-q', '-f', join(home, 'pom.xml'), 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies', `-DoutputDirectory=${join(home, 'lib')}`, '-DincludeScope=runtime'], { stdio: 'inherit' });
    writeFileSync(
      log4j2,
      [
        'appender.console.type = Console',
        'appender.console.name = STDOUT',
        'appender.console.layout.type = PatternLayout',
        'appender.console.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = WARN',
        'rootLogger.appenderRef.stdout.ref = STDOUT',
        'logger.raft.name = kafka.server.KafkaRaftServer',
        'logger.raft.level = INFO',
        '',
      ].join('\n'),
    );
    writeFileSync(join(home, 'log4j.properties'), '');
    writeFileSync(join(home, '.complete'), new Date().toISOString());
  }
  process.env.LOG4J_CONFIGURATION_FILE = log4j2;
  return cacheDir;
}

function newBroker() {
  if (BROKER === '3.9.1') return new LocalKafka({ name: 'kclient-bench', fresh: true });
  if (BROKER === '4.4.0') return new LocalKafka({ name: 'kclient-bench', fresh: true, cacheDir: prepareKafka44() });
  throw new Error(`--broker must be 3.9.1 or 4.4.0, not ${BROKER}`);
}

// ---------------------------------------------------------------------------------------------
// records as the engine writes them

const HL7 = readFileSync(join(ROOT, 'test-messages/adt/adt-a01.hl7'), 'latin1');
/** A raw envelope of about 2 KB; id (24 chars) and time (13 digits) are patched per record. */
const ENVELOPE = Buffer.from(
  JSON.stringify({
    id: 'X'.repeat(24),
    at: 1000000000000,
    v: 1,
    channel: 'adt',
    peer: '127.0.0.1:40000',
    listener: 'adt-mllp',
    charset: { declared: 'UNICODE UTF-8', used: 'utf-8', repaired: false },
    msh: { type: 'ADT^A01', version: '2.5.1', controlId: 'CONTROLID0000000001' },
    text: HL7,
    meta: { engine: 'hl7-engine', node: 'bench', sizeBytes: HL7.length, receivedNs: '0000000000000000000' },
  }),
);
const ID_AT = ENVELOPE.indexOf('XXXXXXXXXXXXXXXXXXXXXXXX');
const TIME_AT = ENVELOPE.indexOf('1000000000000');
/** Record ids are fixed-width in the envelope; the consumer side reads them back padded. */
const padId = (id) => id.padEnd(24, '_').slice(0, 24);
function envelope(id, atMs) {
  const b = Buffer.allocUnsafe(ENVELOPE.length);
  ENVELOPE.copy(b);
  b.write(padId(id), ID_AT, 'latin1');
  b.write(String(Math.floor(atMs)).padStart(13, '0'), TIME_AT, 'latin1');
  return b;
}
const idOf = (value) => value.toString('latin1', ID_AT, ID_AT + 24);
const timeOf = (value) => Number(value.toString('latin1', TIME_AT, TIME_AT + 13));
const HEADERS = { 'hl7-channel': 'adt', 'content-type': 'application/vnd.hl7-engine.raw+json' };
const hexKey = () => randomBytes(17).toString('hex');

/** Java's murmur2 in 32-bit arithmetic (Math.imul): the reference both clients' versions must match. */
function murmur2Linear(buf) {
  const m = 0x5bd1e995;
  const len = buf.length;
  let h = (0x9747b28c ^ len) | 0;
  const len4 = len & ~3;
  for (let i = 0; i < len4; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (len & 3) {
    case 3: h ^= buf[len4 + 2] << 16; // falls through
    case 2: h ^= buf[len4 + 1] << 8; // falls through
    case 1: h ^= buf[len4]; h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
const javaPartition = (key, n) => (murmur2Linear(Buffer.from(key)) & 0x7fffffff) % n;

const kjsPartitioner = kafkajs.Partitioners.DefaultPartitioner();
const META3 = [0, 1, 2].map((p) => ({ partitionId: p, leader: 1, replicas: [1], isr: [1] }));
/** The engine's own call today (src/kafka/producer.ts): kafkajs's Java-compatible partitioner. */
const kafkajsPartition = (key) => kjsPartitioner({ topic: 't', partitionMetadata: META3, message: { key, value: null } });
/** platformatic's Java-compatible one (its defaultPartitioner is NOT: murmur2 >>> 0, not & 0x7fffffff). */
const platPartition = (key) => plat.compatibilityPartitioner(undefined, Buffer.from(key)) % 3;

// ---------------------------------------------------------------------------------------------
// the two clients behind one small interface

function kafkajsClient(bootstrap, clientId) {
  // The engine's settings (src/kafka/client.ts); logs go nowhere but the counters here.
  const errors = [];
  const kafka = new kafkajs.Kafka({
    clientId,
    brokers: [bootstrap],
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 3000 },
    logLevel: kafkajs.logLevel.ERROR,
    logCreator: () => ({ log }) => errors.push(log.message),
  });
  return { kafka, errors };
}

function platBase(bootstrap, clientId) {
  return { clientId, bootstrapBrokers: [bootstrap], connectTimeout: 3000, timeout: 15000, retries: 5, retryDelay: 200 };
}
const platSerializers = { key: (k) => (k === undefined ? undefined : Buffer.from(k)), headerKey: (k) => Buffer.from(k), headerValue: (v) => Buffer.from(v) };

/** sendBatch(records) → Promise; one produce request per call (one broker). */
async function makeProducer(client, bootstrap, tag) {
  if (client === 'kafkajs') {
    const { kafka, errors } = kafkajsClient(bootstrap, `bench-${tag}`);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    await producer.connect();
    return {
      errors,
      sendBatch: (topic, records) =>
        producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: records.map((r) => ({ key: r.key, value: r.value, headers: HEADERS, partition: r.partition })) }] }),
      close: () => producer.disconnect(),
    };
  }
  const producer = new plat.Producer({ ...platBase(bootstrap, `bench-${tag}`), idempotent: true, acks: -1, serializers: platSerializers, autocreateTopics: false, partitioner: plat.compatibilityPartitioner });
  const errors = [];
  producer.on('error', (e) => errors.push(e.message));
  return {
    errors,
    sendBatch: (topic, records) => producer.send({ messages: records.map((r) => ({ topic, key: r.key, value: r.value, headers: HEADERS, partition: r.partition })) }),
    close: () => producer.close(true),
  };
}

/**
 * The engine's group commit (src/kafka/producer.ts), reduced to its scheduling: one request in
 * flight; whatever queues meanwhile leaves together in the next one (≤ 2000 records, ≤ 8 MiB).
 */
class GroupCommit {
  constructor(sender, topic) {
    this.sender = sender;
    this.topic = topic;
    this.queue = [];
    this.inFlight = false;
    this.requests = 0;
    this.failedRequests = 0;
  }
  publish(key, value, partition, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const entry = { key, value, partition, resolve, reject, abandoned: false, timer: null };
      entry.timer = setTimeout(() => {
        entry.abandoned = true;
        reject(new Error(`not acknowledged within ${timeoutMs} ms`));
      }, timeoutMs);
      this.queue.push(entry);
      this.flush();
    });
  }
  flush() {
    if (this.inFlight) return;
    const batch = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < 2000) {
      const next = this.queue[0];
      if (next.abandoned) {
        this.queue.shift();
        continue;
      }
      if (batch.length > 0 && bytes + next.value.length > 8 * 1024 * 1024) break;
      batch.push(this.queue.shift());
      bytes += next.value.length + next.key.length;
    }
    if (batch.length === 0) return;
    this.inFlight = true;
    this.requests++;
    this.sender
      .sendBatch(this.topic, batch)
      .then(
        () => batch.forEach((e) => (clearTimeout(e.timer), e.resolve())),
        (err) => {
          this.failedRequests++;
          batch.forEach((e) => (clearTimeout(e.timer), e.reject(err)));
        },
      )
      .finally(() => {
        this.inFlight = false;
        this.flush();
      });
  }
}

async function createTopic(bootstrap, topic, partitions = 3) {
  const { kafka } = kafkajsClient(bootstrap, 'bench-admin');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }] }] });
    for (let i = 0; i < 100; i++) {
      try {
        if ((await admin.fetchTopicOffsets(topic)).length === partitions) return;
      } catch {
        /* not served yet */
      }
      await sleep(100);
    }
    throw new Error(`topic ${topic} did not come up`);
  } finally {
    await admin.disconnect();
  }
}

async function topicCount(bootstrap, topic) {
  const { kafka } = kafkajsClient(bootstrap, 'bench-admin');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const o = await admin.fetchTopicOffsets(topic);
    return o.reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A group member that reads a topic from the beginning, hands each record to onRecord and
 * commits after each batch, the way the transform worker does (src/transform/worker.ts).
 * kafkajs: eachBatch per partition, manual resolve + explicit commit. platformatic: no batch
 * callback exists; the records the stream holds are read in one go, then the highest offset per
 * partition is committed in one OffsetCommit request.
 */
async function makeConsumer(client, bootstrap, { topic, groupId, onRecord, events = () => {}, throwOn = null, platformaticStyle = 'drain' }) {
  const t0 = now();
  if (client === 'kafkajs') {
    const { kafka, errors } = kafkajsClient(bootstrap, `bench-c-${groupId}`);
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: SESSION_MS, heartbeatInterval: Math.min(3000, SESSION_MS / 5), rebalanceTimeout: 60000, maxBytesPerPartition: 16 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
    const { CRASH, GROUP_JOIN, DISCONNECT, STOP, REBALANCING } = consumer.events;
    consumer.on(CRASH, (e) => events('CRASH', `${e.payload.error.name}: ${String(e.payload.error.message).slice(0, 120)} restart=${e.payload.restart}`));
    consumer.on(GROUP_JOIN, (e) => events('GROUP_JOIN', `partitions=${JSON.stringify(e.payload.memberAssignment)}`));
    consumer.on(DISCONNECT, () => events('DISCONNECT', ''));
    consumer.on(STOP, () => events('STOP', ''));
    consumer.on(REBALANCING, () => events('REBALANCING', ''));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }) => {
        let last = null;
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break;
          if (throwOn && throwOn(batch.partition, m)) throw new Error('injected handler failure');
          onRecord(m.value, batch.partition, BigInt(m.offset));
          last = m.offset;
        }
        if (last === null) return;
        resolveOffset(last);
        await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
        await heartbeat();
      },
    });
    return { startedMs: now() - t0, errors, close: () => consumer.disconnect(), raw: consumer };
  }

  const errors = [];
  const consumer = new plat.Consumer({
    ...platBase(bootstrap, `bench-c-${groupId}`),
    groupId,
    autocommit: false,
    sessionTimeout: SESSION_MS,
    heartbeatInterval: Math.min(3000, SESSION_MS / 5),
    rebalanceTimeout: 60000,
    maxBytesPerPartition: 16 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
  });
  consumer.on('error', (e) => (errors.push(e.message), events('consumer error', `${e.name}: ${String(e.message).slice(0, 120)}`)));
  consumer.on('consumer:group:join', (p) => events('group:join', `partitions=${JSON.stringify(p.assignments?.map((a) => a.partitions))}`));
  consumer.on('consumer:heartbeat:error', (p) => events('heartbeat:error', String(p.error?.message).slice(0, 120)));
  consumer.on('consumer:group:rejoin', () => events('group:rejoin', ''));
  consumer.on('consumer:group:leave', () => events('group:leave', ''));
  if (process.env.BENCH_TRACE_HEARTBEATS) consumer.on('consumer:heartbeat:end', () => events('heartbeat', ''));
  const stream = await consumer.consume({
    topics: [topic],
    // The library's default mode is 'latest' (a new group skips what is already stored) and
    // autocommit is on; the engine needs committed offsets, else the beginning, and manual commits.
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
    maxBytesPerPartition: 16 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
    ...(PLAT_HWM ? { highWaterMark: PLAT_HWM } : {}),
  });
  stream.on('error', (e) => events('stream error', `${e.name}: ${String(e.message).slice(0, 160)}${e.cause ? ` (cause: ${String(e.cause.message).slice(0, 120)})` : ''}`));
  stream.on('close', () => events('stream close', ''));
  if (platformaticStyle === 'data') {
    // The style the library's README shows first: a 'data' listener, one message at a time.
    stream.on('data', (m) => {
      if (throwOn && throwOn(m.partition, m)) throw new Error('injected handler failure');
      onRecord(m.value, m.partition, m.offset);
      void m.commit();
    });
  } else if (platformaticStyle === 'iterator') {
    void (async () => {
      try {
        for await (const m of stream) {
          if (throwOn && throwOn(m.partition, m)) throw new Error('injected handler failure');
          onRecord(m.value, m.partition, m.offset);
          await m.commit();
        }
        events('iterator ended', '');
      } catch (e) {
        events('iterator threw', e.message);
      }
    })();
  } else {
    let busy = false;
    const drain = async () => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const lastByPartition = new Map();
          let n = 0;
          let m;
          while (n < 10_000 && (m = stream.read()) !== null) {
            if (throwOn && throwOn(m.partition, m)) throw new Error('injected handler failure');
            onRecord(m.value, m.partition, m.offset);
            lastByPartition.set(m.partition, m.offset);
            n++;
          }
          if (n === 0) break;
          await consumer.commit({ offsets: [...lastByPartition].map(([partition, offset]) => ({ topic, partition, offset: offset + 1n, leaderEpoch: -1 })) });
        }
      } catch (e) {
        events('batch handler threw', e.message);
      } finally {
        busy = false;
      }
    };
    stream.on('readable', () => void drain());
  }
  return {
    startedMs: now() - t0,
    errors,
    stream,
    raw: consumer,
    close: async () => {
      await stream.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// statistics and tables

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const median = (xs) => pct([...xs].sort((a, b) => a - b), 50);
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
const spread = (xs, d = 0) => (xs.length > 1 ? `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}` : fmt(xs[0], d));
function table(head, rows) {
  const out = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}
const interleaved = (round) => (round % 2 === 0 ? CLIENTS : [...CLIENTS].reverse());

// ---------------------------------------------------------------------------------------------
// 1. durable produce path

async function produceTrial(gc, senders, seconds) {
  const lat = [];
  let stop = false;
  let errors = 0;
  const reqs0 = gc.requests;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const deadline = t0 + seconds * 1000;
  const loops = Array.from({ length: senders }, async (_, s) => {
    let i = 0;
    while (!stop) {
      const key = hexKey();
      const started = now();
      try {
        await gc.publish(key, envelope(`p${s}-${i++}`, Date.now()), javaPartition(key, 3));
        lat.push(now() - started);
      } catch {
        errors++;
      }
      if (now() >= deadline) stop = true;
    }
  });
  await Promise.all(loops);
  const secs = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { records: lat.length, errors, rps: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), reqps: (gc.requests - reqs0) / secs, cpuUsPerRecord: (cpu.user + cpu.system) / lat.length };
}

async function sectionProduce(bootstrap) {
  log('produce: topics and producers');
  const gcs = {};
  const senders = {};
  for (const c of CLIENTS) {
    await createTopic(bootstrap, `produce-${c}`);
    senders[c] = await makeProducer(c, bootstrap, `produce-${c}`);
    gcs[c] = new GroupCommit(senders[c], `produce-${c}`);
  }
  for (const c of CLIENTS) await produceTrial(gcs[c], 16, 2); // warm-up, not counted
  for (const n of [1, 16, 64]) {
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of interleaved(r)) {
        const res = await produceTrial(gcs[c], n, TRIAL_S);
        results.produce.push({ client: c, senders: n, round: r, ...res });
        log(`produce ${c} senders=${n} round=${r}: ${fmt(res.rps)} rec/s p50 ${fmt(res.p50, 1)} ms p99 ${fmt(res.p99, 1)} ms ${fmt(res.reqps)} req/s ${fmt(res.cpuUsPerRecord)} µs CPU/rec`);
      }
    }
  }
  for (const c of CLIENTS) await senders[c].close();
}

// ---------------------------------------------------------------------------------------------
// 2. consume path

async function fillTopic(bootstrap, topic, count) {
  const p = await makeProducer('platformatic', bootstrap, 'filler');
  const batch = 1000;
  for (let i = 0; i < count; i += batch) {
    const recs = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const key = hexKey();
      recs.push({ key, value: envelope(`f${j}`, Date.now()), partition: javaPartition(key, 3) });
    }
    await p.sendBatch(topic, recs);
  }
  await p.close();
}

async function consumeTrial(client, bootstrap, topic, expected, groupId) {
  let count = 0;
  let firstAt = null;
  let lastAt = null;
  let done;
  const finished = new Promise((r) => (done = r));
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const c = await makeConsumer(client, bootstrap, {
    topic,
    groupId,
    onRecord: () => {
      if (firstAt === null) firstAt = now();
      if (++count === expected) {
        lastAt = now();
        done();
      }
    },
  });
  const timeout = setTimeout(done, 180_000);
  await finished;
  clearTimeout(timeout);
  const cpu = process.cpuUsage(cpu0);
  await c.close();
  return {
    records: count,
    complete: count === expected,
    firstRecordMs: firstAt === null ? NaN : firstAt - t0,
    rps: lastAt && firstAt ? (count - 1) / ((lastAt - firstAt) / 1000) : NaN,
    totalMs: (lastAt ?? now()) - t0,
    cpuUsPerRecord: (cpu.user + cpu.system) / Math.max(1, count),
  };
}

async function sectionConsume(bootstrap) {
  const topic = 'consume-source';
  log(`consume: pre-producing ${CONSUME_RECORDS} records`);
  await createTopic(bootstrap, topic);
  await fillTopic(bootstrap, topic, CONSUME_RECORDS);
  const have = await topicCount(bootstrap, topic);
  if (have !== CONSUME_RECORDS) throw new Error(`consume topic holds ${have} records, expected ${CONSUME_RECORDS}`);
  for (const c of CLIENTS) await consumeTrial(c, bootstrap, topic, 20_000 > CONSUME_RECORDS ? CONSUME_RECORDS : 20_000, `warm-${c}`); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of interleaved(r)) {
      const res = await consumeTrial(c, bootstrap, topic, CONSUME_RECORDS, `consume-${c}-${r}`);
      results.consume.push({ client: c, round: r, ...res });
      log(`consume ${c} round=${r}: ${fmt(res.rps)} rec/s, first record after ${fmt(res.firstRecordMs)} ms, ${fmt(res.cpuUsPerRecord, 1)} µs CPU/rec, complete=${res.complete}`);
    }
  }
}

// A second member joins a group whose first member is consuming a trickle: time until the
// newcomer holds partitions, and until it receives its first record.
async function sectionJoin(bootstrap) {
  const topic = 'join-source';
  await createTopic(bootstrap, topic);
  const p = await makeProducer('platformatic', bootstrap, 'trickle');
  let trickle = true;
  const trickler = (async () => {
    for (let i = 0; trickle; i++) {
      const key = hexKey();
      await p.sendBatch(topic, [{ key, value: envelope(`j${i}`, Date.now()), partition: i % 3 }]).catch(() => undefined);
      await sleep(20);
    }
  })();
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of interleaved(r)) {
      const groupId = `join-${c}-${r}`;
      const first = await makeConsumer(c, bootstrap, { topic, groupId, onRecord: () => {} });
      await sleep(4000); // the first member is settled and caught up
      let joinedAt = null;
      let firstAt = null;
      const t0 = now();
      const second = await makeConsumer(c, bootstrap, {
        topic,
        groupId,
        onRecord: () => (firstAt ??= now()),
        events: (what, detail) => {
          // An assignment with at least one partition number in it.
          if ((what === 'GROUP_JOIN' || what === 'group:join') && /\d/.test(detail.replaceAll(topic, '')) && joinedAt === null) joinedAt = now();
        },
      });
      for (let i = 0; i < 300 && firstAt === null; i++) await sleep(100);
      const res = { client: c, round: r, joinMs: joinedAt === null ? NaN : joinedAt - t0, firstRecordMs: firstAt === null ? NaN : firstAt - t0 };
      results.join.push(res);
      log(`join ${c} round=${r}: holds partitions after ${fmt(res.joinMs)} ms, first record after ${fmt(res.firstRecordMs)} ms`);
      await second.close();
      await first.close();
    }
  }
  trickle = false;
  await trickler;
  await p.close();
}

// ---------------------------------------------------------------------------------------------
// 3. long keys

function timeInWorker(client, bytes, capMs) {
  // The hash of a 1 MB key runs for minutes; a worker keeps the event loop (and the cap) alive.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const key = 'k'.repeat(workerData.bytes);
      let f;
      if (workerData.client === 'kafkajs') {
        const kafkajs = require(workerData.kafkajsPath);
        const p = kafkajs.Partitioners.DefaultPartitioner();
        const meta = [0, 1, 2].map((i) => ({ partitionId: i, leader: 1 }));
        f = () => p({ topic: 't', partitionMetadata: meta, message: { key, value: null } });
      } else {
        const plat = await import(workerData.platPath);
        f = () => plat.compatibilityPartitioner(undefined, Buffer.from(key)) % 3;
      }
      const t = process.hrtime.bigint();
      const partition = f();
      parentPort.postMessage({ ms: Number(process.hrtime.bigint() - t) / 1e6, partition });
    })();`;
  return new Promise((resolve) => {
    const w = new Worker(code, {
      eval: true,
      workerData: { client, bytes, kafkajsPath: join(ROOT, 'node_modules/kafkajs/index.js'), platPath: join(ROOT, 'node_modules/@platformatic/kafka/dist/index.js') },
    });
    const timer = setTimeout(() => {
      void w.terminate();
      resolve({ ms: NaN, capped: capMs });
    }, capMs);
    w.once('message', (m) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(m);
    });
    w.once('error', (e) => (clearTimeout(timer), resolve({ ms: NaN, error: e.message })));
  });
}

async function sectionKeys(bootstrap) {
  // Correctness first: both clients' partitioners agree with Java's on engine-like keys.
  let mismatches = { kafkajs: 0, platformatic: 0, platformaticDefault: 0 };
  for (let i = 0; i < 10_000; i++) {
    const key = hexKey();
    const want = javaPartition(key, 3);
    if (kafkajsPartition(key) !== want) mismatches.kafkajs++;
    if (platPartition(key) !== want) mismatches.platformatic++;
    if (plat.defaultPartitioner(undefined, Buffer.from(key)) % 3 !== want) mismatches.platformaticDefault++;
  }
  results.keys.push({ what: 'partition mismatches vs Java murmur2 over 10,000 random 34-char hex keys', ...mismatches });
  log('keys: partition mismatches', mismatches);

  const sizes = [34, 10 * 1024, 100 * 1024];
  for (const bytes of sizes) {
    const key = 'k'.repeat(bytes);
    let t = now();
    const ref = javaPartition(key, 3);
    const refMs = now() - t;
    for (const c of CLIENTS) {
      t = now();
      const got = c === 'kafkajs' ? kafkajsPartition(key) : platPartition(key);
      const ms = now() - t;
      results.keys.push({ what: 'partitioner', client: c, keyBytes: bytes, ms, agrees: got === ref });
      log(`keys: ${c} partitioner ${bytes} B key: ${fmt(ms, 1)} ms (Math.imul murmur2: ${fmt(refMs, 2)} ms)`);
    }
    results.keys.push({ what: 'partitioner', client: 'Math.imul murmur2 (reference)', keyBytes: bytes, ms: refMs, agrees: true });
  }
  if (BIG_KEY) {
    const key = Buffer.alloc(1024 * 1024, 'k');
    let t = now();
    murmur2Linear(key);
    results.keys.push({ what: 'partitioner', client: 'Math.imul murmur2 (reference)', keyBytes: key.length, ms: now() - t, agrees: true });
    for (const c of CLIENTS) {
      log(`keys: ${c} partitioner, 1 MB key (worker, cap 600 s)…`);
      const r = await timeInWorker(c, key.length, 600_000);
      results.keys.push({ what: 'partitioner', client: c, keyBytes: key.length, ms: r.ms, capped: r.capped, agrees: r.partition === (murmur2Linear(key) & 0x7fffffff) % 3 });
      log(`keys: ${c} partitioner 1 MB key: ${fmt(r.ms)} ms`);
    }
  }
  // Producing one record with a long key: the client picks the partition itself (it hashes the
  // key), or the engine names it (no hashing in the client).
  await createTopic(bootstrap, 'long-keys');
  for (const c of CLIENTS) {
    const p = await makeProducer(c, bootstrap, `keys-${c}`);
    await p.sendBatch('long-keys', [{ key: 'warm', value: envelope('warm', Date.now()), partition: 0 }]);
    for (const bytes of [100 * 1024, 1024 * 1024]) {
      const key = 'k'.repeat(bytes);
      const timed = async (partition) => {
        const ms = [];
        for (let i = 0; i < 3; i++) {
          const t = now();
          await p.sendBatch('long-keys', [{ key, value: envelope('long', Date.now()), partition }]);
          ms.push(now() - t);
        }
        return median(ms);
      };
      results.keys.push({ what: 'produce, explicit partition (median of 3)', client: c, keyBytes: bytes, ms: await timed(1) });
      if (bytes <= 100 * 1024) results.keys.push({ what: 'produce, client partitions by key (median of 3)', client: c, keyBytes: bytes, ms: await timed(undefined) });
    }
    await p.close();
  }
}

// ---------------------------------------------------------------------------------------------
// API facts the port depends on, exercised against the broker

async function sectionApi(bootstrap) {
  const facts = { kafkajs: {}, platformatic: {} };
  const attempt = async (c, what, fn) => {
    try {
      facts[c][what] = `ok${(await fn()) ?? ''}`;
    } catch (e) {
      facts[c][what] = `FAILED: ${e.name}: ${String(e.message).slice(0, 160)}`;
    }
  };
  // kafkajs
  {
    const { kafka } = kafkajsClient(bootstrap, 'api-kafkajs');
    const admin = kafka.admin();
    await admin.connect();
    const topic = 'api-kafkajs';
    await attempt('kafkajs', 'createTopics with configs', () => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: '67108864' }] }] }).then(() => ''));
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    await p.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })) });
    await attempt('kafkajs', 'listOffsets (earliest/latest)', async () => `: ${JSON.stringify((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0))}`);
    await attempt('kafkajs', 'listOffsets by timestamp', async () => `: ${JSON.stringify(await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000))}`);
    const c = kafka.consumer({ groupId: 'api-kafkajs-g' });
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: true });
    let got = 0;
    await c.run({ eachMessage: async () => void got++ });
    for (let i = 0; i < 100 && got < 10; i++) await sleep(100);
    await attempt('kafkajs', 'describeGroups', async () => `: state=${(await admin.describeGroups(['api-kafkajs-g'])).groups[0].state}`);
    await c.disconnect();
    await attempt('kafkajs', 'deleteGroups', () => admin.deleteGroups(['api-kafkajs-g']).then(() => ''));
    await attempt('kafkajs', 'read partition 0 offsets [3,7) without a group', async () => {
      throw new Error('no group-less fetch in the public API: a throwaway group + seek is needed (what src/kafka/read-range.ts does)');
    });
    await attempt('kafkajs', 'transaction (begin, send, commit)', async () => {
      const tp = kafka.producer({ transactionalId: 'api-kafkajs-tx', idempotent: true, maxInFlightRequests: 1 });
      await tp.connect();
      const tx = await tp.transaction();
      await tx.send({ topic, messages: [{ key: 'tx', value: 'tx', partition: 1 }] });
      await tx.commit();
      await tp.disconnect();
      return '';
    });
    await p.disconnect();
    await admin.disconnect();
  }
  // platformatic
  {
    const base = platBase(bootstrap, 'api-plat');
    const admin = new plat.Admin(base);
    const topic = 'api-platformatic';
    await attempt('platformatic', 'createTopics with configs', () => admin.createTopics({ topics: [topic], partitions: 3, replicas: 1, configs: [{ name: 'max.message.bytes', value: '67108864' }] }).then(() => ''));
    for (let i = 0; i < 50; i++) {
      try {
        await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] });
        break;
      } catch {
        await sleep(100);
      }
    }
    const p = new plat.Producer({ ...base, idempotent: true, acks: -1, serializers: platSerializers });
    await p.send({ messages: Array.from({ length: 10 }, (_, i) => ({ topic, key: `k${i}`, value: Buffer.from(`v${i}`), partition: 0 })) });
    await attempt('platformatic', 'listOffsets (earliest/latest)', async () => {
      const [e] = await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -2n }] }] });
      const [l] = await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] });
      return `: earliest=${e.partitions[0].offset} latest=${l.partitions[0].offset}`;
    });
    await attempt('platformatic', 'listOffsets by timestamp', async () => {
      const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: BigInt(Date.now() - 60_000) }] }] });
      return `: ${t.partitions[0].offset}`;
    });
    const cons = new plat.Consumer({ ...base, groupId: 'api-plat-g', autocommit: false });
    const s = await cons.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    let got = 0;
    s.on('data', (m) => {
      got++;
      if (got === 10) void m.commit();
    });
    for (let i = 0; i < 100 && got < 10; i++) await sleep(100);
    await attempt('platformatic', 'describeGroups', async () => `: state=${(await admin.describeGroups({ groups: ['api-plat-g'] })).get('api-plat-g')?.state}`);
    await attempt('platformatic', 'listConsumerGroupOffsets', async () => `: ${JSON.stringify(await admin.listConsumerGroupOffsets({ groups: ['api-plat-g'] }), (k, v) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 160)}`);
    await s.close();
    await cons.close();
    await attempt('platformatic', 'deleteGroups', () => admin.deleteGroups({ groups: ['api-plat-g'] }).then(() => ''));
    await attempt('platformatic', 'read partition 0 offsets [3,7) without a group', async () => {
      // Consumer.fetch is a plain Fetch request: no group, no join; records come as raw batches.
      const c = new plat.Consumer({ ...base, groupId: 'unused-no-join' });
      const md = await c.metadata({ topics: [topic] });
      const t = md.topics.get(topic);
      const res = await c.fetch({ node: t.partitions[0].leader, topics: [{ topicId: t.id, partitions: [{ partition: 0, fetchOffset: 3n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }], maxWaitTime: 100 });
      const offsets = [];
      for (const b of res.responses[0].partitions[0].records ?? []) for (const r of b.records) offsets.push(b.firstOffset + BigInt(r.offsetDelta));
      await c.close();
      return `: fetched offsets ${offsets.filter((o) => o >= 3n && o < 7n).join(',')} (batch may start earlier: filter by offset)`;
    });
    await attempt('platformatic', 'transaction (begin, send, commit)', async () => {
      const tp = new plat.Producer({ ...base, transactionalId: 'api-plat-tx', idempotent: true, acks: -1, serializers: platSerializers });
      const tx = await tp.beginTransaction();
      await tx.send({ messages: [{ topic, key: 'tx', value: Buffer.from('tx'), partition: 1 }] });
      await tx.commit();
      await tp.close();
      return '';
    });
    await attempt('platformatic', 'KIP-848 group (groupProtocol: consumer) joins and reads', async () => {
      const c = new plat.Consumer({ ...base, groupId: 'api-plat-848', groupProtocol: 'consumer', autocommit: false });
      try {
        const st = await c.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
        let n = 0;
        st.on('data', () => void n++);
        for (let i = 0; i < 100 && n < 10; i++) await sleep(100);
        await st.close();
        if (n < 10) throw new Error(`read ${n} of 10 records in 10 s`);
        return `: read ${n} records`;
      } finally {
        await c.close(true).catch(() => undefined);
      }
    });
    await p.close();
    await admin.close();
  }
  facts.kafkajs['KIP-848 group (groupProtocol: consumer) joins and reads'] = 'not supported by kafkajs 2.2.4 (classic protocol only)';
  results.api = facts;
  log('api', JSON.stringify(facts, null, 1));
}

// ---------------------------------------------------------------------------------------------
// handler failure: a batch handler throws once on one record

async function sectionHandler(bootstrap) {
  const topic = 'handler-source';
  await createTopic(bootstrap, topic);
  const p = await makeProducer('platformatic', bootstrap, 'handler');
  await p.sendBatch(topic, Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: envelope(`h${i}`, Date.now()), partition: i % 3 })));
  await p.close();
  const variants = [
    { client: 'kafkajs', style: 'eachBatch throws' },
    { client: 'platformatic', style: 'drain', label: 'own batch loop throws (read() + commit)' },
    { client: 'platformatic', style: 'data', label: "'data' listener throws" },
    { client: 'platformatic', style: 'iterator', label: 'for await body throws' },
  ];
  for (const v of variants) {
    const events = [];
    escaped = [];
    const seen = new Map();
    let thrown = false;
    const t0 = now();
    const c = await makeConsumer(v.client, bootstrap, {
      topic,
      groupId: `handler-${v.client}-${v.style}`,
      platformaticStyle: v.style,
      events: (what, detail) => events.push(`${fmt((now() - t0) / 1000, 1)} s ${what} ${detail}`.trim()),
      onRecord: (value) => seen.set(idOf(value), (seen.get(idOf(value)) ?? 0) + 1),
      throwOn: (partition, m) => {
        if (!thrown && partition === 1 && BigInt(m.offset) === 3n) {
          thrown = true;
          events.push(`${fmt((now() - t0) / 1000, 1)} s injected throw at partition 1 offset 3`);
          return true;
        }
        return false;
      },
    });
    for (let i = 0; i < 100 && seen.size < 30; i++) await sleep(100);
    // The stuck record: delivered again to this member, or to a second member of the group?
    let second = null;
    let secondSaw = 0;
    if (seen.size < 30) {
      second = await makeConsumer(v.client, bootstrap, {
        topic,
        groupId: `handler-${v.client}-${v.style}`,
        onRecord: () => void secondSaw++,
        events: (what, detail) => events.push(`${fmt((now() - t0) / 1000, 1)} s second member: ${what} ${detail}`.trim()),
      });
      for (let i = 0; i < 150 && secondSaw === 0; i++) await sleep(100);
    }
    const res = {
      label: v.label ?? v.style,
      distinctSeen: seen.size,
      redeliveredAfterThrow: seen.size === 30,
      secondsToAll: seen.size === 30 ? (now() - t0) / 1000 : NaN,
      secondMemberGotRecords: second ? secondSaw : null,
      events: events.slice(0, 20),
      escaped: escaped.slice(0, 4),
    };
    results.handler[`${v.client}: ${res.label}`] = res;
    log('handler', v.client, JSON.stringify(res));
    if (second) await second.close();
    await c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. faults: the broker stops (SIGTERM or SIGKILL), stays down, comes back on the same port

async function sectionFaults(kafka) {
  const bootstrap = kafka.bootstrap;
  const T0 = now();
  const at = () => (now() - T0) / 1000;
  const state = {};
  for (const c of CLIENTS) {
    const topic = `fault-${c}`;
    await createTopic(bootstrap, topic);
    state[c] = { topic, acked: new Set(), ackTimes: [], sendErrors: 0, sendErrorKinds: new Map(), events: [], consumers: {} };
  }
  const ev = (c, who) => (what, detail) => state[c].events.push(`${fmt(at(), 1)} s ${who}: ${what}${detail ? ` ${detail}` : ''}`);

  // Producers: 16 senders per client, each waits for its ack, then 50 ms; a failed record is sent
  // again after 500 ms, as an MLLP sender resends after an AE.
  let producing = true;
  const producerLoops = [];
  for (const c of CLIENTS) {
    const s = state[c];
    const sender = await makeProducer(c, bootstrap, `fault-${c}`);
    s.sender = sender;
    const gc = new GroupCommit(sender, s.topic);
    s.gc = gc;
    for (let k = 0; k < 16; k++) {
      producerLoops.push(
        (async () => {
          for (let i = 0; producing; i++) {
            const id = `${c[0]}${k}-${i}`;
            const key = hexKey();
            for (;;) {
              try {
                await gc.publish(key, envelope(id, Date.now()), javaPartition(key, 3), 30_000);
                s.acked.add(padId(id));
                s.ackTimes.push(at());
                break;
              } catch (e) {
                s.sendErrors++;
                // platformatic wraps the cause in AggregateErrors ("X failed 6 times"): name the innermost.
                let inner = e;
                while (inner?.errors?.length || inner?.cause) inner = inner.errors?.at(-1) ?? inner.cause;
                const kind = `${e.name}: ${String(e.message).slice(0, 90)}${inner !== e ? ` ← ${inner?.name}: ${String(inner?.message).slice(0, 90)}` : ''}`;
                s.sendErrorKinds.set(kind, (s.sendErrorKinds.get(kind) ?? 0) + 1);
                if (!producing) break;
                await sleep(500);
              }
            }
            await sleep(50);
          }
        })(),
      );
    }
  }

  // Consumers: the library alone ("bare": what the engine gets today with kafkajs — the CRASH
  // event is only logged), and a supervised one that builds a new consumer/stream when the
  // library gives up.
  const makeWatcher = (c, name) => {
    const w = { name, seen: new Map(), receiveTimes: [], dead: false, restarts: 0 };
    w.onRecord = (value) => {
      const id = idOf(value);
      w.seen.set(id, (w.seen.get(id) ?? 0) + 1);
      w.receiveTimes.push(at());
    };
    state[c].consumers[name] = w;
    return w;
  };
  const supervisors = [];
  for (const c of CLIENTS) {
    const s = state[c];
    const bare = makeWatcher(c, 'bare');
    bare.handle = await makeConsumer(c, bootstrap, { topic: s.topic, groupId: `fault-${c}-bare`, onRecord: bare.onRecord, events: ev(c, 'bare consumer') });
    const sup = makeWatcher(c, 'supervised');
    let stopping = false;
    const start = async () => {
      for (let attempt = 0; !stopping; attempt++) {
        try {
          sup.handle = await makeConsumer(c, bootstrap, {
            topic: s.topic,
            groupId: `fault-${c}-supervised`,
            onRecord: sup.onRecord,
            events: (what, detail) => {
              ev(c, 'supervised consumer')(what, detail);
              const gaveUp = (what === 'CRASH' && detail.endsWith('restart=false')) || what === 'stream close';
              if (gaveUp && !stopping) {
                sup.restarts++;
                const old = sup.handle;
                setTimeout(() => void old?.close().catch(() => undefined).finally(() => void start()), 1000);
              }
            },
          });
          return;
        } catch (e) {
          ev(c, 'supervised consumer')('start failed', `${e.name}: ${String(e.message).slice(0, 100)}`);
          await sleep(1000);
        }
      }
    };
    await start();
    supervisors.push(() => (stopping = true));
  }

  await sleep(15_000);
  const outages = [
    { signal: 'SIGTERM', downMs: 5_000 },
    { signal: 'SIGKILL', downMs: 10_000 },
    { signal: 'SIGKILL', downMs: 15_000 },
  ];
  const outageLog = [];
  for (const o of outages) {
    const down = at();
    log(`faults: stopping the broker (${o.signal}) at ${fmt(down, 1)} s`);
    for (const c of CLIENTS) state[c].events.push(`${fmt(down, 1)} s BROKER ${o.signal}`);
    await kafka.stop({ signal: o.signal, removeData: false, graceMs: 30_000 });
    const stopped = at();
    await sleep(o.downMs);
    await kafka.start();
    const up = at();
    for (const c of CLIENTS) state[c].events.push(`${fmt(up, 1)} s BROKER up again`);
    log(`faults: broker up again at ${fmt(up, 1)} s`);
    outageLog.push({ ...o, down, stopped, up });
    await sleep(40_000);
  }
  producing = false;
  log('faults: stopping producers');
  await Promise.race([Promise.all(producerLoops), sleep(60_000)]);
  // Let the consumers catch up with everything acknowledged (bounded).
  for (let i = 0; i < 300; i++) {
    const behind = CLIENTS.some((c) => Object.values(state[c].consumers).some((w) => [...state[c].acked].some((id) => !w.seen.has(id))));
    if (!behind) break;
    await sleep(100);
  }
  for (const stop of supervisors) stop();

  // What the topic really holds, read by a fresh member from the beginning.
  const out = { outages: outageLog, clients: {} };
  for (const c of CLIENTS) {
    const s = state[c];
    const total = await topicCount(bootstrap, s.topic);
    const inTopic = new Map();
    const verifier = await makeConsumer('kafkajs', bootstrap, { topic: s.topic, groupId: `verify-${c}-${Date.now()}`, onRecord: (v) => inTopic.set(idOf(v), (inTopic.get(idOf(v)) ?? 0) + 1) });
    for (let i = 0; i < 600 && [...inTopic.values()].reduce((a, b) => a + b, 0) < total; i++) await sleep(100);
    await verifier.close();
    const readBack = [...inTopic.values()].reduce((a, b) => a + b, 0);
    const missingInTopic = [...s.acked].filter((id) => !inTopic.has(id));
    const perOutage = outageLog.map((o) => {
      const firstAck = s.ackTimes.find((t) => t > o.up);
      const row = { signal: o.signal, downSeconds: o.downMs / 1000, producerFirstAckAfterUpS: firstAck === undefined ? null : firstAck - o.up };
      for (const [name, w] of Object.entries(s.consumers)) {
        const first = w.receiveTimes.find((t) => t > o.up);
        row[`${name}FirstRecordAfterUpS`] = first === undefined ? null : first - o.up;
      }
      return row;
    });
    const consumers = {};
    for (const [name, w] of Object.entries(s.consumers)) {
      consumers[name] = {
        distinct: w.seen.size,
        duplicates: [...w.seen.values()].reduce((a, n) => a + n - 1, 0),
        ackedNeverDelivered: [...s.acked].filter((id) => !w.seen.has(id)).length,
        restartsBySupervisor: w.restarts,
        lastRecordAtS: w.receiveTimes.at(-1) ?? null,
      };
    }
    out.clients[c] = {
      acked: s.acked.size,
      sendErrors: s.sendErrors,
      sendErrorKinds: Object.fromEntries([...s.sendErrorKinds].sort((a, b) => b[1] - a[1]).slice(0, 6)),
      requests: s.gc.requests,
      failedRequests: s.gc.failedRequests,
      topicRecords: total,
      readBack,
      missingInTopic: missingInTopic.length,
      missingSample: missingInTopic.slice(0, 5),
      duplicatesInTopic: [...inTopic.values()].reduce((a, n) => a + n - 1, 0),
      perOutage,
      consumers,
      events: s.events,
      producerLogErrors: s.sender.errors.slice(0, 5),
    };
    log(`faults ${c}:`, JSON.stringify({ ...out.clients[c], events: `${s.events.length} events` }));
  }
  for (const c of CLIENTS) {
    for (const w of Object.values(state[c].consumers)) await w.handle?.close().catch(() => undefined);
    await state[c].sender.close().catch(() => undefined);
  }
  results.faults = out;
}

// ---------------------------------------------------------------------------------------------
// report

function report() {
  const lines = [];
  lines.push(`Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${process.version}; load average before ${results.machine.loadBefore}, after ${results.machine.loadAfter}.`);
  lines.push(`Consumer session timeout ${SESSION_MS} ms.`);
  lines.push(`Broker: Apache Kafka ${BROKER} (LocalKafka, single KRaft node). kafkajs ${KAFKAJS_VERSION}, @platformatic/kafka ${PLAT_VERSION}. Record ${ENVELOPE.length} B, key 34 hex chars, 3 partitions.`);
  if (results.produce.length) {
    lines.push('', '### Produce (idempotent, acks=all, group commit)', '');
    const rows = [];
    for (const n of [1, 16, 64]) {
      for (const c of CLIENTS) {
        const rs = results.produce.filter((r) => r.client === c && r.senders === n);
        if (!rs.length) continue;
        rows.push([n, c, `${fmt(median(rs.map((r) => r.rps)))} (${spread(rs.map((r) => r.rps))})`, `${fmt(median(rs.map((r) => r.p50)), 1)} (${spread(rs.map((r) => r.p50), 1)})`, `${fmt(median(rs.map((r) => r.p99)), 1)} (${spread(rs.map((r) => r.p99), 1)})`, fmt(median(rs.map((r) => r.reqps))), `${fmt(median(rs.map((r) => r.cpuUsPerRecord)))} (${spread(rs.map((r) => r.cpuUsPerRecord))})`, rs.reduce((a, r) => a + r.errors, 0)]);
      }
    }
    lines.push(table(['senders', 'client', 'records/s median (min–max)', 'p50 ms', 'p99 ms', 'requests/s', 'CPU µs/record', 'errors'], rows));
  }
  if (results.consume.length) {
    lines.push('', `### Consume ${fmt(CONSUME_RECORDS)} records, new group from the beginning, commit per batch`, '');
    const rows = CLIENTS.map((c) => {
      const rs = results.consume.filter((r) => r.client === c);
      return [c, `${fmt(median(rs.map((r) => r.rps)))} (${spread(rs.map((r) => r.rps))})`, `${fmt(median(rs.map((r) => r.cpuUsPerRecord)), 1)} (${spread(rs.map((r) => r.cpuUsPerRecord), 1)})`, `${fmt(median(rs.map((r) => r.firstRecordMs)))} (${spread(rs.map((r) => r.firstRecordMs))})`, rs.every((r) => r.complete) ? 'yes' : 'NO'];
    });
    lines.push(table(['client', 'records/s', 'CPU µs/record', 'new group: first record after ms', 'all read'], rows));
  }
  if (results.join.length) {
    lines.push('', '### Second member joins a consuming group', '');
    lines.push(table(['client', 'holds partitions after ms', 'first record after ms'], CLIENTS.map((c) => {
      const rs = results.join.filter((r) => r.client === c);
      return [c, `${fmt(median(rs.map((r) => r.joinMs)))} (${spread(rs.map((r) => r.joinMs))})`, `${fmt(median(rs.map((r) => r.firstRecordMs)))} (${spread(rs.map((r) => r.firstRecordMs))})`];
    })));
  }
  if (results.keys.length) {
    lines.push('', '### Long keys', '');
    lines.push(table(['what', 'client', 'key bytes', 'ms', 'agrees with Java'], results.keys.filter((k) => k.keyBytes).map((k) => [k.what, k.client, fmt(k.keyBytes), k.capped ? `> ${fmt(k.capped)}` : fmt(k.ms, 1), k.agrees === undefined ? '' : k.agrees ? 'yes' : 'NO'])));
    const mm = results.keys.find((k) => !k.keyBytes);
    if (mm) lines.push('', `Partition mismatches against Java's murmur2 over 10,000 random 34-char hex keys: kafkajs DefaultPartitioner ${mm.kafkajs}, platformatic compatibilityPartitioner ${mm.platformatic}, platformatic defaultPartitioner ${mm.platformaticDefault}.`);
  }
  if (Object.keys(results.api).length) {
    lines.push('', '### API checks against the broker', '');
    const keys = [...new Set(CLIENTS.flatMap((c) => Object.keys(results.api[c] ?? {})))];
    lines.push(table(['operation', 'kafkajs', 'platformatic'], keys.map((k) => [k, results.api.kafkajs?.[k] ?? '', results.api.platformatic?.[k] ?? ''])));
  }
  if (Object.keys(results.handler).length) {
    lines.push('', '### A handler throws once (partition 1, offset 3; 30 records)', '');
    lines.push(table(['client: style', 'records seen (of 30)', 'redelivered to the same member', 'second member got', 'events', 'escaped to process'], Object.entries(results.handler).map(([k, r]) => [k, r.distinctSeen, r.redeliveredAfterThrow ? `yes, all after ${fmt(r.secondsToAll, 1)} s` : 'no', r.secondMemberGotRecords ?? '', r.events.join('; ').slice(0, 400), r.escaped.map((e) => `${e.kind}: ${e.message}`).join('; ').slice(0, 200)])));
  }
  if (results.faults.clients) {
    lines.push('', '### Broker outages under load', '');
    const f = results.faults;
    lines.push(table(['outage', 'client', 'producer: first ack after up (s)', 'bare consumer: first record after up (s)', 'supervised consumer: first record after up (s)'], f.outages.flatMap((o, i) => CLIENTS.map((c) => {
      const r = f.clients[c].perOutage[i];
      const s = (x) => (x === null ? 'never' : fmt(x, 1));
      return [`${i + 1}: ${o.signal}, down ${o.downMs / 1000} s`, c, s(r.producerFirstAckAfterUpS), s(r.bareFirstRecordAfterUpS), s(r.supervisedFirstRecordAfterUpS)];
    }))));
    lines.push('');
    lines.push(table(['client', 'acked', 'send errors', 'acked but missing in topic', 'duplicates in topic', 'bare: acked never delivered', 'supervised: acked never delivered', 'supervisor restarts'], CLIENTS.map((c) => {
      const r = f.clients[c];
      return [c, fmt(r.acked), fmt(r.sendErrors), r.missingInTopic, r.duplicatesInTopic, fmt(r.consumers.bare.ackedNeverDelivered), fmt(r.consumers.supervised.ackedNeverDelivered), r.consumers.supervised.restartsBySupervisor];
    })));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

const kafka = newBroker();
results.machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, loadBefore: loadavg().map((x) => x.toFixed(2)).join(' ') };
results.versions = { kafkajs: KAFKAJS_VERSION, platformatic: PLAT_VERSION, broker: BROKER };
log(`starting Kafka ${BROKER}`);
await kafka.start();
log(`Kafka at ${kafka.bootstrap} (log ${kafka.logFile})`);
try {
  if (ONLY.has('produce')) await sectionProduce(kafka.bootstrap);
  if (ONLY.has('consume')) await sectionConsume(kafka.bootstrap);
  if (ONLY.has('join')) await sectionJoin(kafka.bootstrap);
  if (ONLY.has('keys')) await sectionKeys(kafka.bootstrap);
  if (ONLY.has('api')) await sectionApi(kafka.bootstrap);
  if (ONLY.has('handler')) await sectionHandler(kafka.bootstrap);
  if (ONLY.has('faults')) await sectionFaults(kafka);
} finally {
  results.machine.loadAfter = loadavg().map((x) => x.toFixed(2)).join(' ');
  await kafka.stop().catch((e) => log('stopping Kafka failed', e.message));
}
const text = report();
console.log(text);
if (OUT) writeFileSync(OUT, JSON.stringify(results, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 1));
process.exit(0);
