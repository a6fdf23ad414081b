#!/usr/bin/env node
// Conversion alone, one core, no I/O: the bench messages through parseMessage + convertMessage
// (the mapping set mappings/default, no validation), then the same plus JSON.stringify of the
// Bundle, then plus the per-Bundle fast validator (convertChecked: what the transform worker does
// per record), and the same with @medplum/core's full validator (the tests' referee) instead.
// Prints one JSON object per message; `--table` prints markdown instead.
// Run after building: `npx tsc -p . && node bench/convert.mjs [--seconds 3] [--table]`.
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
  },
});
const seconds = Number(values.seconds);

export const BENCH_MESSAGES = [
  { label: 'ADT^A01', file: 'test-messages/adt/adt-a01.hl7' },
  { label: 'ORU^R01 (30 OBX)', file: 'bench/messages/oru-r01-30obx.hl7' },
];

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
