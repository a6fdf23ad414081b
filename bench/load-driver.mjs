#!/usr/bin/env node
// Closed-loop MLLP load driver: each connection sends one message, waits for its ACK, sends the
// next. Closed loop because that is how HL7 senders behave (one message in flight per connection:
// MLLP senders wait for the ACK), so the figures are what a hospital feed would see, not a firehose.
//
// Every send carries a fresh MSH-10, otherwise the engine's duplicate memory would answer from
// memory and the benchmark would never touch Kafka.
//
// Open loop (--rate R): each connection still has one message in flight, but sends on a fixed
// schedule (R/N per second per connection) and latency is counted from when the message was
// due, not from when it went out, so a slow ACK that delays the next send is charged in full
// (no coordinated omission).
//
// ACK matching (--ack-match): 'own' (default) takes the next ACK as the answer and notes a
// wrong MSA-2 as a problem; 'skip-stale' waits for the ACK naming its own MSH-10 and counts the
// others as stale (node-hl7-server 2.5.0 re-answers earlier messages); 'any' accepts any ACK
// (the echo ceiling answers with a fixed one).
//
// Usage (after `npx tsc -p .`):
//   node bench/load-driver.mjs --port 2575 [--host 127.0.0.1] [--connections 16]
//        [--duration 15] [--warmup 3] [--message test-messages/adt/adt-a01.hl7] [--json]
//        [--rate MSGS_PER_S] [--ack-match own|skip-stale|any] [--ack-timeout S]
// Started with an IPC channel (child_process.fork), it reports phases and the result over IPC,
// so a runner can sample the engine's CPU over exactly the measured window.
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { MllpFramer, encodeFrame } from '../dist/src/mllp/framer.js';

export const DEFAULT_MESSAGE = new URL('../test-messages/adt/adt-a01.hl7', import.meta.url);

// MSH-10 layout: 'B' + run tag (4 hex) + connection (3 digits) + sequence (12 digits) = 20
// characters, the ST length limit of MSH-10 up to v2.6. Fixed width lets each connection reuse
// one frame buffer and rewrite only the digits.
const ID_LENGTH = 20;
const SEQ_DIGITS = 12;
const MAX_CONNECTIONS = 999;

/** Byte range of MSH-10 in an HL7 message (MSH-1 is the field separator itself). */
export function findControlId(message) {
  const sep = message[3];
  if (message.toString('latin1', 0, 3) !== 'MSH' || sep === undefined) {
    throw new Error('the load message must start with MSH');
  }
  let segEnd = message.indexOf(0x0d);
  if (segEnd === -1) segEnd = message.length;
  let at = 3; // the separator in front of MSH-2
  for (let field = 3; field <= 10; field++) {
    at = message.indexOf(sep, at + 1); // now the separator in front of MSH-<field>
    if (at === -1 || at >= segEnd) throw new Error(`the load message has no MSH-10 (MSH has ${field - 1} fields)`);
  }
  let end = message.indexOf(sep, at + 1);
  if (end === -1 || end > segEnd) end = segEnd;
  return { start: at + 1, end };
}

/** An MLLP frame of `message` with a 20-character MSH-10 placeholder, and where that sits. */
function frameTemplate(message, runTag, connection) {
  const { start, end } = findControlId(message);
  const prefix = `B${runTag}${String(connection).padStart(3, '0')}`;
  const payload = Buffer.concat([
    message.subarray(0, start),
    Buffer.from(prefix.padEnd(ID_LENGTH, '0'), 'latin1'),
    message.subarray(end),
  ]);
  // +1: the frame starts with VT.
  return { frame: encodeFrame(payload), seqAt: 1 + start + prefix.length };
}

