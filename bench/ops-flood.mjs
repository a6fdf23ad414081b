#!/usr/bin/env node
// MLLP ACK latency of the real engine process, idle and under a flood of concurrent /metrics
// scrapes (issue 11, hole 5). Figures for BENCHMARKS.md; not part of `npm test` (the test
// test/reliability/hostile-load.test.ts asserts the relative bound: flood median <= 2x idle).
//
//   npm run build --silent && node bench/ops-flood.mjs [--scrapers 500] [--messages 300] [--rounds 3]
//
// Uses $KAFKA_BROKERS when set, else starts a fresh local Kafka of its own (devtools/local-kafka).
// The scrapers run in a child process at nice 19 so the figure is what the engine does with the
// flood rather than how much CPU the load generator takes from the engine on a small machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values } = parseArgs({ options: { scrapers: { type: 'string', default: '500' }, messages: { type: 'string', default: '300' }, rounds: { type: 'string', default: '3' } } });
const SCRAPERS = Number(values.scrapers);
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const root = new URL('..', import.meta.url).pathname;
const { LocalKafka, freePort } = await import('../dist/devtools/local-kafka/index.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let broker = null;
let brokers = process.env.KAFKA_BROKERS;
if (!brokers) {
  broker = new LocalKafka({ name: 'bench-ops', fresh: true });
  console.log('starting a fresh local Kafka…');
  await broker.start();
  brokers = broker.bootstrap;
}

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'hl7-ops-bench-'));
writeFileSync(join(dir, 'opsbench.yaml'), `name: opsbench-${Date.now()}\nlistener:\n  host: 127.0.0.1\n  port: ${port}\nack:\n  mode: original\n`);
const engine = spawn(process.execPath, [join(root, 'dist/src/cli.js'), 'start', '--channels', dir], {
  cwd: root,
  env: { ...process.env, KAFKA_BROKERS: brokers, METRICS_PORT: '0', LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
engine.stdout.on('data', (c) => (out += c));
const started = Date.now();
while (!/channel \S+: send MLLP/.test(out)) {
  if (engine.exitCode !== null || Date.now() - started > 120_000) throw new Error(`engine did not start:\n${out}`);
  await sleep(50);
}
const opsUrl = /operations: (http:\/\/\S+?)\/metrics/.exec(out)[1];

function mllpClient() {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let waiter = null;
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf(0x1c);
      if (end >= 0 && waiter) {
        const w = waiter;
        waiter = null;
        buf = buf.subarray(end + 2);
        w();
      }
    });
    s.once('error', reject);
    s.once('connect', () =>
      resolve({
        send: (payload) =>
          new Promise((r) => {
            waiter = r;
            s.write(Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])]));
          }),
        close: () => s.destroy(),
      }),
    );
  });
}

const adt = (id) =>
  Buffer.from(`MSH|^~\\&|BENCH|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|${id}|P|2.5.1\rEVN|A01|20261121083000\rPID|1||M${id}^^^GENHOSP^MR||TEST^PATIENT||19700101|F\r`, 'latin1');

async function latencies(n, tag) {
  const c = await mllpClient();
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await c.send(adt(`${tag}-${i}`));
    xs.push(performance.now() - t);
  }
  c.close();
  return xs;
}

const FLOOD = `
const http = require('node:http');
const { url, concurrency } = JSON.parse(process.argv[1]);
let stop = false, ok = 0, failed = 0;
process.stdin.on('data', () => { stop = true; });
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent }, (res) => { res.resume(); res.on('end', () => { ok++; resolve(); }); });
  req.on('error', () => { failed++; setTimeout(resolve, 5); });
  req.setTimeout(10000, () => req.destroy());
});
const loop = async () => { while (!stop) await one(); };
process.stdout.write('started\\n');
Promise.all(Array.from({ length: concurrency }, loop)).then(() => { process.stdout.write(JSON.stringify({ ok, failed }) + '\\n'); process.exit(0); });
`;

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
await latencies(50, 'WARM');
const idle = [];
const flooded = [];
let scrapes = { ok: 0, failed: 0, seconds: 0 };
for (let r = 0; r < ROUNDS; r++) {
  idle.push(...(await latencies(MESSAGES, `IDLE${r}`)));
  const gen = spawn('nice', ['-n', '19', process.execPath, '-e', FLOOD, JSON.stringify({ url: `${opsUrl}/metrics`, concurrency: SCRAPERS })], { stdio: ['pipe', 'pipe', 'inherit'] });
  let g = '';
  gen.stdout.on('data', (c) => (g += c));
  while (!g.includes('started')) await sleep(20);
  await sleep(300);
  const t = performance.now();
  flooded.push(...(await latencies(MESSAGES, `FLOOD${r}`)));
  const seconds = (performance.now() - t) / 1000 + 0.3;
  gen.stdin.write('stop\n');
  await new Promise((res) => gen.once('exit', res));
  const counts = JSON.parse(g.split('\n').find((l) => l.startsWith('{')));
  scrapes = { ok: scrapes.ok + counts.ok, failed: scrapes.failed + counts.failed, seconds: scrapes.seconds + seconds };
}
const fmt = (xs) => `median ${pct(xs, 0.5).toFixed(2)} ms, p90 ${pct(xs, 0.9).toFixed(2)} ms, p99 ${pct(xs, 0.99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
console.log(`MLLP ACK latency, ${idle.length} messages one at a time (AA after Kafka acks=all):`);
console.log(`  idle:                          ${fmt(idle)}`);
console.log(`  during ${SCRAPERS} concurrent scrapers: ${fmt(flooded)}`);
console.log(`  scrapes answered ${scrapes.ok} (${(scrapes.ok / scrapes.seconds).toFixed(0)}/s), refused at the connection cap or failed ${scrapes.failed}`);
engine.kill('SIGTERM');
await new Promise((r) => engine.once('exit', r));
if (broker) await broker.stop();
