/**
 * Issue 11, holes 3 and 5, measured on the real `hl7-engine start` process (real Kafka): the memory
 * a sender can make the engine hold by delivering partial frames one byte per TCP read, and the
 * cost of a flood of /metrics scrapes to the MLLP answers that share the engine's event loop.
 * Both compare figures from the same run (a ratio, two medians), never a wall-clock limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { ensureTopics } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { EngineProcess, adtFor, recordFigures, scenarioPassed, scenarioStarted, sleep, writeChannelDir } from '../support/reliability.js';

/** Connections sending partial frames, and bytes each sends one write (one TCP segment) at a time. */
const TRICKLERS = 40;
const BYTES_EACH = 12 * 1024;
/**
 * Bytes of resident memory per byte held that the engine may not exceed. With a Buffer view kept
 * per read it measured 84 here (~350 in the issue, with stricter 1-byte reads); copying into one
 * growing buffer measures 11-13: ~2 for the frames, the rest V8's young generation growing with
 * the garbage of 1-byte reads.
 */
const MAX_RSS_PER_BYTE = 32;

const FIGURES_KEY = 'hostile-connections';
const TITLE = 'hostile senders: memory under 1-byte reads, ACK latency under a /metrics flood';
const figures: Record<string, string | number> = {};

let engine: EngineProcess;
let port: number;
let name: string;

before(async () => {
  const list = brokers();
  name = uniqueChannel('hostile-load');
  port = await freePort();
  const channelsDir = writeChannelDir({ name, port, maxConnections: 100, maxConnectionsPerAddress: 100, idleTimeoutSeconds: 600, frameTimeoutSeconds: 600 });
  await ensureTopics(testKafka(list), ['raw', 'fhir', 'dlq'].map((t) => ({ topic: `${name}.${t}`, partitions: 3 })));
  engine = await EngineProcess.start({ channelsDir, brokers: list.join(','), port });
});