function writeDigits(buf, at, n) {
  for (let i = SEQ_DIGITS - 1; i >= 0; i--) {
    buf[at + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
}

/** MSA-1 and MSA-2 of an ACK (both ASCII), or null when the answer has no MSA segment. */
export function readMsa(ack) {
  const sep = ack[3];
  if (sep === undefined) return null;
  const s = ack.toString('latin1');
  const at = s.indexOf('\rMSA');
  if (at === -1) return null;
  let end = s.indexOf('\r', at + 1);
  if (end === -1) end = s.length;
  const fields = s.slice(at + 1, end).split(String.fromCharCode(sep));
  return { code: fields[1] ?? '', controlId: fields[2] ?? '' };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * Runs the load and resolves with what it measured. Latency is from the write of a frame to the
 * arrival of its complete ACK, so it includes both TCP hops and the engine's Kafka round trip.
 *
 * @param {object} o
 * @param {number} o.port
 * @param {string} [o.host]
 * @param {number} [o.connections] 1..999
 * @param {number} [o.durationMs] measured window
 * @param {number} [o.warmupMs] unmeasured lead-in (JIT, producer metadata, broker page cache)
 * @param {Buffer} [o.message] HL7 message bytes, segments ending in CR
 * @param {number} [o.ackTimeoutMs] a connection that waits longer than this for an ACK is given up
 * @param {number} [o.rate] open loop: messages per second offered over all connections
 * @param {'own' | 'skip-stale' | 'any'} [o.ackMatch]
 * @param {(phase: 'measure' | 'drain') => void} [o.onPhase]
 */
export async function runLoad(o) {
  const host = o.host ?? '127.0.0.1';
  const connections = o.connections ?? 1;
  const durationMs = o.durationMs ?? 15_000;
  const warmupMs = o.warmupMs ?? 3_000;
  const ackTimeoutMs = o.ackTimeoutMs ?? 30_000;
  const message = o.message ?? readFileSync(DEFAULT_MESSAGE);
  const ackMatch = o.ackMatch ?? 'own';
  if (!['own', 'skip-stale', 'any'].includes(ackMatch)) throw new Error(`ack-match must be own, skip-stale or any, got ${ackMatch}`);
  const rate = o.rate ?? 0;
  if (!(rate >= 0)) throw new Error(`rate must be >= 0, got ${o.rate}`);
  // Open loop: per-connection interval between due times.
  const interval = rate > 0 ? (connections * 1000) / rate : 0;
  if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
    throw new Error(`connections must be 1..${MAX_CONNECTIONS}, got ${connections}`);
  }
  if (!Number.isInteger(o.port) || o.port < 1) throw new Error(`port must be a TCP port, got ${o.port}`);
  const runTag = randomBytes(2).toString('hex').toUpperCase();

  const codes = Object.create(null); // every ACK, warm-up included: a bad ACK is never fine
  const latencies = [];
  const problems = Object.create(null); // kind -> count; kinds are codes, never message text
  let measured = 0;
  let sent = 0;
  let stale = 0;
  let lateSends = 0;
  let measuring = false;
  let stopping = false;
  let measureStart = 0;
  let measureEnd = 0;
  let cpuStart = null;
  let cpuWindow = null;
  const note = (kind) => {
    problems[kind] = (problems[kind] ?? 0) + 1;
  };

  let open = 0;
  let allClosed;
  const closed = new Promise((r) => (allClosed = r));
  const conns = [];

  const startConnection = (index) =>
    new Promise((resolve, reject) => {
      const { frame, seqAt } = frameTemplate(message, runTag, index);
      const idText = () => frame.toString('latin1', seqAt - (ID_LENGTH - SEQ_DIGITS), seqAt + SEQ_DIGITS);
      const c = { socket: null, seq: 0, sentAt: 0, due: 0, from: 0, waiting: false, expect: '', done: false };
      const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
      const send = () => {
        if (c.done) return;
        writeDigits(frame, seqAt, ++c.seq);
        c.expect = idText();
        c.waiting = true;
        sent++;
        c.sentAt = performance.now();
        if (interval === 0) c.due = c.sentAt;
        // Late: counted from when it was due. Early (timers may fire a little early): from the send.
        c.from = Math.min(c.due, c.sentAt);
        c.socket.write(frame);
      };
      const next = () => {
        if (interval === 0) return send();
        c.due += interval;
        const wait = c.due - performance.now();
        if (wait > 0.25) setTimeout(send, wait);
        else {
          if (wait < -interval) lateSends++;
          send();
        }
      };
      c.start = () => {
        if (interval === 0) return send();
        // Connections are spread over one interval so the offered load is smooth, not bursts of N.
        c.due = performance.now() + (index * interval) / connections;
        setTimeout(send, c.due - performance.now());
      };
      const finish = () => {
        if (c.done) return;
        c.done = true;
        c.socket.end();
      };
      const sink = {
        frame(ack) {
          const now = performance.now();
          const msa = readMsa(ack);
          if (ackMatch === 'skip-stale' && (!c.waiting || (msa && msa.controlId !== c.expect))) {
            stale++;
            return;
          }
          if (!c.waiting) {
            note('ack-without-message');
            return;
          }
          c.waiting = false;
          const code = msa ? msa.code : '(no MSA)';
          codes[code] = (codes[code] ?? 0) + 1;
          if (ackMatch === 'own' && msa && msa.controlId !== c.expect) note('ack-for-another-message');
          if (measuring) {
            measured++;
            latencies.push(now - c.from);
          }
          if (stopping) finish();
          else next();
        },
        discarded: () => note('bytes-outside-frames'),
        oversize: () => note('oversize-ack'),
      };
      const socket = connect({ host, port: o.port });
      c.socket = socket;
      socket.setNoDelay(true);
      socket.once('connect', () => {
        open++;
        resolve(c);
      });
      socket.on('data', (chunk) => framer.push(chunk, sink));
      socket.on('error', (err) => {
        note(`socket-${err.code ?? 'error'}`);
        reject(err);
      });
      socket.on('close', () => {
        if (!c.done && !stopping) note('closed-by-engine');
        c.done = true;
        if (--open === 0 && stopping) allClosed();
      });
      c.send = send;
      c.finish = finish;
      conns.push(c);
    });

  await Promise.all(Array.from({ length: connections }, (_, i) => startConnection(i)));
  const began = performance.now();
  for (const c of conns) c.start();

  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const c of conns) {
      if (c.waiting && !c.done && now - c.sentAt > ackTimeoutMs) {
        note('ack-timeout');
        c.done = true;
        c.socket.destroy();
      }
    }
  }, 250);

  await sleepUntil(began + warmupMs);
  measuring = true;
  measureStart = performance.now();
  cpuStart = process.cpuUsage();
  o.onPhase?.('measure');
  await sleepUntil(measureStart + durationMs);
  measuring = false;
  measureEnd = performance.now();
  cpuWindow = process.cpuUsage(cpuStart);
  stopping = true;
  o.onPhase?.('drain');
  // Idle connections end now; the rest end when their last ACK arrives. A connection the engine
  // never answers is cut after the ACK timeout by the watchdog, so this always finishes.
  for (const c of conns) if (!c.waiting) c.finish();
  if (open > 0) await closed;
  clearInterval(watchdog);

  latencies.sort((a, b) => a - b);
  const seconds = (measureEnd - measureStart) / 1000;
  const unexpected = Object.entries(codes)
    .filter(([code]) => code !== 'AA' && code !== 'CA')
    .reduce((n, [, k]) => n + k, 0);
  const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN;
  return {
    connections,
    offeredRate: rate > 0 ? rate : null,
    ackMatch,
    staleAcks: stale,
    lateSends,
    seconds,
    warmupSeconds: warmupMs / 1000,
    messageBytes: frameTemplate(message, runTag, 0).frame.length - 3,
    sent,
    measured,
    msgsPerSecond: measured / seconds,
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies.length ? latencies[latencies.length - 1] : NaN,
      mean,
    },
    codes,
    unexpectedAcks: unexpected,
    problems,
    driverCpuMs: { user: cpuWindow.user / 1000, system: cpuWindow.system / 1000 },
  };
}

