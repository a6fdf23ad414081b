#!/usr/bin/env node
// Conversion alone, one core, no I/O: the bench messages through parseMessage + convertMessage
// (the mapping set mappings/default, no validation), then the same plus JSON.stringify of the
// Bundle, then plus the per-Bundle fast validator (convertChecked: what the transform worker does
// per record), and the same with @medplum/core's full validator (the tests' referee) instead.
// Prints one JSON object per message; `--table` prints markdown instead.
// Run after building: `npx tsc -p . && node bench/convert.mjs [--seconds 3] [--table]`.
//
// `--cpu` measures msgs per CPU-second of this process (process.cpuUsage) instead of wall clock,
// for a shared, loaded machine where wall-clock rates swing 10x between runs of one build: the
// three stages (parse + convert, + JSON, + fast validation) are measured in interleaved rounds of
// `--slice` ms of CPU each and the median round is printed. `--against <checkout>` loads that
// checkout's build (its dist/) beside this one and interleaves the two, so a before/after pair is
// measured in the same minutes: `node bench/convert.mjs --cpu --against /path/to/main --rounds 9`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { parseMessage } = await import('../dist/src/hl7/index.js');
const { loadMappingSet, convertMessage } = await import('../dist/src/mapping/index.js');
const { convertChecked } = await import('../dist/src/transform/index.js');
const { loadFhirDefinitions, validateBundle } = await import('../dist/src/fhir/index.js');
const { validateBundleFast, loadFastValidator } = await import('../dist/src/fhir/validate-fast.js');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    table: { type: 'boolean', default: false },
    // For a CPU profile of conversion alone: parse + convert only, no figures printed.
    'only-convert': { type: 'boolean', default: false },
    // For a CPU profile of conversion + the fast validator: no figures printed.
    'only-fast': { type: 'boolean', default: false },
    cpu: { type: 'boolean', default: false },
    against: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    slice: { type: 'string', default: '200' },
  },
});
const seconds = Number(values.seconds);

export const BENCH_MESSAGES = [
  { label: 'ADT^A01', file: 'test-messages/adt/adt-a01.hl7' },
  { label: 'ORU^R01 (30 OBX)', file: 'bench/messages/oru-r01-30obx.hl7' },
];

if (values.cpu) {
  await cpuBench();
  process.exit(0);
}

const set = loadMappingSet(join(root, 'mappings/default'));
// Validation needs the R4 definitions; a profile of conversion alone should not include loading them.
if (!values['only-convert'] && !values['only-fast']) loadFhirDefinitions();
if (!values['only-convert']) loadFastValidator();

function measure(fn, ms) {
  let count = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(ms * 1e6));
  for (;;) {
    for (let k = 0; k < 20; k++) sink += fn();
    count += 20;
    if (process.hrtime.bigint() - start > budget) break;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink);
  return count / s;
}

const rows = [];
for (const m of BENCH_MESSAGES) {
  const text = readFileSync(join(root, m.file), 'latin1');
  const parseConvert = () => {
    const p = parseMessage(text);
    if (!p.ok) throw new Error(`${m.file} does not parse (${p.error.code})`);
    const r = convertMessage(p.message, set);
    if (!r.bundle) throw new Error(`${m.file} gave no Bundle (${r.issues.length} issues)`);
    return r.bundle.entry?.length ?? 0;
  };
  const withJson = () => {
    const p = parseMessage(text);
    if (!p.ok) throw new Error(`${m.file} does not parse`);
    const r = convertMessage(p.message, set);
    return JSON.stringify(r.bundle).length;
  };
  // What the transform worker runs per record: convert, fast validation, JSON.
  const validated = () => {
    const p = parseMessage(text);
    if (!p.ok) throw new Error(`${m.file} does not parse`);
    const r = convertChecked(p.message, set);
    if (!r.bundle) throw new Error(`${m.file}: the Bundle fails validation`);
    return JSON.stringify(r.bundle).length;
  };
  // The same with @medplum/core's validator, which the worker ran before the fast one.
  const refereeValidated = () => {
    const p = parseMessage(text);
    if (!p.ok) throw new Error(`${m.file} does not parse`);
    const r = convertMessage(p.message, set);
    if (!r.bundle || validateBundle(r.bundle).length > 0) throw new Error(`${m.file}: the Bundle fails validation`);
    return JSON.stringify(r.bundle).length;
  };
  const entries = parseConvert();
  if (values['only-convert'] || values['only-fast']) {
    measure(values['only-fast'] ? validated : parseConvert, seconds * 1000);
    continue;
  }
  for (const fn of [parseConvert, withJson, validated, refereeValidated]) measure(fn, 1000); // JIT warm-up
  rows.push({
    label: m.label,
    file: m.file,
    bytes: Buffer.byteLength(text, 'latin1'),
    entries,
    parseConvert: measure(parseConvert, seconds * 1000),
    withJson: measure(withJson, seconds * 1000),
    validated: measure(validated, seconds * 1000),
    refereeValidated: measure(refereeValidated, seconds * 1000),
  });
}