after(async () => {
  await engine?.stop();
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function until(ms: number, what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${engine.output()}`);
    await sleep(50);
  }
}

/** The engine's resident memory once it stops moving (three samples 200 ms apart within 256 KiB). */
async function steadyRssKb(): Promise<number> {
  const samples: number[] = [];
  const deadline = Date.now() + 10_000;
  for (;;) {
    samples.push(engine.rssKb() ?? 0);
    const last = samples.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) < 256) return Math.max(...last);
    if (Date.now() > deadline) return Math.max(...last);
    await sleep(200);
  }
}

test(`${TRICKLERS} connections holding partial frames fed one byte per read cost the engine a bounded amount of memory per byte held, released at disconnect`, { timeout: 240_000 }, async () => {
  scenarioStarted(FIGURES_KEY, 'hostile-connections', TITLE);
  const baselineKb = await steadyRssKb();
  const sockets = await Promise.all(Array.from({ length: TRICKLERS }, open));
  for (const s of sockets) s.write(Buffer.from([0x0b]));
  const byte = Buffer.from('A');
  for (let i = 0; i < BYTES_EACH; i++) {
    for (const s of sockets) s.write(byte);
    // One byte per connection per turn, and a turn for the engine to read it: 1-byte reads.
    await new Promise((r) => setImmediate(r));
    if (i % 32 === 0) await sleep(1);
  }
  await until(60_000, 'every byte handed to the kernel', async () => sockets.every((s) => s.writableLength === 0));
  const held = TRICKLERS * BYTES_EACH;
  await until(60_000, 'the engine holding every partial frame', async () => ((await engine.metric('hl7_mllp_buffered_bytes', { channel: name })) ?? 0) >= held);
  const heldKb = await steadyRssKb();
  const perByte = ((heldKb - baselineKb) * 1024) / held;
  console.log(`# 1-byte reads: ${held} bytes held on ${TRICKLERS} connections, VmRSS ${baselineKb} -> ${heldKb} KiB, ${perByte.toFixed(1)} bytes of RSS per byte held`);
  figures['bytes held in partial frames (1-byte reads, 40 connections)'] = held;
  figures['engine VmRSS before / holding them (KiB)'] = `${baselineKb} / ${heldKb}`;
  figures['VmRSS growth per byte held (bound 32)'] = Number(perByte.toFixed(1));
  assert.equal(await engine.metric('hl7_connections', { channel: name }), TRICKLERS, 'every trickling connection is still open');
  assert.ok(perByte < MAX_RSS_PER_BYTE, `the engine's resident memory grew ${perByte.toFixed(1)} bytes per byte held (bound ${MAX_RSS_PER_BYTE})`);

  for (const s of sockets) s.destroy();
  await until(30_000, 'the connections released', async () => (await engine.metric('hl7_connections', { channel: name })) === 0);
  assert.equal(await engine.metric('hl7_mllp_buffered_bytes', { channel: name }), 0, 'nothing is held for closed connections');
});

/** Sends `n` messages one after another on one connection; the ACK latency of each, in ms. */
async function ackLatencies(n: number, tag: string): Promise<number[]> {
  const client = await RawMllpClient.open(port);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const id = `${tag}-${i}`;
      const t = performance.now();
      const ack = await client.roundTrip(adtFor(id), 15_000);
      out.push(performance.now() - t);
      assert.ok(ack, `no answer to ${id}`);
      assert.deepEqual([readAck(ack).code, readAck(ack).controlId], ['AA', id]);
    }
  } finally {
    client.close();
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Scrapers in a child process at the lowest CPU priority: the test measures what the engine does
// with the flood, not how much CPU the flood generator takes from a shared 2-core machine.
const FLOOD = `
const http = require('node:http');
const workerData = JSON.parse(process.argv[1]);
let stop = false, ok = 0, failed = 0;
process.stdin.on('data', () => { stop = true; });
process.stdin.resume();
const agent = new http.Agent({ keepAlive: true, maxSockets: workerData.concurrency });
const one = () => new Promise((resolve) => {
  const req = http.get(workerData.url, { agent }, (res) => { res.resume(); res.on('end', () => { if (++ok % 25 === 0) process.stdout.write('answered ' + ok + '\\n'); resolve(); }); });
  req.on('error', () => { failed++; setTimeout(resolve, 5); });
  req.setTimeout(10000, () => req.destroy());
});
const loop = async () => { while (!stop) await one(); };
process.stdout.write('started\\n');
Promise.all(Array.from({ length: workerData.concurrency }, loop)).then(() => { agent.destroy(); process.stdout.write(JSON.stringify({ ok, failed }) + '\\n'); process.exit(0); });
`;

/**
 * Starts the scrapers; resolves once they run, with answered(n), which waits until n scrapes have
 * been answered, and stop(), which resolves to their counts.
 */
async function startFlood(
  url: string,
  concurrency: number,
): Promise<{ answered: (n: number) => Promise<void>; stop: () => Promise<{ ok: number; failed: number } | null> }> {
  const child = spawn('nice', ['-n', '19', process.execPath, '-e', FLOOD, JSON.stringify({ url, concurrency })], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  while (!out.includes('started')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the scrapers did not start: ${out}`);
    await sleep(20);
  }
  const answeredSoFar = (): number => Math.max(0, ...[...out.matchAll(/answered (\d+)/g)].map((m) => Number(m[1])));
  return {
    answered: async (n: number) => {
      const until = Date.now() + 60_000;
      while (answeredSoFar() < n) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`the scrapers got only ${answeredSoFar()} of ${n} scrapes answered within 60 s`);
        await sleep(20);
      }
    },
    stop: async () => {
      child.stdin.write('stop\n');
      const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!done) child.kill('SIGKILL');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      return line ? (JSON.parse(line) as { ok: number; failed: number }) : null;
    },
  };
}

const FLOOD_ANSWERED_BEFORE_MEASURING = 100;

test('a flood of hundreds of concurrent /metrics scrapes leaves the MLLP ACK latency within 2x of idle', { timeout: 240_000 }, async () => {
  await ackLatencies(20, 'WARM');
  // Idle and flood rounds alternate, so a machine that gets busier or quieter during the test
  // affects both sets alike.
  const idle: number[] = [];
  const flooded: number[] = [];
  let scrapes = { ok: 0, failed: 0 };
  for (let round = 0; round < 3; round++) {
    idle.push(...(await ackLatencies(60, `IDLE${round}`)));
    const flood = await startFlood(`${engine.opsUrl()}/metrics`, 300);
    // The flood is on before the first measured message. The scrapers run at the lowest CPU
    // priority, so on a busy machine a fixed head start could measure an idle engine.
    await flood.answered(FLOOD_ANSWERED_BEFORE_MEASURING);
    flooded.push(...(await ackLatencies(60, `FLOOD${round}`)));
    const r = await flood.stop();
    assert.ok(r, 'the scrapers stopped within 30 s and reported their counts');
    scrapes = { ok: scrapes.ok + r.ok, failed: scrapes.failed + r.failed };
  }
  const idleMs = median(idle);
  const floodMs = median(flooded);
  console.log(`# /metrics flood: ACK latency median idle ${idleMs.toFixed(2)} ms, during the flood ${floodMs.toFixed(2)} ms; scrapes answered ${scrapes.ok}, refused or failed ${scrapes.failed}`);
  assert.ok(scrapes.ok >= 3 * FLOOD_ANSWERED_BEFORE_MEASURING, `the flood reached the engine (${scrapes.ok} scrapes answered)`);
  figures['ACK latency median idle / during 300 concurrent scrapers (ms)'] = `${idleMs.toFixed(2)} / ${floodMs.toFixed(2)}`;
  figures['scrapes answered / refused at the cap or failed'] = `${scrapes.ok} / ${scrapes.failed}`;
  recordFigures(FIGURES_KEY, { scenario: 'hostile-connections', title: TITLE, details: { ...figures } });
  // Both medians are a millisecond or two, so on a shared 2-core machine a few ms of scheduling
  // noise can double one without the engine doing anything wrong; the fault this guards against
  // (scrapes rendered on the MLLP event loop) cost 500-4,300 ms. So within 2x of idle, or within
  // SCHEDULING_NOISE_MS of it.
  const SCHEDULING_NOISE_MS = 5;
  assert.ok(
    floodMs <= 2 * idleMs || floodMs - idleMs <= SCHEDULING_NOISE_MS,
    `median ACK latency during the flood ${floodMs.toFixed(2)} ms is over twice the idle median ${idleMs.toFixed(2)} ms and more than ${SCHEDULING_NOISE_MS} ms above it`,
  );
  scenarioPassed(FIGURES_KEY);
});
