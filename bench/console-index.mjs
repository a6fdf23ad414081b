#!/usr/bin/env node
// The console's index (issue 13, item 5): how fast it fills, how large it grows and how fast it
// answers, at 1M and 10M Kafka records. Figures for BENCHMARKS.md; not part of `npm test`.
//
//   npm run build --silent && node bench/console-index.mjs [--records 1000000,10000000]
//       [--kafka-records 100000] [--queries 300] [--cap-seconds 60] [--no-kafka] [--json FILE]
//       [--only WORD,...]   only the query kinds whose label contains one of the words
//
// 1. Fill: a synthetic month of five channels is written through IndexStore.applyBatch, the
//    call the indexer makes for every fetched batch (one transaction per topic-partition batch
//    of --batch records, 2000 by default), so rows, indexes and transactions are the real ones.
//    The mix: raw records (control ids, types and triggers, senders, ACK codes, charset
//    decisions, repairs on ~3 %, patient hashes with many messages per patient, ~1 % re-sent
//    duplicates), a Bundle for each converted message, ingest refusals (~0.4 %) and transform
//    dead letters (~2.5 % of converted channels) linked to their raw record, replays of
//    dead letters (Bundles or new dead letters linked by lineage) with their audit records,
//    decisions and content views on the audit topic. Dead letters older than two days are mostly
//    handled; the newer ones wait, as a working queue does.
// 2. Search: every search the API offers, several hundred times each with values drawn from
//    the data (hits and misses), through ConsoleQueries (what the API handlers call), p50/p99/max.
//    Each kind stops early after --cap-seconds so a slow kind cannot stall the run; n says how
//    many ran.
// 3. Kafka: --kafka-records of the same mix produced to a fresh local Kafka, then the real
//    Indexer consumes them into a new index: records per second including fetch and parsing.
//
// Every index lives in a temporary folder removed at the end (--keep keeps the last one, with
// what the searches draw their values from beside it in FILE.fill.json). --reuse FILE searches an
// index kept earlier instead of filling one (a 10M fill takes 15-60 min here), e.g. to search it
// again on a quiet machine; the index layout must be the build's.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(join(root, 'dist/src/console/index.js'))) {
  console.error('dist/ is missing: build first (`npm run build --silent`)');
  process.exit(2);
}
const { IndexStore, ConsoleQueries, Indexer, OUTCOMES, pageCursor, parsePageCursor } = await import('../dist/src/console/index.js');
const { loadChannelFile } = await import('../dist/src/channel/index.js');

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000,10000000' },
    'kafka-records': { type: 'string', default: '100000' },
    queries: { type: 'string', default: '300' },
    'cap-seconds': { type: 'string', default: '60' },
    batch: { type: 'string', default: '2000' },
    'no-kafka': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'string' },
    json: { type: 'string' },
    seed: { type: 'string', default: '13' },
    only: { type: 'string' },
  },
});
const SIZES = values.records.split(',').filter(Boolean).map((s) => Number(s.trim()));
const KAFKA_RECORDS = Number(values['kafka-records']);
const QUERIES = Number(values.queries);
const CAP_MS = Number(values['cap-seconds']) * 1000;
const BATCH = Number(values.batch);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1000) || !(QUERIES > 0) || !(CAP_MS > 0) || !(BATCH > 0)) {
  console.error('usage: console-index.mjs [--records 1000000,10000000] [--kafka-records 100000] [--queries 300] [--cap-seconds 60] [--batch 2000] [--no-kafka] [--keep] [--reuse FILE] [--json FILE]');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// The synthetic month.

/** A small fast PRNG (mulberry32), seeded, so runs draw the same data. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (r, list) => list[Math.floor(r() * list.length)];
function weighted(r, pairs) {
  let x = r() * pairs.reduce((n, [, w]) => n + w, 0);
  for (const [v, w] of pairs) if ((x -= w) < 0) return v;
  return pairs[pairs.length - 1][0];
}
const hex = (s, n = 32) => createHash('md5').update(s).digest('hex').slice(0, n);
const sha = (s) => createHash('sha256').update(s).digest('hex');

const CHANNELS = [
  { name: 'ib-adt', weight: 35, converts: true, enhanced: false, types: [['ADT^A01', 20], ['ADT^A03', 15], ['ADT^A04', 20], ['ADT^A08', 40], ['ADT^A31', 5]], senders: [['EPIC', 'MAIN_HOSP', 60], ['EPIC', 'WEST_CLINIC', 25], ['CERNER', 'NORTH_HOSP', 15]] },
  { name: 'ib-lab', weight: 35, converts: true, enhanced: true, types: [['ORU^R01', 95], ['ORU^R30', 5]], senders: [['LABSYS', 'MAIN_LAB', 70], ['LABSYS', 'REF_LAB', 20], ['POCT', 'ICU', 10]] },
  { name: 'ib-orders', weight: 15, converts: true, enhanced: false, types: [['ORM^O01', 70], ['OML^O21', 30]], senders: [['EPIC', 'MAIN_HOSP', 80], ['OPTIME', 'SURGERY', 20]] },
  { name: 'ib-sched', weight: 10, converts: false, enhanced: false, types: [['SIU^S12', 60], ['SIU^S13', 25], ['SIU^S14', 15]], senders: [['CADENCE', 'MAIN_HOSP', 100]] },
  { name: 'ib-pharm', weight: 5, converts: true, enhanced: false, types: [['RDE^O11', 80], ['RAS^O17', 20]], senders: [['PYXIS', 'MAIN_HOSP', 100]] },
];
const REPAIRS = [['crlf-terminators', 35], ['lf-terminators', 25], ['bom-removed', 12], ['nul-bytes', 8], ['junk-before-msh', 8], ['declared-charset-contradicted', 6], ['double-encoded-utf8', 4], ['unknown-declared-charset', 2]];
const CHARSETS = [[['utf-8', 'utf8-valid'], 70], [['windows-1252', 'fallback'], 20], [['iso-8859-1', 'msh18'], 10]];
const TRANSFORM_FAILURES = [
  ['mapping', 'PID-3 has no identifier with an assigning authority the mapping knows (repetition 1 of 2)', 30],
  ['mapping', 'OBX-5 value type NM but the value is not a number (segment 12)', 20],
  ['validation', 'Observation.code: no coding from LOINC for local code 48213', 15],
  ['validation', 'Encounter.period.start after Encounter.period.end', 10],
  ['unsupported', 'no mapping for this message type in the channel\'s set', 10],
  ['mapping', 'PV1-3 location 4417 not in the location table', 15],
];
const INGEST_FAILURES = [
  ['rejected', 'message type not accepted by this channel', 50],
  ['parse', 'MSH-9 missing or empty', 20],
  ['charset', 'bytes are not valid in the declared charset and no fallback is configured', 20],
  ['parse', 'segment 3 is not a segment (no three-letter id)', 10],
];
const DAY = 86_400_000;
const SPAN_DAYS = 28;
const START = Date.parse('2026-10-01T00:00:00.000Z');
const PARTITIONS = 3;
const AUDIT_TOPIC = 'hl7-engine.audit';

/** Samples drawn as the data is written, for the queries. */
class Reservoir {
  constructor(size, r) {
    this.size = size;
    this.seen = 0;
    this.items = [];
    this.r = r;
  }
  add(x) {
    this.seen++;
    if (this.items.length < this.size) this.items.push(x);
    else {
      const j = Math.floor(this.r() * this.seen);
      if (j < this.size) this.items[j] = x;
    }
  }
}

/**
 * Generates the month in time order and hands each record to `emit(kind, topic, partition,
 * fields)`, which returns its offset. `fields` are IndexedRecord fields (or, for audit records,
 * { audit, targets }). Stops after `total` records.
 */
function generate(total, seed, emit) {
  const r = rng(seed);
  const rawEstimate = total * 0.47;
  const step = (SPAN_DAYS * DAY) / rawEstimate;
  const patients = Math.max(1000, Math.floor(rawEstimate / 15));
  const samples = {
    controlIds: new Reservoir(3000, r), patients: new Reservoir(3000, r), rawRefs: new Reservoir(2000, r), deadRefs: new Reservoir(1000, r),
    replayedRaw: new Reservoir(500, r), times: new Reservoir(2000, r),
  };
  const pending = []; // dead letters not yet handled: { ref, at, raw, channel }
  let n = 0;
  let t = START;
  let seq = 0;
  let replaySeq = 0;
  let auditSeq = 0;
  let nextSweep = START + 3600_000;
  const iso = (ms) => new Date(ms).toISOString();
  const uuid = (s) => {
    const h = hex(s);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
  const counts = { raw: 0, fhir: 0, dlq: 0, audit: 0, duplicate: 0, stored: 0, converted: 0, deadLettered: 0, ingestRefused: 0, repaired: 0 };
  const put = (kind, topic, partition, fields) => {
    n++;
    counts[kind]++;
    return emit(kind, topic, partition, fields);
  };
  const audit = (kind, channel, at, extra, targets) => {
    const a = { v: 1, id: uuid(`audit${auditSeq++}`), kind, operator: pick(r, ['otto', 'ada', 'mira', 'jon']), host: 'console-1', at: iso(at), channel, reason: extra.reason ?? null, ...extra };
    put('audit', AUDIT_TOPIC, 0, { audit: { id: a.id, kind, operator: a.operator, at: a.at, channel, reason: a.reason, body: JSON.stringify(a) }, targets });
  };

  const sweep = (now) => {
    // Dead letters older than two days: most are handled (replayed, resolved, discarded), in
    // groups per channel as an analyst works through the queue; a few stay waiting for good.
    const old = [];
    while (pending.length > 0 && pending[0].at < now - 2 * DAY) old.push(pending.shift());
    const byChannel = new Map();
    for (const d of old) byChannel.set(d.channel, [...(byChannel.get(d.channel) ?? []), d]);
    for (const [channel, list] of byChannel) {
      const replay = [];
      for (const d of list) {
        const x = r();
        if (x < 0.05) continue; // waits for good
        if (d.raw && x < 0.75) replay.push(d);
        else {
          const action = weighted(r, [['resolve', 55], ['discard', 25], ['assign', 12], ['escalate', 8]]);
          audit('dlq-decision', channel, now, { reason: 'checked with the sending system', outcome: 'recorded', decision: { action, target: d.ref, ...(action === 'assign' ? { assignee: 'mira' } : {}) } }, [{ topic: d.ref.topic, partition: d.ref.partition, from: d.ref.offset, to: d.ref.offset }]);
        }
      }
      if (replay.length === 0) continue;
      const replayId = uuid(`replay${replaySeq++}`);
      audit('replay-started', channel, now, { reason: 'mapping fixed', replayId, selection: { source: 'dlq', dryRun: false } }, []);
      const resolved = [];
      for (const d of replay) {
        const ch = CHANNELS.find((c) => c.name === channel);
        const at = now + 1000;
        if (r() < 0.93) {
          put('fhir', `${channel}.fhir`, d.raw.partition, bundle(ch, d.rawFields, d.raw, at, replayId));
          resolved.push(d.ref);
          samples.replayedRaw.add(d.raw);
        } else {
          // The replay failed again: a new dead letter pointing at the one it replaces.
          const f = { ...d.fields, at: iso(at), previous: d.ref, replayId, attempts: (d.fields.attempts ?? 1) + 1 };
          const off = put('dlq', `${channel}.dlq`, d.ref.partition, f);
          pending.push({ ...d, ref: { topic: `${channel}.dlq`, partition: d.ref.partition, offset: String(off) }, at, fields: f });
        }
      }
      const ranges = [];
      for (const ref of resolved.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
        const last = ranges[ranges.length - 1];
        if (last && last[0] === ref.partition && Number(last[2]) + 1 === Number(ref.offset)) last[2] = ref.offset;
        else ranges.push([ref.partition, ref.offset, ref.offset]);
      }
      audit('replay-finished', channel, now + 2000, { reason: 'mapping fixed', replayId, outcome: 'completed', selection: { source: 'dlq', dryRun: false }, resolved: ranges },
        ranges.map(([p, from, to]) => ({ topic: `${channel}.dlq`, partition: p, from, to })));
    }
  };

  function bundle(ch, raw, rawRef, at, replayId = null) {
    const resources = ch.name === 'ib-lab' ? ['Patient', 'DiagnosticReport', ...Array.from({ length: 1 + Math.floor(r() * 6) }, () => 'Observation')] : ['Patient', 'Encounter', ...(r() < 0.3 ? ['Condition'] : [])];
    return {
      ...EMPTY, at: iso(at), controlId: raw.controlId, patientKey: raw.patientKey, replayId, source: rawRef,
      messageCode: raw.messageCode, triggerEvent: raw.triggerEvent, issueCount: r() < 0.2 ? 1 + Math.floor(r() * 3) : 0,
      resources: resources.map((x, i) => `${x}/${uuid(`${raw.envelopeId}${i}`)}`).join(' '),
    };
  }

  while (n < total) {
    t += step * (0.2 + 1.6 * r());
    if (t >= nextSweep) {
      sweep(t);
      nextSweep += 3600_000;
    }
    const ch = weighted(r, CHANNELS.map((c) => [c, c.weight]));
    const [type, trigger] = weighted(r, ch.types).split('^');
    const [app, facility] = weighted(r, ch.senders.map(([a, f, w]) => [[a, f], w]));
    const p = Math.floor(patients * r() * r());
    const patientKey = r() < 0.97 ? `pt:${hex(`patient${p}`)}` : null;
    const partition = patientKey ? parseInt(patientKey.slice(3, 11), 16) % PARTITIONS : Math.floor(r() * PARTITIONS);
    const controlId = `${app.slice(0, 3)}${String(++seq).padStart(10, '0')}`;
    const [charset, charsetSource] = weighted(r, CHARSETS);
    const repairKinds = r() < 0.03 ? [...new Set([weighted(r, REPAIRS), ...(r() < 0.2 ? [weighted(r, REPAIRS)] : [])])].sort() : [];
    if (repairKinds.length) counts.repaired++;
    const envelopeId = uuid(`env${seq}`);
    const fields = {
      ...EMPTY, at: iso(t), envelopeId, controlId, messageCode: type, triggerEvent: trigger, sendingApplication: app, sendingFacility: facility,
      receivedAt: iso(t), rawSha256: sha(envelopeId), rawLength: 300 + Math.floor(r() * (ch.name === 'ib-lab' ? 9000 : 2500)), charset, charsetSource,
      repairs: repairKinds.length ? `,${repairKinds.join(',')},` : null, patientKey,
    };
    samples.times.add(t);
    if (r() < 0.004) {
      // Refused at ingest: only a dead letter, answered AR (CR in enhanced mode).
      const [category, message] = weighted(r, INGEST_FAILURES.map(([c, m, w]) => [[c, m], w]));
      const f = { ...fields, ackCode: ch.enhanced ? 'CR' : 'AR', category, stage: 'ingest', failureMessage: message, cause: message.replace(/\d{3,}/g, 'N'), attempts: 1, firstAt: iso(t) };
      const off = put('dlq', `${ch.name}.dlq`, partition, f);
      const ref = { topic: `${ch.name}.dlq`, partition, offset: String(off) };
      counts.ingestRefused++;
      samples.deadRefs.add(ref);
      samples.controlIds.add(controlId);
      pending.push({ ref, at: t, raw: null, channel: ch.name, fields: f });
      continue;
    }
    const dedupe = hex(`${app}|${facility}|${controlId}`, 24);
    const raw = { ...fields, dedupe, ackCode: ch.enhanced ? 'CA' : 'AA' };
    const rawOff = put('raw', `${ch.name}.raw`, partition, raw);
    const rawRef = { topic: `${ch.name}.raw`, partition, offset: String(rawOff) };
    samples.controlIds.add(controlId);
    if (patientKey) samples.patients.add(patientKey);
    samples.rawRefs.add(rawRef);
    if (r() < 0.01) {
      // The sender re-sent it (same control id, same dedupe key) seconds later: a duplicate.
      put('raw', `${ch.name}.raw`, partition, { ...raw, at: iso(t + 3000), receivedAt: iso(t + 3000), envelopeId: uuid(`dup${seq}`) });
      counts.duplicate++;
    }
    if (!ch.converts) {
      counts.stored++;
    } else if (r() < 0.025) {
      const [category, message] = weighted(r, TRANSFORM_FAILURES.map(([c, m, w]) => [[c, m], w]));
      const f = { ...fields, at: iso(t + 400), category, stage: 'transform', failureMessage: message, cause: message.replace(/\d{3,}/g, 'N'), attempts: 1, firstAt: iso(t + 400), source: rawRef };
      const off = put('dlq', `${ch.name}.dlq`, partition, f);
      const ref = { topic: `${ch.name}.dlq`, partition, offset: String(off) };
      counts.deadLettered++;
      samples.deadRefs.add(ref);
      pending.push({ ref, at: t, raw: rawRef, rawFields: raw, channel: ch.name, fields: f });
    } else {
      put('fhir', `${ch.name}.fhir`, partition, bundle(ch, raw, rawRef, t + 150 + r() * 800));
      counts.converted++;
    }
    if (r() < 0.0005) {
      audit('content-shown', ch.name, t + 600_000, { reason: 'sender asked what we received', outcome: 'shown', shown: [{ ...rawRef, controlId }] }, [{ topic: rawRef.topic, partition, from: rawRef.offset, to: rawRef.offset }]);
    }
  }
  return { counts, samples, end: t, patients };
}

const EMPTY = {
  envelopeId: null, controlId: null, messageCode: null, triggerEvent: null, sendingApplication: null, sendingFacility: null, receivedAt: null,
  rawSha256: null, rawLength: null, charset: null, charsetSource: null, repairs: null, patientKey: null, dedupe: null, ackCode: null,
  category: null, stage: null, cause: null, failureMessage: null, attempts: null, firstAt: null, source: null, previous: null, replayId: null,
  issueCount: null, resources: null,
};

// ---------------------------------------------------------------------------------------------
// Fill through IndexStore.applyBatch.

function channelConfigs(dir) {
  return CHANNELS.map((c, i) => {
    const file = join(dir, `${c.name}.yaml`);
    writeFileSync(file, `name: ${c.name}\nlistener:\n  port: ${21000 + i}\nack:\n  mode: ${c.enhanced ? 'enhanced' : 'original'}\nreview:\n  slaMinutes: 240\n`);
    return loadChannelFile(file);
  });
}

function fill(store, total, seed) {
  const offsets = new Map();
  const buffers = new Map();
  let applyMs = 0;
  let batches = 0;
  let written = 0;
  const started = performance.now();
  let lastReport = started;
  const flush = (key) => {
    const b = buffers.get(key);
    if (!b || b.records.length + b.audits.length === 0) return;
    const t0 = performance.now();
    store.applyBatch(b.topic, b.partition, String(b.next), b.records, b.audits);
    applyMs += performance.now() - t0;
    batches++;
    written += b.records.length + b.audits.length;
    b.records = [];
    b.audits = [];
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now();
      const s = (lastReport - started) / 1000;
      console.log(`  ${written.toLocaleString('en')} records in ${s.toFixed(0)} s (${Math.round(written / s).toLocaleString('en')}/s), load ${loadavg()[0].toFixed(2)}`);
    }
  };
  const emit = (kind, topic, partition, fields) => {
    const key = `${topic}\0${partition}`;
    const off = offsets.get(key) ?? 0;
    offsets.set(key, off + 1);
    let b = buffers.get(key);
    if (!b) buffers.set(key, (b = { topic, partition, records: [], audits: [], next: 0 }));
    if (kind === 'audit') b.audits.push({ audit: { ...fields.audit, offset: String(off) }, targets: fields.targets });
    else {
      const ch = topic.slice(0, topic.lastIndexOf('.'));
      b.records.push({ ...fields, topic, partition, offset: String(off), kind, channel: ch });
    }
    b.next = off + 1;
    if (b.records.length + b.audits.length >= BATCH) flush(key);
    return off;
  };
  const gen = generate(total, seed, emit);
  for (const key of buffers.keys()) flush(key);
  const wallMs = performance.now() - started;
  return { ...gen, applyMs, wallMs, batches };
}

// ---------------------------------------------------------------------------------------------
// Queries.

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}

