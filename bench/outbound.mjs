#!/usr/bin/env node
// Outbound (issue 14), in one run on this machine:
//   1. FHIR → v2 conversion per core: generateMessage over the reviewed golden Bundles (ORU^R01,
//      ADT^A08, ORM^O01) with the default outbound set, one thread, no I/O;
//   2. delivery with AA per message: the delivery path's own deliver() + MllpSender (what the
//      DeliveryWorker runs per record, one message in flight per connection, the next only after
//      the AA whose MSA-2 matches), on 1 and 8 connections, against the echo ceiling
//      (bench/servers/echo-aa.mjs: framing and an AA carrying MSH-10) and @medplum/hl7's
//      Hl7Server (bench/servers/medplum.mjs, buildAck on receipt). Kafka is not in this figure:
//      the source read and the offset commit are the inbound benchmarks' subject.
// Each receiver is its own process; the load average (1/5/15 min) is printed before and after,
// since the machine may be shared.
// Run after building: `npx tsc -p . && node bench/outbound.mjs [--seconds 5] [--table]`.
import { fork } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { freePort } = await import('../dist/devtools/local-kafka/index.js');
const { generateMessage, loadOutboundSet, encodeOutbound } = await import('../dist/src/outbound/index.js');
const { deliver } = await import('../dist/src/delivery/index.js');
const { MllpSender } = await import('../dist/src/mllp/index.js');
const { readFileSync } = await import('node:fs');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '1,8' },
    table: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const connectionCounts = values.connections.split(',').map(Number);

const set = loadOutboundSet(join(root, 'mappings/outbound'), { site: 'general-hospital' });
// The reviewed inbound goldens hold { bundle, issues }: the Bundle is the outbound input.
const bundle = (f) => JSON.parse(readFileSync(join(root, 'test-messages/expected', f), 'utf8')).bundle;
const CASES = [
  { label: 'ORU^R01', mapping: 'oru_r01', input: bundle('oru/oru-r01.json') },
  { label: 'ADT^A08', mapping: 'adt_a08', input: bundle('adt/adt-a08.json') },
  { label: 'ORM^O01', mapping: 'orm_o01', input: bundle('orm/orm-o01.json') },
];
const TIME = '2026-12-01T10:00:00-05:00';

function conversion(c) {
  const once = (i) => generateMessage(c.input, set, { mapping: c.mapping, messageTime: TIME, sourceKey: `bench/${i}` });
  const first = once(0);
  if (first.text === null) throw new Error(`${c.label}: no output`);
  let i = 0;
  const end = Date.now() + warmup * 1000;
  while (Date.now() < end) once(i++);
  let count = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(seconds * 1e9);
  for (;;) {
    for (let k = 0; k < 20; k++) sink += once(count + k).text?.length ?? 0;
    count += 20;
    if (process.hrtime.bigint() - start > budget) break;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return { message: c.label, bytes: Buffer.byteLength(first.text), msgsPerSecond: Math.round(count / s), sink: sink > 0 };
}

async function startReceiver(script) {
  const port = await freePort();
  const child = fork(join(root, 'bench/servers', script), ['--port', String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not listen within 60 s`)), 60_000);
    child.on('message', (m) => {
      if (m?.ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
  });
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.send({ stop: true });
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

const POLICY = { maxAttempts: 1, backoffMs: 0, maxBackoffMs: 0 };

/** Distinct ORU messages (MSH-10 from a source key each), as the worker would send them. */
const MESSAGES = Array.from({ length: 2000 }, (_, i) => {
  const r = generateMessage(CASES[0].input, set, { mapping: 'oru_r01', messageTime: TIME, sourceKey: `bench.fhir/0/${i}` });
  return encodeOutbound(r.text, 'UNICODE UTF-8');
});

async function delivery(receiver, connections) {
  const senders = Array.from({ length: connections }, () => new MllpSender({ host: '127.0.0.1', port: receiver.port, ackTimeoutMs: 10_000, retries: 0, backoffMs: 10 }));
  let delivered = 0;
  let failed = 0;
  let measuring = false;
  let stop = false;
  const lat = [];
  const loop = async (sender, k) => {
    let i = k;
    while (!stop) {
      const t0 = process.hrtime.bigint();
      const out = await deliver(MESSAGES[i++ % MESSAGES.length], (m) => sender.send(m), POLICY);
      if (!measuring) continue;
      if (out.kind === 'delivered' && out.ackCode === 'AA') {
        delivered++;
        if (lat.length < 200_000) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } else failed++;
    }
  };
  const loops = senders.map((s, k) => loop(s, k * 97));
  await new Promise((r) => setTimeout(r, warmup * 1000));
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  stop = true;
  await Promise.all(loops);
  await Promise.all(senders.map((x) => x.close()));
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length === 0 ? null : Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2)));
  return { connections, msgsPerSecond: Math.round(delivered / s), failed, p50ms: q(0.5), p99ms: q(0.99) };
}

const before = loadavg().map((x) => Number(x.toFixed(2)));
const report = { when: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, loadBefore: before, seconds, conversion: [], delivery: [] };
for (const c of CASES) report.conversion.push(conversion(c));
for (const [label, script] of [
  ['echo ceiling (AA with MSH-10)', 'echo-aa.mjs'],
  ['@medplum/hl7 4.5.2 Hl7Server', 'medplum.mjs'],
]) {
  const r = await startReceiver(script);
  try {
    for (const n of connectionCounts) report.delivery.push({ receiver: label, ...(await delivery(r, n)) });
  } finally {
    await r.stop();
  }
}
report.loadAfter = loadavg().map((x) => Number(x.toFixed(2)));

if (!values.table) console.log(JSON.stringify(report, null, 2));
else {
  const L = [];
  L.push(`Run ${report.when}, Node ${report.node}, ${report.cpus} × ${report.cpu}; load average (1/5/15 min) ${report.loadBefore.join(' / ')} before, ${report.loadAfter.join(' / ')} after; ${seconds} s per figure.`);
  L.push('');
  L.push('| FHIR → v2 (one core) | output bytes | msgs/s |');
  L.push('|---|---:|---:|');
  for (const c of report.conversion) L.push(`| ${c.message} | ${c.bytes} | ${c.msgsPerSecond} |`);
  L.push('');
  L.push('| receiver | connections | msgs/s AA\'d | p50 ms | p99 ms | failed |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const d of report.delivery) L.push(`| ${d.receiver} | ${d.connections} | ${d.msgsPerSecond} | ${d.p50ms} | ${d.p99ms} | ${d.failed} |`);
  console.log(L.join('\n'));
}
