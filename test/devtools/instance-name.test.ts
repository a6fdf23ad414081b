/**
 * Each checkout has its own development broker: the instance name comes from the checkout's real
 * path, so two engines started from two checkouts never share (and stop) one Kafka, while
 * `start`, `dlq`, `replay` and scripts/kafka-local.mjs of one checkout all find the same one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkoutRoot, defaultInstanceName, INSTANCE_ENV, resolveInstanceName } from '../../devtools/local-kafka/index.js';
import { loadDevBroker, DevBrokerError } from '../../src/kafka/index.js';
import { REPO_DIR } from '../support/repo.js';

function twoCheckouts(): [string, string] {
  const base = mkdtempSync(join(tmpdir(), 'hl7-engine-checkouts-'));
  const a = join(base, 'hl7-engine');
  const b = join(base, 'hl7-engine-copy');
  mkdirSync(a);
  mkdirSync(b);
  return [a, b];
}

test('two checkouts get two instance names; one checkout always gets the same', () => {
  const [a, b] = twoCheckouts();
  const nameA = defaultInstanceName(a);
  assert.match(nameA, /^dev-[0-9a-f]{8}$/);
  assert.notEqual(defaultInstanceName(b), nameA);
  assert.equal(defaultInstanceName(a), nameA);
  assert.equal(resolveInstanceName({ root: a, env: {} }), nameA);
});

test('a checkout reached through a symlink is the same checkout: same instance name', () => {
  const [a] = twoCheckouts();
  const link = `${a}-link`;
  symlinkSync(a, link);
  assert.equal(defaultInstanceName(link), defaultInstanceName(a));
});

test('HL7_KAFKA_INSTANCE overrides the derived name, and an explicit --name overrides both', () => {
  const [a] = twoCheckouts();
  assert.equal(resolveInstanceName({ root: a, env: { [INSTANCE_ENV]: 'shared' } }), 'shared');
  assert.equal(resolveInstanceName({ root: a, env: { [INSTANCE_ENV]: 'shared' }, name: 'mine' }), 'mine');
  assert.equal(resolveInstanceName({ root: a, env: { [INSTANCE_ENV]: '' } }), defaultInstanceName(a));
});

test('an instance name that is not a plain folder name is refused with the variable to fix', () => {
  for (const bad of ['../other', 'a/b', '.hidden', 'x'.repeat(65)]) {
    assert.throws(() => resolveInstanceName({ env: { [INSTANCE_ENV]: bad } }), /invalid local Kafka instance name .*HL7_KAFKA_INSTANCE/, bad);
  }
});

test('the checkout is the folder holding package.json above the module, wherever the module sits under it', () => {
  assert.equal(checkoutRoot(), checkoutRoot(join(REPO_DIR, 'dist', 'devtools', 'local-kafka')));
  assert.equal(checkoutRoot(join(REPO_DIR, 'devtools', 'local-kafka')), checkoutRoot());
});

test('start/dlq/replay (through src/kafka) and scripts/kafka-local.mjs resolve the same instance for this checkout', async () => {
  // `status` makes the instance's folder: in a cache of this test's own.
  const env: NodeJS.ProcessEnv = { ...process.env, HL7_ENGINE_CACHE: mkdtempSync(join(tmpdir(), 'hl7-engine-cache-')) };
  delete env[INSTANCE_ENV];
  const engineSide = await loadDevBroker(env);
  assert.equal(engineSide.name, defaultInstanceName());
  const r = spawnSync(process.execPath, [join(REPO_DIR, 'scripts', 'kafka-local.mjs'), 'status'], { encoding: 'utf8', env, timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^Kafka ${engineSide.name} not running`));

  const shared = await loadDevBroker({ ...env, [INSTANCE_ENV]: 'shared-dev' });
  assert.equal(shared.name, 'shared-dev');
  const s = spawnSync(process.execPath, [join(REPO_DIR, 'scripts', 'kafka-local.mjs'), 'status'], { encoding: 'utf8', env: { ...env, [INSTANCE_ENV]: 'shared-dev' }, timeout: 30_000 });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^Kafka shared-dev not running/);
});

test('a bad HL7_KAFKA_INSTANCE reaches the engine commands as a usage error, not a crash', async () => {
  await assert.rejects(loadDevBroker({ [INSTANCE_ENV]: '../x' }), (err: unknown) => err instanceof DevBrokerError && /HL7_KAFKA_INSTANCE/.test(err.message));
});
