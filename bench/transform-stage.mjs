#!/usr/bin/env node
// The transform stage under load (issue 10), each part on a fresh local Kafka, the engine and the
// load driver in their own processes (bench/servers/engine.mjs, bench/load-driver.mjs):
//
//   --part fairness  MLLP ACK latency (p50/p99, open loop at --fair-rate over --fair-connections)
//                    with the transform idle, then with a backlog of --backlog raw records
//                    waiting (written before the engine starts, so the transform converts them
//                    while the ACKs are measured); with the conversion threads (default count)
//                    and with --transform-workers 0, in one run.
//   --part rate      --rate ADT msgs/s offered for --seconds over 16 connections: AA/s, Bundles/s,
//                    the raw→fhir lag every 5 s, and AA→Bundle latency p50/p99 from the Kafka
//                    timestamps of each Bundle and of the raw record it names (both set by the
//                    engine's producers: the raw one just before the AA).
//   --part drain     --drain raw ADT records written first, then 1 and then 2 processes with
//                    --role transform convert them: records/s from the first Bundle to the last.
//
// Every figure is printed with the load average at the time: this machine is shared, so a
// figure is only comparable with the others of the same run.
//
//   node bench/transform-stage.mjs --part fairness [--backlog 50000] [--fair-rate 200] [--repeat N]
//     --repeat N measures idle then backlog N times on the one broker: on a shared machine one
//     pair's ratio swings with the neighbours' load, the median of N pairs much less.
//   node bench/transform-stage.mjs --part rate [--rate 1000] [--seconds 60]   (--rate 0: closed loop)
//   --split (every part but drain) runs the listener and the conversion as two processes, the
//   conversion at --process-nice, as `hl7-engine start` does by default.
//   node bench/transform-stage.mjs --part drain [--drain 100000] [--processes 1,2] [--cpu-prof DIR]
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { percentile } from './load-driver.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { LocalKafka, freePort } = await import('../dist/devtools/local-kafka/index.js');
const { parseMessage } = await import('../dist/src/hl7/index.js');
const { ENVELOPE_VERSION, envelopeHeaders, recordKey, sha256Hex } = await import('../dist/src/records/index.js');
const { Kafka, logLevel, CompressionTypes } = await import('kafkajs');

