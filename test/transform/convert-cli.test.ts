/**
 * `hl7-engine convert`, the analyst's test bench, run as the analyst runs it (`node
 * dist/src/cli.js convert ...` from the repository root), with no Kafka anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { validateBundle } from '../../src/fhir/index.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';

const CLI = join(REPO_DIR, 'dist', 'src', 'cli.js');
const MAPPINGS = join(REPO_DIR, 'mappings', 'default');
const ADT_A01 = join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7');
const ORU_R01 = join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7');
const MFN_M02 = join(REPO_DIR, 'test-messages', 'bad', 'mfn-not-accepted.hl7');

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: string[], extraEnv: Record<string, string> = {}, cwd: string = REPO_DIR): Promise<CliRun> {
  // No broker address at all: convert must not need one.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['KAFKA_BROKERS'];
  Object.assign(env, extraEnv);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`convert did not exit within 30 s; stderr: ${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** stdout as the Bundles it holds: pretty documents, each starting with "{" at column 0. */
function bundlesOf(stdout: string): Bundle[] {
  return stdout
    .split(/^(?=\{)/m)
    .filter((d) => d.trim())
    .map((d) => JSON.parse(d) as Bundle);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hl7-engine-convert-'));
}

test('convert prints the ADT^A01 Bundle as pretty JSON on stdout, the outcome and issues on stderr, and exits 0', async () => {
  const r = await cli(['convert', 'test-messages/adt/adt-a01.hl7', '--mappings', 'mappings/default']);
  assert.equal(r.code, 0, r.stderr);
  const bundle = JSON.parse(r.stdout) as Bundle;
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'transaction');
  assert.ok(bundle.entry?.some((e) => e.resource?.resourceType === 'Patient'));
  assert.deepEqual(validateBundle(bundle), []);
  assert.ok(r.stdout.startsWith('{\n  "resourceType": "Bundle"'), 'not pretty-printed with 2 spaces');
  assert.match(r.stderr, /adt-a01\.hl7#1 ADT\^A01 MSG00001: Bundle with \d+ entries, \d+ issues?/);
  assert.match(r.stderr, /^1\/1 message\(s\) converted$/m);
});

test('converting the same file twice prints byte-identical Bundles', async () => {
  const a = await cli(['convert', ADT_A01, '--mappings', MAPPINGS]);
  const b = await cli(['convert', ADT_A01, '--mappings', MAPPINGS]);
  assert.equal(a.code, 0);
  assert.ok(a.stdout.length > 100);
  assert.equal(a.stdout, b.stdout);
});

test('a file of several messages gives one Bundle per message, in file order', async () => {
  const dir = tempDir();
  const file = join(dir, 'two.hl7');
  writeFileSync(file, Buffer.concat([readFileSync(ADT_A01), readFileSync(ORU_R01)]));
  const r = await cli(['convert', file, '--mappings', MAPPINGS]);
  assert.equal(r.code, 0, r.stderr);
  const bundles = bundlesOf(r.stdout);
  assert.equal(bundles.length, 2);
  assert.ok(bundles[0]!.entry?.some((e) => e.resource?.resourceType === 'Encounter'));
  assert.ok(bundles[1]!.entry?.some((e) => e.resource?.resourceType === 'DiagnosticReport'));
  assert.match(r.stderr, /two\.hl7#1 ADT\^A01/);
  assert.match(r.stderr, /two\.hl7#2 ORU\^R01/);
  assert.match(r.stderr, /^2\/2 message\(s\) converted$/m);
});

test('a message type with no mapping prints no Bundle, says unsupported, and exits 1', async () => {
  const r = await cli(['convert', MFN_M02, '--mappings', MAPPINGS]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /MFN\^M02 MFN0001: not converted: unsupported/);
  assert.match(r.stderr, /error unsupported-message/);
});

test('one unconvertible message among good ones still exits 1, the good ones printed', async () => {
  const dir = tempDir();
  const file = join(dir, 'mixed.hl7');
  writeFileSync(file, Buffer.concat([readFileSync(ADT_A01), readFileSync(MFN_M02)]));
  const r = await cli(['convert', file, '--mappings', MAPPINGS]);
  assert.equal(r.code, 1);
  assert.equal(bundlesOf(r.stdout).length, 1);
  assert.match(r.stderr, /^1\/2 message\(s\) converted$/m);
});

test('--channel uses the mapping set the channel names', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'channels'));
  writeFileSync(join(dir, 'channels', 'adt.yaml'), `name: adt-bench\nlistener:\n  port: 2575\nmapping: ${MAPPINGS}\n`);
  const viaChannel = await cli(['convert', ADT_A01, '--channel', 'adt-bench', '--channels', join(dir, 'channels')]);
  const viaDir = await cli(['convert', ADT_A01, '--mappings', MAPPINGS]);
  assert.equal(viaChannel.code, 0, viaChannel.stderr);
  assert.equal(viaChannel.stdout, viaDir.stdout);
});

