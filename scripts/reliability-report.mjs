#!/usr/bin/env node
// Writes RELIABILITY.md from the figures the reliability and property tests leave in
// dist/reliability-figures/*.json (one file per test file, see test/support/reliability.ts).
// scripts/run-tests.mjs calls it after every full run and every filtered run that produced figures:
//   node scripts/reliability-report.mjs --exit-code N --since ISO-TIME [--full] [--partial]
//       [--figures DIR] [--out FILE]   (defaults dist/reliability-figures and RELIABILITY.md)
// Files older than --since belong to an earlier run and are ignored. Each file says how far its
// scenario got (see scenarioStarted/recordFigures/scenarioPassed in test/support/reliability.ts):
// a scenario is PASSED only when its test got past its last assertion; one that failed before or
// after recording its figures, or that has no figures from this run, is FAILED.
// --full (a run of the whole suite) always rewrites RELIABILITY.md, so a failure replaces an
// older green report, and exits 1 when a scenario did not pass although the test run says it did.
// A filtered run rewrites it only when every scenario reported (or with --partial), and
// otherwise prints its figures.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    'exit-code': { type: 'string' },
    since: { type: 'string' },
    full: { type: 'boolean', default: false },
    partial: { type: 'boolean', default: false },
    figures: { type: 'string', default: join(root, 'dist', 'reliability-figures') },
    out: { type: 'string', default: join(root, 'RELIABILITY.md') },
  },
});
const dir = values.figures;
const out = values.out;

/** The scenarios of issue 4's "prove zero loss" list, in its order, with how each is measured. */
const SCENARIOS = [
  {
    key: 'kill-9',
    name: '1. Engine killed with SIGKILL',
    how:
      'The real `hl7-engine start` runs as a child process with a channel naming the default mapping set. ' +
      'Eight connections send ADT^A01 messages (each with its own patient and visit) one at a time; a sender resends the same bytes ' +
      'until it gets AA. The process is killed with SIGKILL mid-stream and started again. Afterwards the raw topic is read back and ' +
      'deduplicated by sender + MSH-10 + SHA-256 of the bytes, and the fhir topic is read back by control id and by resource id (fullUrl).',
  },
  {
    key: 'broker-outage',
    name: '2. Kafka broker stopped for 10 s',
    how:
      'The test owns its broker. It is stopped for 10 s under the running engine process and eight resending senders, then started ' +
      'again; the engine is not restarted. Answers given between the stop and the restart must not be AA. Afterwards every message ' +
      'must be AA\'d, in the raw topic and converted, and the DLQ must hold no `publish` failure.',
  },
  {
    key: 'replay',
    name: '3. Broken mapping, fix, replay',
    how:
      'The engine process runs a channel with a copy of the default mapping set broken on purpose (Patient.gender set to a code R4 ' +
      'does not have), so every message is AA\'d and stored but its Bundle fails validation and is dead-lettered. ' +
      'The mapping is fixed and `hl7-engine replay --from dlq` re-drives them; every message must then have its Bundle in the fhir topic ' +
      'and the replay must have written its audit record.',
  },
  {
    key: 'flood',
    name: '4. Flood of bad traffic beside good traffic',
    how:
      'Against the engine process: malformed frames and stray bytes, frames over the channel\'s size limit, slow-loris connections ' +
      'that dribble a frame, idle connections and connection churn, all at once, beside four good senders. The engine must stay up, ' +
      'its VmRSS (read from /proc/<pid>/status) must stay under the ceiling, every good message must be AA\'d the first time and ' +
      'stored, and every connection must be released afterwards.',
  },
  {
    key: 'property',
    name: '5. Property-based tests of framer and parser',
    how:
      'fast-check properties of the ingest path as ingest chains it (framer, charset, parser, ACK), each run in a worker thread with a ' +
      'deadline so that a hang fails the test. "Inputs fuzzed" counts the inputs the properties were given.',
  },
  {
    key: 'hostile-keys',
    name: '6. Hostile senders: over-long MSH fields and large batches',
    how:
      'Against the engine with real Kafka: a frame whose MSH-10 is 1 MiB (no PID) is sent while another connection keeps sending ' +
      'ordinary messages; it must be answered AR with ERR 102 within 10 times what storing a legitimate 1 MB message takes, the other ' +
      'connection must keep getting AA within the same budget, its dead letter must be `rejected` with a short hashed key, and no log ' +
      'line may exceed the cap. Then a 10,000-message FHS/BHS batch must be answered AA with every member stored once, and a batch over ' +
      '`batch.maxMessages` answered AR with nothing stored. Figures: milliseconds to each answer.',
  },
];