/** Runs `make(i)` up to QUERIES times (or until the time cap), timing each call of `run(arg)`. */
function measure(label, make, run, { count = QUERIES } = {}) {
  if (values.only && !values.only.split(',').some((w) => label.includes(w))) return { label, skipped: true };
  const times = [];
  let rows = 0;
  const until = performance.now() + CAP_MS;
  for (let i = 0; i < count && performance.now() < until; i++) {
    const arg = make(i);
    const t0 = performance.now();
    const out = run(arg);
    times.push(performance.now() - t0);
    rows += Array.isArray(out) ? out.length : out ? 1 : 0;
  }
  const s = { label, ...stats(times), rowsPerQuery: rows / times.length };
  console.log(`  ${label.padEnd(44)} n=${String(s.n).padStart(4)} p50 ${s.p50.toFixed(2).padStart(8)} ms  p99 ${s.p99.toFixed(2).padStart(8)} ms  max ${s.max.toFixed(2).padStart(8)} ms  rows ${s.rowsPerQuery.toFixed(1)}`);
  return s;
}

function searches(queries, gen, seed, reader) {
  const r = rng(seed + 1);
  const { samples } = gen;
  const iso = (ms) => new Date(ms).toISOString();
  const s = (f) => queries.search(f);
  const types = CHANNELS.flatMap((c) => c.types.map(([t]) => t));
  const senders = CHANNELS.flatMap((c) => c.senders.map(([a, f]) => [a, f]));
  const hitOrMiss = (hits, miss) => (i) => (i % 5 === 4 ? miss(i) : pick(r, hits.items ?? hits));
  const someTime = () => pick(r, samples.times.items);
  const out = [];
  out.push(measure('controlId (80 % hits)', hitOrMiss(samples.controlIds, (i) => `ZZZ${i}`), (v) => s({ controlId: v })));
  out.push(measure('messageType type^trigger', () => pick(r, types), (v) => s({ messageType: v })));
  out.push(measure('messageType type only', () => pick(r, types).split('^')[0], (v) => s({ messageType: v })));
  out.push(measure('messageType miss (QRY^A19)', () => 'QRY^A19', (v) => s({ messageType: v })));
  out.push(measure('sender app + facility', () => pick(r, senders), ([a, f]) => s({ sendingApplication: a, sendingFacility: f })));
  out.push(measure('sender miss', (i) => `NOPE${i}`, (a) => s({ sendingApplication: a })));
  out.push(measure('time range 1 h', () => someTime(), (t) => s({ since: iso(t), until: iso(t + 3600_000) })));
  out.push(measure('time range 1 day', () => someTime(), (t) => s({ since: iso(t), until: iso(t + DAY) })));
  out.push(measure('time range before the data (miss)', () => START - 2 * DAY, (t) => s({ since: iso(t), until: iso(t + DAY) })));
  for (const ack of ['AA', 'CA', 'AR', 'CR', 'AE']) out.push(measure(`ackCode ${ack}`, () => ack, (v) => s({ ackCode: v })));
  for (const o of OUTCOMES) out.push(measure(`outcome ${o}`, () => o, (v) => s({ outcome: v })));
  out.push(measure('repair kind (each of 8)', () => pick(r, REPAIRS)[0], (v) => s({ repair: v })));
  out.push(measure('repair kind miss', () => 'no-such-repair', (v) => s({ repair: v })));
  out.push(measure('patientKey (80 % hits)', hitOrMiss(samples.patients, (i) => `pt:${hex(`nobody${i}`)}`), (v) => s({ patientKey: v })));
  out.push(measure('combined: channel+type+1 day', () => [pick(r, CHANNELS), someTime()], ([c, t]) => s({ channel: c.name, messageType: pick(r, c.types)[0], since: iso(t), until: iso(t + DAY) })));
  out.push(measure('combined: sender+outcome dead-lettered', () => pick(r, senders), ([a, f]) => s({ sendingApplication: a, sendingFacility: f, outcome: 'dead-lettered' })));
  out.push(measure('combined: patient+type', () => [pick(r, samples.patients.items), pick(r, types)], ([p, t]) => s({ patientKey: p, messageType: t })));
  out.push(measure('combined: channel+ackCode+repair', () => [pick(r, CHANNELS), pick(r, REPAIRS)[0]], ([c, k]) => s({ channel: c.name, ackCode: c.enhanced ? 'CA' : 'AA', repair: k })));
  out.push(measure('page of 1000 (no filter)', () => null, () => s({ limit: 1000 })));
  out.push(measure('page of 1000 (channel)', () => pick(r, CHANNELS).name, (c) => s({ channel: c, limit: 1000 })));
  // The next page of a channel's messages from a cursor anywhere in the month (what Link rel=next
  // asks for): a keyset read, so a page deep in history should cost what the first page costs.
  out.push(measure('next page by cursor (channel, anywhere)', () => {
    const c = pick(r, CHANNELS).name;
    const [last] = s({ channel: c, until: iso(START + r() * (gen.end - START)), limit: 1 });
    return [c, last ? parsePageCursor(pageCursor(last)) : undefined];
  }, ([c, after]) => s({ channel: c, ...(after ? { after } : {}) })));
  out.push(measure('page far back (until = week 1)', () => START + r() * 7 * DAY, (t) => s({ until: iso(t) })));
  out.push(measure('lineage: message (raw refs)', () => pick(r, samples.rawRefs.items), (ref) => queries.message(ref)));
  out.push(measure('lineage: message (replayed raw refs)', () => pick(r, samples.replayedRaw.items), (ref) => queries.message(ref)));
  out.push(measure('dead letter (refs)', () => pick(r, samples.deadRefs.items), (ref) => queries.deadLetter(ref)));
  out.push(measure('queue (grouped, all channels)', () => null, () => queries.queue(), { count: Math.min(QUERIES, 30) }));
  // Since index v4 the queue answers groups from kept counts, and a group's members come a page at
  // a time (GET /api/queue/members); the same calls the API makes, on groups drawn from the queue.
  if (typeof queries.groupPage === 'function') {
    const groups = queries.queue().flatMap((q) => q.groups.map((g) => ({ queue: q.channel, category: g.category, stage: g.stage, cause: g.cause, count: g.count })));
    const waitingRows = groups.reduce((n, g) => n + g.count, 0);
    console.log(`  (queue: ${groups.length} groups, ${waitingRows} waiting; largest ${Math.max(0, ...groups.map((g) => g.count))})`);
    // Groups weighted by size, as an analyst opens the big ones first and pages through them.
    const someGroup = () => weighted(r, groups.map((g) => [g, g.count]));
    const sla = 240;
    if (groups.length > 0) {
      out.push(measure('queue group members: first page of 100', () => someGroup(), (g) => queries.groupPage(g, { slaMinutes: sla }).members));
      out.push(measure('queue group members: next page from anywhere', () => {
        const g = someGroup();
        // A cursor at a random member of the group (read untimed, straight from the index).
        const at = reader.prepare(`SELECT since_ms, topic, part, off FROM dead_letters INDEXED BY dead_letters_group WHERE status = 'waiting' AND channel = ? AND category = ? AND cause = ? AND stage = ? ORDER BY since_ms, topic, part, off LIMIT 1 OFFSET ?`)
          .get(g.queue, g.category, g.cause, g.stage, Math.floor(r() * g.count));
        return [g, at ? { sinceMs: at.since_ms, ref: { topic: at.topic, partition: at.part, offset: String(at.off) } } : undefined];
      }, ([g, after]) => queries.groupPage(g, { slaMinutes: sla, ...(after ? { after } : {}) }).members));
      out.push(measure('queue group size (group decision check)', () => someGroup(), (g) => queries.groupSize(g.queue, g.category, g.cause)));
    }
    out.push(measure('queue figures (metrics scrape)', () => null, () => queries.queueFigures(), { count: Math.min(QUERIES, 100) }));
  }
  out.push(measure('dead letters waiting (channel, page of 100)', () => pick(r, CHANNELS).name, (c) => queries.deadLetterPage({ channel: c, limit: 100 }).deadLetters));
  out.push(measure('channel overview: answered last hour', () => pick(r, CHANNELS).name, (c) => queries.answeredSince(c, iso(gen.end - 3600_000))));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kafka: the real indexer.

async function kafkaRun(total, seed, dir, channels) {
  const { LocalKafka } = await import('../dist/devtools/local-kafka/index.js');
  const { Kafka, logLevel, CompressionTypes } = await import('kafkajs');
  let broker = null;
  let brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    broker = new LocalKafka({ name: 'bench-console-index', fresh: true });
    console.log('starting a fresh local Kafka…');
    await broker.start();
    brokers = broker.bootstrap;
  }
  const kafka = new Kafka({ clientId: 'bench-console-index', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  try {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [...channels.flatMap((c) => [c.topics.raw, c.topics.fhir, c.topics.dlq].map((topic) => ({ topic, numPartitions: PARTITIONS }))), { topic: AUDIT_TOPIC, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const text = (f) => `MSH|^~\\&|${f.sendingApplication}|${f.sendingFacility}|ENGINE|HOSP|20261001120000||${f.messageCode}^${f.triggerEvent}|${f.controlId}|P|2.5.1\rEVN|${f.triggerEvent}|20261001120000\rPID|1||${f.controlId.slice(-6)}^^^MAIN^MR||DOE^JANE^Q||19700101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||555-0100\rPV1|1|I|4W^401^1^MAIN||||1234^SMITH^JOHN|||MED\r`;
    const envelope = (f, channel) => ({
      v: 1, id: f.envelopeId, channel, listener: '127.0.0.1:2575', remoteAddress: '10.1.2.3', receivedAt: f.receivedAt,
      raw: Buffer.from(text(f), 'latin1').toString('base64'), rawSha256: f.rawSha256, rawLength: f.rawLength, text: text(f),
      charset: { source: f.charsetSource, charset: f.charset, declared: '', repairs: (f.repairs ?? '').split(',').filter(Boolean).map((kind) => ({ kind, detail: 'count', count: 1 })) },
      msh: { sendingApplication: f.sendingApplication, sendingFacility: f.sendingFacility, receivingApplication: 'ENGINE', receivingFacility: 'HOSP', messageCode: f.messageCode, triggerEvent: f.triggerEvent, controlId: f.controlId, processingId: 'P', version: '2.5.1', acceptAckType: '', applicationAckType: '', charset: '' },
    });
    const pendingSends = new Map();
    const offsets = new Map();
    let sent = 0;
    const flush = async (key) => {
      const msgs = pendingSends.get(key);
      if (!msgs?.length) return;
      pendingSends.set(key, []);
      const [topic, partition] = key.split('\0');
      await producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages: msgs.map((m) => ({ ...m, partition: Number(partition) })) });
      sent += msgs.length;
    };
    const queue = [];
    const emit = (kind, topic, partition, f) => {
      const key = `${topic}\0${partition}`;
      const off = offsets.get(key) ?? 0;
      offsets.set(key, off + 1);
      const channel = topic.slice(0, topic.lastIndexOf('.'));
      let value;
      const headers = { ce_time: f.at ?? f.audit?.at ?? new Date().toISOString() };
      if (f.controlId) headers.hl7_control_id = f.controlId;
      if (f.replayId) headers.hl7_replay_id = f.replayId;
      if (kind === 'audit') value = f.audit.body;
      else if (kind === 'raw') {
        value = JSON.stringify(envelope(f, channel));
        headers.hl7_dedupe = f.dedupe;
      } else if (kind === 'fhir') {
        value = JSON.stringify({ resourceType: 'Bundle', type: 'message', entry: f.resources.split(' ').map((x) => ({ fullUrl: `urn:uuid:${x.split('/')[1]}`, resource: { resourceType: x.split('/')[0], id: x.split('/')[1], meta: { source: channel } } })) });
        headers.hl7_message_type = `${f.messageCode}^${f.triggerEvent}`;
        headers.hl7_issue_count = String(f.issueCount);
        Object.assign(headers, { hl7_raw_topic: f.source.topic, hl7_raw_partition: String(f.source.partition), hl7_raw_offset: f.source.offset });
      } else {
        value = JSON.stringify({
          ...envelope(f, channel), failure: { category: f.category, stage: f.stage, message: f.failureMessage, detail: {}, attempts: f.attempts, firstAt: f.firstAt, lastAt: f.at },
          ...(f.source ? { rawRecord: f.source } : {}), ...(f.previous ? { replay: { id: f.replayId, previous: f.previous } } : {}),
        });
      }
      const key2 = kind === 'audit' ? null : f.patientKey ?? f.controlId;
      if (!pendingSends.has(key)) pendingSends.set(key, []);
      pendingSends.get(key).push({ key: key2, value, headers });
      if (pendingSends.get(key).length >= 500) queue.push(key);
      return off;
    };
    // Generate everything first (the month is small at this size), then send in batches.
    console.log(`producing ${total.toLocaleString('en')} records…`);
    const t0 = performance.now();
    const gen = generate(total, seed, emit);
    for (const key of pendingSends.keys()) queue.push(key);
    for (const key of queue) await flush(key);
    await producer.disconnect();
    console.log(`  produced ${sent.toLocaleString('en')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const store = new IndexStore(join(dir, 'kafka-index.sqlite'));
    const indexer = new Indexer({ kafka, store, channels, partitions: PARTITIONS, onError: (e) => console.error('indexer:', e) });
    const load0 = loadavg()[0];
    const t1 = performance.now();
    await indexer.start();
    await indexer.caughtUp(1_800_000);
    const ms = performance.now() - t1;
    await indexer.stop();
    const rows = store.db.prepare('SELECT (SELECT COUNT(*) FROM records) + (SELECT COUNT(*) FROM audit) AS n').get().n;
    store.close();
    if (rows !== gen.counts.raw + gen.counts.fhir + gen.counts.dlq + gen.counts.audit) throw new Error(`the indexer wrote ${rows} rows for ${sent} records`);
    return { records: sent, ms, perSecond: sent / (ms / 1000), load: [load0, loadavg()[0]] };
  } finally {
    if (broker) await broker.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const seed = Number(values.seed);
const report = { machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, sizes: [], kafka: null };
const dir = mkdtempSync(join(tmpdir(), 'hl7-console-index-bench-'));
const channels = channelConfigs(dir);
try {
  for (const total of SIZES) {
    let file = join(dir, `index-${total}.sqlite`);
    console.log(`\n== ${total.toLocaleString('en')} records: filling ${file} (load ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
    const loadBefore = loadavg();
    let f;
    if (values.reuse) {
      file = values.reuse;
      f = JSON.parse(readFileSync(`${file}.fill.json`, 'utf8'));
      console.log(`  reusing ${file} (filled earlier)`);
    } else {
      const store = new IndexStore(file);
      f = fill(store, total, seed);
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      store.close();
      writeFileSync(`${file}.fill.json`, JSON.stringify(f, (k, v) => (k === 'r' ? undefined : v)));
    }
    const loadAfterFill = loadavg();
    const bytes = statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    const written = f.counts.raw + f.counts.fhir + f.counts.dlq + f.counts.audit;
    console.log(`  filled: ${written.toLocaleString('en')} records in ${(f.wallMs / 1000).toFixed(1)} s wall (${Math.round(written / (f.wallMs / 1000)).toLocaleString('en')}/s), ${Math.round(written / (f.applyMs / 1000)).toLocaleString('en')}/s inside applyBatch; ${(bytes / 2 ** 20).toFixed(0)} MiB, ${(bytes / written).toFixed(0)} B/record`);
    console.log(`  mix: ${JSON.stringify(f.counts)}`);
    // The queries run as the console runs them: a fresh store on the file, "now" an hour after the last message.
    const reader = new IndexStore(file);
    const queries = new ConsoleQueries(reader, channels, () => new Date(f.end + 3600_000));
    const loadSearch = loadavg();
    const results = searches(queries, f, seed, reader);
    reader.close();
    report.sizes.push({
      total: written, counts: f.counts, fillSeconds: f.wallMs / 1000, perSecondWall: written / (f.wallMs / 1000), perSecondApply: written / (f.applyMs / 1000),
      bytes, bytesPerRecord: bytes / written, load: { beforeFill: loadBefore, afterFill: loadAfterFill, beforeSearch: loadSearch, afterSearch: loadavg() }, searches: results,
    });
    // A reused index is someone's kept file: never removed here.
    if (!values.keep && !values.reuse) for (const x of [file, `${file}-wal`, `${file}-shm`]) rmSync(x, { force: true });
  }
  if (!values['no-kafka'] && KAFKA_RECORDS > 0) {
    console.log(`\n== the real indexer from Kafka: ${KAFKA_RECORDS.toLocaleString('en')} records`);
    report.kafka = await kafkaRun(KAFKA_RECORDS, seed, dir, channels);
    console.log(`  indexed ${report.kafka.records.toLocaleString('en')} in ${(report.kafka.ms / 1000).toFixed(1)} s: ${Math.round(report.kafka.perSecond).toLocaleString('en')} records/s (load ${report.kafka.load.map((x) => x.toFixed(2)).join(' → ')})`);
  }
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
