#!/usr/bin/env node
// Runs the compiled test files with Node's own test runner.
//
//   node scripts/run-tests.mjs [--root test|test-corpus] [substring ...]
//
// --root picks the folder (default test: `npm test`; test-corpus: `npm run test:corpus`, which
// needs the external corpus, see test-corpus/support/corpus.ts). Substrings keep only the files
// whose path contains one of them.
//
// Integration tests need a real Kafka broker: when KAFKA_BROKERS is unset, this script starts the
// project's local broker for the run and stops it afterwards (see devtools/local-kafka/).
//
// Everything runs under a deadline (--test-timeout), so a hang fails the run instead of stalling
// CI: the reliability and fuzzing files and the validator referees (every message through
// @medplum/core's full validator), which run for minutes by design, get
// LONG_FILE_TIMEOUT_MS; every other file FILE_TIMEOUT_MS. Node 20 and 22 apply it to each file's
// process as a whole, Node 24 to each test and hook in it (a test's own `timeout` option wins).
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const FILE_TIMEOUT_MS = 3 * 60_000;
const LONG_FILE_TIMEOUT_MS = 10 * 60_000;
const LONG_FILES = /[\\/](reliability|property)[\\/]|referee\.test\.js$/;

const root = new URL('..', import.meta.url).pathname;
const { values, positionals: filter } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string', default: 'test' } },
});
const suite = values.root.replace(/\/+$/, '');
const testRoot = join(root, 'dist', suite);

const env = { ...process.env };
if (suite === 'test-corpus') {
  // The external material, resolved once here so every test sees the same absolute paths.
  const corpus = resolve(root, env.HL7_CORPUS ?? '../shared/corpus');
  const needs = {
    HL7_CORPUS: [corpus, 'MANIFEST.tsv'],
    HL7_FACTS_TOOL: [resolve(root, env.HL7_FACTS_TOOL ?? join(dirname(corpus), 'tools', 'fhir-facts.mjs'))],
    HL7_IG_SHEETS: [resolve(root, env.HL7_IG_SHEETS ?? join(dirname(corpus), 'ig-mappings', 'codesystems'))],
  };
  const absent = Object.entries(needs).filter(([, parts]) => !existsSync(join(...parts)));
  if (absent.length > 0) {
    console.error('npm run test:corpus needs the external corpus, which is not there:');
    for (const [name, parts] of absent) console.error(`  ${name}: ${join(...parts)} does not exist`);
    console.error('Set HL7_CORPUS to the corpus folder (default ../shared/corpus beside the repository);');
    console.error('HL7_FACTS_TOOL and HL7_IG_SHEETS default to tools/fhir-facts.mjs and ig-mappings/codesystems beside it.');
    process.exit(2);
  }
  for (const [name, parts] of Object.entries(needs)) env[name] = parts[0];
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

let files = existsSync(testRoot) ? findTests(testRoot) : [];
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files found under dist/${suite}${filter.length > 0 ? ` matching ${filter.join(', ')}` : ''}`);
  process.exit(1);
}

let broker = null;
if (!env.KAFKA_BROKERS && existsSync(join(root, 'dist/devtools/local-kafka/index.js'))) {
  const { LocalKafka } = await import(join(root, 'dist/devtools/local-kafka/index.js'));
  broker = new LocalKafka({ name: 'test-suite', fresh: true });
  await broker.start();
  env.KAFKA_BROKERS = broker.bootstrap;
  console.log(`# local Kafka ${broker.version} for the tests at ${broker.bootstrap}`);
}

/** One `node --test` run over `group`; resolves to its exit code. */
function runGroup(group, timeoutMs) {
  if (group.length === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${timeoutMs}`, ...group], {
      stdio: 'inherit',
      env,
    });
    child.on('error', (err) => {
      console.error(`could not start the test runner: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
}

const started = new Date(Date.now() - process.uptime() * 1000).toISOString();
let code;
try {
  const short = await runGroup(files.filter((f) => !LONG_FILES.test(f)), FILE_TIMEOUT_MS);
  const long = await runGroup(files.filter((f) => LONG_FILES.test(f)), LONG_FILE_TIMEOUT_MS);
  code = short !== 0 ? short : long;
} finally {
  if (broker) await broker.stop();
}

// Reliability figures (test/reliability, test/property) -> RELIABILITY.md via
// scripts/reliability-report.mjs. Figures older than this run are ignored. A full run (no
// substring) always rewrites the report, so a scenario that failed shows as FAILED instead of
// leaving an older green report in place; a report that cannot be written fails the run.
if (suite === 'test' && (filter.length === 0 || existsSync(join(root, 'dist', 'reliability-figures')))) {
  const args = [join(root, 'scripts', 'reliability-report.mjs'), '--exit-code', String(code), '--since', started];
  if (filter.length === 0) args.push('--full');
  const report = await new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('error', (err) => {
      console.error(`could not run the reliability report: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  if (report !== 0) {
    console.error(`# scripts/reliability-report.mjs exited ${report}: the run fails`);
    if (code === 0) code = 1;
  }
}
process.exit(code);