const full = values.full;
if (!existsSync(dir) && !full) process.exit(0);
const since = values.since ? Date.parse(values.since) : 0;
const figures = (existsSync(dir) ? readdirSync(dir) : [])
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .filter((f) => Date.parse(f.at) >= since);
if (figures.length === 0 && !full) process.exit(0);

const byScenario = new Map(SCENARIOS.map((s) => [s.key, figures.filter((f) => f.scenario === s.key)]));
const missing = SCENARIOS.filter((s) => byScenario.get(s.key).length === 0).map((s) => s.key);

/** PASSED, FAILED (with why) or, in a filtered run, not run. */
function statusOf(list) {
  if (list.length === 0) return full ? 'FAILED: no figures from this run (the test did not run or did not start)' : 'not run';
  if (list.some((f) => f.outcome === 'started')) return 'FAILED before recording its figures';
  if (list.some((f) => f.outcome !== 'passed')) return 'FAILED after recording the figures below';
  return 'PASSED';
}
const statuses = new Map(SCENARIOS.map((s) => [s.key, statusOf(byScenario.get(s.key))]));
const failedScenarios = SCENARIOS.filter((s) => statuses.get(s.key).startsWith('FAILED')).map((s) => s.key);

const sum = (list, field) => list.reduce((n, f) => n + (typeof f[field] === 'number' ? f[field] : 0), 0);
const has = (list, field) => list.some((f) => typeof f[field] === 'number');
const faults = (f) => Object.values(f.faultsInjected ?? {}).reduce((n, v) => n + v, 0);
const cell = (list, field) => (has(list, field) ? String(sum(list, field)) : '—');

const totals = {
  sent: sum(figures, 'sent'),
  acked: sum(figures, 'acked'),
  foundDownstream: sum(figures, 'foundDownstream'),
  lost: sum(figures, 'lost'),
  duplicatesDownstream: sum(figures, 'duplicatesDownstream'),
  faults: figures.reduce((n, f) => n + faults(f), 0),
  inputsFuzzed: sum(figures, 'inputsFuzzed'),
};

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const exitCode = values['exit-code'] === undefined ? null : Number(values['exit-code']);
const commit = git('rev-parse', 'HEAD') || 'unknown';
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${platform()} ${release()} ${arch()}, Node ${process.version}`;
const when = new Date(figures.length > 0 ? Math.max(...figures.map((f) => Date.parse(f.at))) : Date.now()).toISOString();

const lines = [];
lines.push('# Reliability: proof of zero loss under faults');
lines.push('');
lines.push('<!-- Generated by scripts/reliability-report.mjs from the figures of a test run (npm test). Do not edit by hand. -->');
lines.push('');
lines.push(`- Date: ${when}`);
lines.push(`- Machine: ${machine}`);
lines.push(`- Commit: ${commit}${dirty ? ' (with uncommitted changes)' : ''}`);
lines.push(`- Test run: ${exitCode === null ? 'exit code not given' : exitCode === 0 ? 'passed (exit code 0)' : `FAILED (exit code ${exitCode})`}`);
if (failedScenarios.length > 0) lines.push(`- **FAILED scenarios: ${failedScenarios.join(', ')}** (their figures, where any, do not prove zero loss)`);
else if (missing.length > 0) lines.push(`- Partial: no figures from this run for ${missing.join(', ')}`);
lines.push('');
lines.push('## Summary');
lines.push('');
lines.push('| Figure | Value |');
lines.push('|---|---:|');
lines.push(`| Messages sent | ${totals.sent} |`);
lines.push(`| Messages AA'd | ${totals.acked} |`);
lines.push(`| Found downstream (Bundle in the fhir topic) | ${totals.foundDownstream} |`);
lines.push(`| **Lost** (AA'd but missing from the raw or fhir topic; must be 0) | **${totals.lost}** |`);
lines.push(`| **Duplicates downstream** (one message or resource id with two different contents; must be 0) | **${totals.duplicatesDownstream}** |`);
lines.push(`| Faults injected | ${totals.faults} |`);
lines.push(`| Inputs fuzzed | ${totals.inputsFuzzed} |`);
lines.push('');
lines.push('| Scenario | Status | Sent | AA\'d | In raw | Downstream | Lost | Duplicates downstream | Faults injected | Inputs fuzzed |');
lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const s of SCENARIOS) {
  const list = byScenario.get(s.key);
  const status = statuses.get(s.key);
  const shown = status.startsWith('FAILED') ? `**${status}**` : status;
  if (list.length === 0) {
    lines.push(`| ${s.name} | ${shown} | | | | | | | | |`);
    continue;
  }
  const f = list.reduce((n, x) => n + faults(x), 0);
  lines.push(
    `| ${s.name} | ${shown} | ${cell(list, 'sent')} | ${cell(list, 'acked')} | ${cell(list, 'foundRaw')} | ${cell(list, 'foundDownstream')} | ${cell(list, 'lost')} | ${cell(list, 'duplicatesDownstream')} | ${f || '—'} | ${cell(list, 'inputsFuzzed')} |`,
  );
}
lines.push('');
lines.push('"Sent" counts distinct messages; a message resent after an AE, a timeout or a lost connection is still one message.');
lines.push('');