const { values } = parseArgs({
  options: {
    part: { type: 'string', default: 'fairness' },
    backlog: { type: 'string', default: '50000' },
    'fair-rate': { type: 'string', default: '200' },
    'fair-connections': { type: 'string', default: '4' },
    'fair-seconds': { type: 'string', default: '20' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    drain: { type: 'string', default: '100000' },
    processes: { type: 'string', default: '1,2' },
    'cpu-prof': { type: 'string' },
    workers: { type: 'string' },
    nice: { type: 'string' },
    'only-threads': { type: 'boolean', default: false },
    split: { type: 'boolean', default: false },
    'process-nice': { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const ADT_FILE = join(root, 'test-messages/adt/adt-a01.hl7');
const ADT = readFileSync(ADT_FILE, 'latin1');
const load = () => loadavg().map((n) => n.toFixed(1)).join(' ');
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes ----------------------------------------------------------------------------------

async function startEngine(brokers, channel, { workers, role } = {}) {
  // --split: the listener in one process (--role ingest), the conversion in another (--role
  // transform, at --process-nice), as `hl7-engine start` runs them by default.
  if (values.split && role === undefined) {
    const transform = await startEngine(brokers, channel, { workers, role: 'transform' });
    const ingest = await startEngine(brokers, channel, { workers, role: 'ingest' });
    return { port: ingest.port, stop: async () => Promise.all([ingest.stop(), transform.stop()]) };
  }
  const port = await freePort();
  const args = ['--port', String(port), '--mode', 'end-to-end', '--channel', channel, '--brokers', brokers, '--dedupe-window', '0'];
  if (workers !== undefined) args.push('--workers', String(workers));
  if (role) args.push('--role', role);
  if (values.nice !== undefined) args.push('--nice', values.nice);
  // --cpu-prof DIR: a V8 CPU profile of each engine process and of each of its threads.
  const execArgv = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
  const child = fork(join(root, 'bench/servers/engine.mjs'), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (role === 'transform' && values['process-nice'] !== undefined) setPriority(child.pid, Number(values['process-nice']));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the engine did not start within 600 s')), 600_000);
    child.on('message', (m) => m?.ready && (clearTimeout(timer), resolve()));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the engine exited with code ${code} before it started`))));
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    port,
    stop: async () => {
      if (child.connected) child.send({ stop: true });
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function drive(port, { connections, rate, seconds, warmup = 2 }) {
  const args = ['--port', String(port), '--connections', String(connections), '--duration', String(seconds), '--warmup', String(warmup), '--message', ADT_FILE, '--ack-timeout', '30'];
  if (rate) args.push('--rate', String(rate));
  const child = fork(join(root, 'bench/load-driver.mjs'), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let result = null;
  const phases = {};
  child.on('message', (m) => {
    if (m.phase) phases[m.phase] = Date.now();
    if (m.result) result = m.result;
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (result ? resolve({ ...result, phases }) : reject(new Error(`load driver exited with code ${code} before reporting`)))),
  );
}

// ---- Kafka --------------------------------------------------------------------------------------

async function total(admin, topic) {
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } catch {
    return 0;
  }
}

/** Raw envelopes as ingest stores them: ADT^A01 for `patients` patients, a control id each. */
async function preload(kafka, channel, count, patients = 500) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: ['raw', 'fhir', 'dlq'].map((t) => ({ topic: `${channel}.${t}`, numPartitions: 3 })) });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = Date.now();
  for (let from = 0; from < count; from += 1000) {
    const messages = [];
    for (let i = from; i < Math.min(count, from + 1000); i++) {
      const text = ADT.replace('|MSG00001|', `|PRE${String(i).padStart(9, '0')}|`).replace('123456789^^^GENHOSP^MR', `P${i % patients}^^^GENHOSP^MR`).replace(/\r?\n/g, '\r');
      const parsed = parseMessage(text);
      if (!parsed.ok) throw new Error('the ADT bench message does not parse');
      const msh = parsed.message.msh();
      const bytes = Buffer.from(text, 'latin1');
      const env = {
        v: ENVELOPE_VERSION,
        id: `pre-${i}`,
        channel,
        listener: '127.0.0.1:0',
        remoteAddress: '127.0.0.1',
        receivedAt: new Date().toISOString(),
        raw: bytes.toString('base64'),
        rawSha256: sha256Hex(bytes),
        rawLength: bytes.length,
        text,
        charset: { source: 'utf8-valid', charset: 'utf-8', declared: '', repairs: [] },
        msh,
      };
      messages.push({ key: recordKey(msh, parsed.message.get('PID-3[1].1') || undefined, parsed.message.get('PID-3[1].4.1') || undefined), value: JSON.stringify(env), headers: envelopeHeaders(env) });
    }
    await producer.send({ topic: `${channel}.raw`, acks: -1, compression: CompressionTypes.None, messages });
  }
  await producer.disconnect();
  console.log(`  preloaded ${fmt(count)} raw records in ${fmt((Date.now() - started) / 1000, 1)} s`);
}

/** AA→Bundle latency per Bundle: its Kafka timestamp minus that of the raw record it names. */
async function aaToBundle(kafka, channel, fromMs) {
  const readAll = async (topic, want) => {
    const consumer = kafka.consumer({ groupId: `bench-read-${Date.now()}-${Math.random()}`, maxBytes: 64 * 1024 * 1024 });
    const out = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 120_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          out.push({ partition, offset: message.offset, ts: Number(message.timestamp), headers: message.headers ?? {} });
          if (out.length >= want) (clearTimeout(timer), resolve());
        },
      });
    });
    await consumer.disconnect();
    return out;
  };
  const admin = kafka.admin();
  await admin.connect();
  const [rawN, fhirN] = [await total(admin, `${channel}.raw`), await total(admin, `${channel}.fhir`)];
  await admin.disconnect();
  const raw = await readAll(`${channel}.raw`, rawN);
  const rawTs = new Map(raw.map((r) => [`${r.partition}/${r.offset}`, r.ts]));
  const fhir = await readAll(`${channel}.fhir`, fhirN);
  const lat = [];
  for (const b of fhir) {
    const at = rawTs.get(`${b.headers.hl7_raw_partition}/${b.headers.hl7_raw_offset}`);
    if (at !== undefined && at >= fromMs) lat.push(b.ts - at);
  }
  lat.sort((a, b) => a - b);
  return { n: lat.length, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: lat[lat.length - 1] };
}

// ---- parts --------------------------------------------------------------------------------------

async function fairness(broker, kafka) {
  const backlog = Number(values.backlog);
  const rate = Number(values['fair-rate']);
  const connections = Number(values['fair-connections']);
  const seconds = Number(values['fair-seconds']);
  const admin = kafka.admin();
  await admin.connect();
  const rows = [];
  // A fresh broker answers its first seconds slowly (JIT, C1 only): warm it up on a channel of its
  // own so the first measured point is not charged for it.
  {
    const warm = await startEngine(broker.bootstrap, `fair-warmup-${Date.now().toString(36)}`, { workers: 0 });
    await drive(warm.port, { connections, rate, seconds: 10 });
    await warm.stop();
  }
  const repeat = Math.max(1, Number(values.repeat));
  for (let run = 1; run <= repeat; run++)
  for (const workers of values['only-threads'] ? [values.workers] : [values.workers, 0]) {
    const label = (workers === undefined ? 'threads (default)' : `workers=${workers}`) + (values.split ? ', split processes' : '') + (repeat > 1 ? ` #${run}` : '');
    for (const state of ['idle', 'backlog']) {
      const channel = `fair-${workers ?? 'd'}-${state}-${run}-${Date.now().toString(36)}`;
      if (state === 'backlog') await preload(kafka, channel, backlog);
      const engine = await startEngine(broker.bootstrap, channel, { workers });
      try {
        const before = await total(admin, `${channel}.fhir`);
        const loadBefore = load();
        const r = await drive(engine.port, { connections, rate, seconds });
        const converted = (await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`)) - before;
        const row = { label, state, p50: r.latencyMs.p50, p99: r.latencyMs.p99, max: r.latencyMs.max, aa: r.msgsPerSecond, converted, load: `${loadBefore} → ${load()}` };
        rows.push(row);
        console.log(`  ${label}, transform ${state}: ACK p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms, max ${fmt(row.max, 1)} ms at ${fmt(row.aa)} AA/s; records converted meanwhile ${fmt(converted)}; load ${row.load}`);
      } finally {
        await engine.stop();
      }
    }
  }
  await admin.disconnect();
  console.log('\n| conversion | transform | ACK p50 ms | ACK p99 ms | p99 ÷ idle p99 | records converted in the window | load average (1/5/15 min, start → end) |');
  console.log('|---|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const idle = rows.find((x) => x.label === r.label && x.state === 'idle');
    console.log(`| ${r.label} | ${r.state === 'idle' ? 'idle' : `backlog of ${fmt(backlog)}`} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.state === 'idle' ? '1' : fmt(r.p99 / idle.p99, 2)} | ${fmt(r.converted)} | ${r.load} |`);
  }
  if (repeat > 1) {
    const median = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    for (const base of new Set(rows.map((r) => r.label.replace(/ #\d+$/, '')))) {
      const mine = rows.filter((r) => r.label.replace(/ #\d+$/, '') === base);
      const idle = mine.filter((r) => r.state === 'idle').map((r) => r.p99);
      const busy = mine.filter((r) => r.state === 'backlog');
      const ratios = busy.map((r) => r.p99 / mine.find((x) => x.label === r.label && x.state === 'idle').p99);
      console.log(
        `\n${base}, ${repeat} pairs: median idle p99 ${fmt(median(idle), 2)} ms, median backlog p99 ${fmt(median(busy.map((r) => r.p99)), 2)} ms ` +
          `(ratio of medians ${fmt(median(busy.map((r) => r.p99)) / median(idle), 2)}); per-pair ratios ${ratios.map((x) => fmt(x, 2)).join(', ')} (median ${fmt(median(ratios), 2)})`,
      );
    }
  }
}

async function offeredRate(broker, kafka) {
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const channel = `rate-${Date.now().toString(36)}`;
  const engine = await startEngine(broker.bootstrap, channel, { workers: values.workers });
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Wait for the transform's group join, so the window measures conversion, not the join.
    await drive(engine.port, { connections: 1, seconds: 1, warmup: 0 });
    const until = Date.now() + 60_000;
    while (Date.now() < until && (await total(admin, `${channel}.fhir`)) === 0) await sleep(250);
    const lag = [];
    const from = Date.now();
    const timer = setInterval(async () => {
      const raw = await total(admin, `${channel}.raw`);
      const out = (await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`));
      lag.push({ t: Math.round((Date.now() - from) / 1000), lag: raw - out, load: loadavg()[0].toFixed(1) });
    }, 5000);
    const convertedBefore = (await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`));
    const r = await drive(engine.port, { connections: 16, rate, seconds, warmup: 0 });
    clearInterval(timer);
    // Records converted while the senders ran, over the same seconds as the AA/s.
    const bundlesPerSecond = ((await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`)) - convertedBefore) / seconds;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && (await total(admin, `${channel}.raw`)) > (await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`))) await sleep(500);
    const l = await aaToBundle(kafka, channel, from);
    console.log(`  ${rate ? `${fmt(rate)} ADT/s offered` : 'closed loop'} for ${seconds} s: ${fmt(r.msgsPerSecond)} AA/s, ACK p50 ${fmt(r.latencyMs.p50, 2)} p99 ${fmt(r.latencyMs.p99, 2)} ms; converted meanwhile ${fmt(bundlesPerSecond)}/s (${fmt(bundlesPerSecond / r.msgsPerSecond, 2)} × AA/s)`);
    console.log(`  AA→Bundle over ${fmt(l.n)} Bundles: p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms`);
    console.log(`  lag (raw records not yet converted) every 5 s: ${lag.map((x) => `${x.t}s:${x.lag}(load ${x.load})`).join(' ')}`);
  } finally {
    await admin.disconnect();
    await engine.stop();
  }
}

async function drain(broker, kafka) {
  const count = Number(values.drain);
  const admin = kafka.admin();
  await admin.connect();
  for (const processes of values.processes.split(',').map(Number)) {
    const channel = `drain-${processes}-${Date.now().toString(36)}`;
    await preload(kafka, channel, count);
    const loadBefore = load();
    const started = Date.now();
    const engines = await Promise.all(Array.from({ length: processes }, () => startEngine(broker.bootstrap, channel, { workers: values.workers, role: 'transform' })));
    let first = null;
    let done = 0;
    const deadline = Date.now() + 30 * 60_000;
    while (Date.now() < deadline) {
      done = (await total(admin, `${channel}.fhir`)) + (await total(admin, `${channel}.dlq`));
      if (done > 0 && first === null) first = { at: Date.now(), done };
      if (done >= count) break;
      await sleep(500);
    }
    const end = Date.now();
    await Promise.all(engines.map((e) => e.stop()));
    const steady = first ? (done - first.done) / ((end - first.at) / 1000) : NaN;
    console.log(
      `  ${processes} transform process(es): ${fmt(done)} of ${fmt(count)} converted, ${fmt((end - started) / 1000, 1)} s from start (${fmt(done / ((end - started) / 1000))}/s), ` +
        `${fmt(steady)}/s from the first Bundle; load ${loadBefore} → ${load()}`,
    );
  }
  await admin.disconnect();
}

const broker = new LocalKafka({ name: 'bench-transform', fresh: true });
console.log(`starting a fresh local Kafka… (load average ${load()})`);
await broker.start();
const kafka = new Kafka({ clientId: 'hl7-bench-transform', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
try {
  if (values.part === 'fairness') await fairness(broker, kafka);
  else if (values.part === 'rate') await offeredRate(broker, kafka);
  else if (values.part === 'drain') await drain(broker, kafka);
  else throw new Error(`unknown --part ${values.part} (fairness, rate, drain)`);
} finally {
  await broker.stop();
}