test('a channel that names no mapping set is refused with exit 2 and says how to fix it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'raw-only.yaml'), `name: raw-only\nlistener:\n  port: 2575\n`);
  const r = await cli(['convert', ADT_A01, '--channel', 'raw-only', '--channels', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /channel raw-only .* names no mapping set; add "mapping: <set>" or use --mappings DIR/);
});

test('a mapping set that does not load is refused with exit 2, naming file:line:col', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'messages'));
  writeFileSync(join(dir, 'messages', 'broken.yaml'), 'id: broken\nmessages: ["ADT^A01"]\nresources:\n  - name: patient\n    type: 42\n');
  const r = await cli(['convert', ADT_A01, '--mappings', dir]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /broken\.yaml:\d+:\d+/);
  assert.match(r.stderr, /nothing converted/);
});

test('convert FILE with no options uses the default mapping set beside the installation and its default site, and says so', async () => {
  // Run from an unrelated folder: the default set is found beside the CLI, not in the cwd.
  const elsewhere = tempDir();
  const r = await cli(['convert', ORU_R01], {}, elsewhere);
  assert.equal(r.code, 0, r.stderr);
  const bundle = JSON.parse(r.stdout) as Bundle;
  assert.ok(bundle.entry?.some((e) => e.resource?.resourceType === 'DiagnosticReport'));
  assert.deepEqual(validateBundle(bundle), []);
  assert.equal(r.stderr.split('\n')[0], `mapping set ${MAPPINGS}, site default`);
  const explicit = await cli(['convert', ORU_R01, '--mappings', MAPPINGS]);
  assert.equal(r.stdout, explicit.stdout, 'the same Bundle as naming the default set');
});

test('--site names the site used on the first stderr line', async () => {
  const r = await cli(['convert', ORU_R01, '--site', 'general-hospital']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n')[0], `mapping set ${MAPPINGS}, site general-hospital`);
});

test('convert with both --channel and --mappings is a usage error (exit 2) whose usage names the default set', async () => {
  const r = await cli(['convert', ADT_A01, '--channel', 'x', '--mappings', MAPPINGS]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /at most one of --channel NAME or --mappings DIR/);
  assert.ok(r.stderr.includes(MAPPINGS), 'the usage shows where the default mapping set is');
});

test('start refuses a channel whose mapping set does not load: exit 2, each problem at file:line:col, before Kafka is needed', async () => {
  const dir = tempDir();
  const set = join(dir, 'mappings', 'broken');
  mkdirSync(join(set, 'messages'), { recursive: true });
  writeFileSync(join(set, 'messages', 'broken.yaml'), 'id: broken\nmessages: ["ADT^A01"]\nresources:\n  - name: patient\n    type: 42\n');
  mkdirSync(join(dir, 'channels'));
  const port = await freePort();
  writeFileSync(join(dir, 'channels', 'adt.yaml'), `name: broken-map\nlistener:\n  port: ${port}\nmapping: broken\n`);
  // An unreachable broker: the set (found in mappings/ beside channels/) is refused before Kafka is used.
  const r = await cli(['start', '--channels', join(dir, 'channels')], { KAFKA_BROKERS: '127.0.0.1:1', METRICS_PORT: String(await freePort()) });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /broken\.yaml:5:11: type must be a FHIR resource type/);
});