for (const s of SCENARIOS) {
  lines.push(`## ${s.name}`);
  lines.push('');
  lines.push(s.how);
  lines.push('');
  lines.push(`Status: ${statuses.get(s.key).startsWith('FAILED') ? `**${statuses.get(s.key)}**` : statuses.get(s.key)}`);
  lines.push('');
  const list = byScenario.get(s.key);
  if (list.length === 0) {
    lines.push('No figures from this run.');
    lines.push('');
    continue;
  }
  for (const f of list) {
    if (f.outcome === 'started') {
      lines.push(`**${f.title}**: failed before its figures were recorded.`);
      lines.push('');
      continue;
    }
    lines.push(`**${f.title}**`);
    lines.push('');
    lines.push('| Figure | Value |');
    lines.push('|---|---:|');
    const rows = [
      ['Messages sent', f.sent],
      ['Transmissions (sends including resends)', f.transmissions],
      ["AA'd", f.acked],
      ['In the raw topic', f.foundRaw],
      ['Downstream', f.foundDownstream],
      ['Lost', f.lost],
      ['Duplicates downstream', f.duplicatesDownstream],
      ['Inputs fuzzed', f.inputsFuzzed],
      ...Object.entries(f.faultsInjected ?? {}).map(([k, v]) => [`Fault injected: ${k}`, v]),
      ...Object.entries(f.details ?? {}),
    ];
    for (const [k, v] of rows) if (v !== undefined) lines.push(`| ${k} | ${v} |`);
    lines.push('');
  }
}

const text = lines.join('\n');
if (!full && missing.length > 0 && !values.partial) {
  process.stdout.write(
    `# reliability figures from this run (RELIABILITY.md not rewritten; no figures for ${missing.join(', ')}` +
      `${failedScenarios.length > 0 ? `; FAILED: ${failedScenarios.join(', ')}` : ''}): ` +
      `sent ${totals.sent}, AA'd ${totals.acked}, downstream ${totals.foundDownstream}, lost ${totals.lost}, ` +
      `duplicates downstream ${totals.duplicatesDownstream}, faults ${totals.faults}, inputs fuzzed ${totals.inputsFuzzed}\n`,
  );
  process.exit(0);
}
writeFileSync(out, text);
process.stdout.write(
  `# RELIABILITY.md written${failedScenarios.length > 0 ? ` (FAILED: ${failedScenarios.join(', ')})` : ''}: sent ${totals.sent}, AA'd ${totals.acked}, downstream ${totals.foundDownstream}, lost ${totals.lost}, ` +
    `duplicates downstream ${totals.duplicatesDownstream}, faults ${totals.faults}, inputs fuzzed ${totals.inputsFuzzed}\n`,
);
if (full && failedScenarios.length > 0 && exitCode === 0) {
  console.error(`# the test run passed, yet reliability scenarios ${failedScenarios.join(', ')} did not: failing the run`);
  process.exit(1);
}