function sleepUntil(t) {
  const ms = t - performance.now();
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

export function formatResult(r) {
  const f = (n) => (Number.isFinite(n) ? n.toFixed(2) : '-');
  const codes = Object.entries(r.codes)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  const problems = Object.entries(r.problems)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  return [
    `${r.connections} connection(s), ${r.seconds.toFixed(1)} s measured after ${r.warmupSeconds} s warm-up`,
    `  ${Math.round(r.msgsPerSecond)} msgs/s (${r.measured} ACKs in the window, ${r.sent} sent in all)` +
      (r.offeredRate ? `, offered ${r.offeredRate} msgs/s (${r.lateSends} sends a whole interval late)` : ''),
    ...(r.staleAcks ? [`  stale ACKs skipped (answers to earlier messages): ${r.staleAcks}`] : []),
    `  ACK latency ms: p50 ${f(r.latencyMs.p50)}  p99 ${f(r.latencyMs.p99)}  max ${f(r.latencyMs.max)}`,
    `  ACK codes: ${codes || '(none)'}${r.unexpectedAcks ? `  <-- ${r.unexpectedAcks} not AA/CA` : ''}`,
    ...(problems ? [`  problems: ${problems}`] : []),
  ].join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      connections: { type: 'string', default: '1' },
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      message: { type: 'string' },
      json: { type: 'boolean', default: false },
      rate: { type: 'string', default: '0' },
      'ack-match': { type: 'string', default: 'own' },
      'ack-timeout': { type: 'string', default: '30' },
    },
  });
  if (!values.port) {
    console.error('usage: load-driver.mjs --port P [--host H] [--connections N] [--duration S] [--warmup S] [--message FILE] [--json]');
    process.exit(2);
  }
  const ipc = typeof process.send === 'function';
  const result = await runLoad({
    host: values.host,
    port: Number(values.port),
    connections: Number(values.connections),
    durationMs: Number(values.duration) * 1000,
    warmupMs: Number(values.warmup) * 1000,
    ...(values.message ? { message: readFileSync(values.message) } : {}),
    rate: Number(values.rate),
    ackMatch: values['ack-match'],
    ackTimeoutMs: Number(values['ack-timeout']) * 1000,
    onPhase: ipc ? (phase) => process.send({ phase }) : undefined,
  });
  if (ipc) {
    process.send({ result }, () => process.disconnect());
  } else if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(formatResult(result));
  }
  if (result.unexpectedAcks > 0 || Object.keys(result.problems).length > 0) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`load driver failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
