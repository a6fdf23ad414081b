#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner. Integration tests need a real Kafka
// broker: when KAFKA_BROKERS is unset, this script starts the project's local broker for the
// run and stops it afterwards (see devtools/local-kafka/).
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testRoot = join(root, 'dist', 'test');

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const filter = process.argv.slice(2);
let files = existsSync(testRoot) ? findTests(testRoot) : [];
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}

let broker = null;
const env = { ...process.env };
if (!env.KAFKA_BROKERS && existsSync(join(root, 'dist/devtools/local-kafka/index.js'))) {
  const { LocalKafka } = await import(join(root, 'dist/devtools/local-kafka/index.js'));
  broker = new LocalKafka({ name: 'test-suite', fresh: true });
  await broker.start();
  env.KAFKA_BROKERS = broker.bootstrap;
  console.log(`# local Kafka ${broker.version} for the tests at ${broker.bootstrap}`);
}

const code = await new Promise((resolve) => {
  const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...files], {
    stdio: 'inherit',
    env,
  });
  child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
});
if (broker) await broker.stop();

// Reliability figures (test/reliability, test/property) -> RELIABILITY.md via
// scripts/reliability-report.mjs. Figures older than this run are ignored; the exit code is kept.
if (existsSync(join(root, 'dist', 'reliability-figures'))) {
  const since = new Date(Date.now() - process.uptime() * 1000).toISOString();
  const args = [join(root, 'scripts', 'reliability-report.mjs'), '--exit-code', String(code), '--since', since];
  await new Promise((resolve) => spawn(process.execPath, args, { stdio: 'inherit' }).on('exit', resolve).on('error', resolve));
}
process.exit(code);