if (values['only-convert'] || values['only-fast']) {
  // profile run: nothing to print
} else if (values.table) {
  const f = (n) => Math.round(n).toLocaleString('en-US');
  console.log('| message | bytes | Bundle entries | parse + convert (msg/s) | + JSON (msg/s) | + fast R4 validation (msg/s) | + @medplum/core validation (msg/s) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | ${f(r.bytes)} | ${r.entries} | ${f(r.parseConvert)} | ${f(r.withJson)} | ${f(r.validated)} | ${f(r.refereeValidated)} |`);
} else {
  for (const r of rows) console.log(JSON.stringify(r));
}

/** The three stages of one build, for --cpu. */
async function stagesOf(buildRoot) {
  const hl7 = await import(join(buildRoot, 'dist/src/hl7/index.js'));
  const mapping = await import(join(buildRoot, 'dist/src/mapping/index.js'));
  const transform = await import(join(buildRoot, 'dist/src/transform/index.js'));
  const fast = await import(join(buildRoot, 'dist/src/fhir/validate-fast.js'));
  // Both builds convert with this checkout's mapping set, so only the code differs.
  const set = mapping.loadMappingSet(join(root, 'mappings/default'));
  fast.loadFastValidator();
  return (text, file) => {
    const parsed = () => {
      const p = hl7.parseMessage(text);
      if (!p.ok) throw new Error(`${file} does not parse (${p.error.code})`);
      return p.message;
    };
    return {
      'parse + convert': () => mapping.convertMessage(parsed(), set).bundle.entry.length,
      '+ JSON': () => JSON.stringify(mapping.convertMessage(parsed(), set).bundle).length,
      '+ fast validation': () => {
        const r = transform.convertChecked(parsed(), set);
        if (!r.bundle) throw new Error(`${file}: the Bundle fails validation`);
        return JSON.stringify(r.bundle).length;
      },
    };
  };
}

/** Runs `fn` for `ms` of this process's CPU time; messages per CPU-second. */
function measureCpu(fn, ms) {
  let count = 0;
  let sink = 0;
  const start = process.cpuUsage();
  for (;;) {
    for (let k = 0; k < 10; k++) sink += fn();
    count += 10;
    const used = process.cpuUsage(start);
    const us = used.user + used.system;
    if (us >= ms * 1000) {
      if (sink < 0) console.log(sink);
      return count / (us / 1e6);
    }
  }
}

async function cpuBench() {
  const { loadavg } = await import('node:os');
  const rounds = Number(values.rounds);
  const slice = Number(values.slice);
  const builds = [{ name: 'this', stages: await stagesOf(root) }];
  if (values.against) builds.unshift({ name: values.against, stages: await stagesOf(values.against) });
  const loadBefore = loadavg()[0];
  const results = [];
  for (const m of BENCH_MESSAGES) {
    const text = readFileSync(join(root, m.file), 'latin1');
    const runs = builds.map((b) => ({ build: b.name, fns: b.stages(text, m.file) }));
    const samples = runs.map((r) => Object.fromEntries(Object.keys(r.fns).map((k) => [k, []])));
    for (const r of runs) for (const fn of Object.values(r.fns)) measureCpu(fn, 2 * slice); // JIT warm-up
    for (let i = 0; i < rounds; i++) {
      for (const stage of Object.keys(runs[0].fns)) {
        // Alternate which build goes first, so neither always runs right after the other's garbage.
        const order = i % 2 === 0 ? runs.map((_, j) => j) : runs.map((_, j) => runs.length - 1 - j);
        for (const j of order) samples[j][stage].push(measureCpu(runs[j].fns[stage], slice));
      }
    }
    runs.forEach((r, j) => {
      const row = { label: m.label, build: r.build };
      for (const [stage, xs] of Object.entries(samples[j])) row[stage] = Math.round(median(xs));
      results.push(row);
    });
  }
  const load = `${loadBefore.toFixed(1)}-${loadavg()[0].toFixed(1)}`;
  if (values.table) {
    const f = (n) => n.toLocaleString('en-US');
    console.log(`msgs per CPU-second, median of ${rounds} interleaved rounds of ${slice} ms CPU; load average ${load}`);
    console.log('| message | build | parse + convert | + JSON | + fast validation |');
    console.log('|---|---|---:|---:|---:|');
    for (const r of results) console.log(`| ${r.label} | ${r.build} | ${f(r['parse + convert'])} | ${f(r['+ JSON'])} | ${f(r['+ fast validation'])} |`);
  } else {
    for (const r of results) console.log(JSON.stringify({ ...r, load, rounds, sliceMs: slice }));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
