/**
 * `hl7-engine start` (role all) converts in a child process of its own (`--role transform`, nice
 * 10), so a backlog cannot delay the ACKs of the process that listens. These tests run the real
 * command against the test Kafka and check what an operator relies on: one /metrics and one
 * /readyz for both processes, a transform process that comes back after it is killed with nothing
 * lost, and no transform process left behind when its parent goes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { ensureTopics } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, readTopic, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { EngineProcess, adtFor, sleep, writeChannelDir } from '../support/reliability.js';

interface Running {
  readonly engine: EngineProcess;
  readonly name: string;
  readonly port: number;
}

async function startEngine(extra: { inline?: boolean } = {}): Promise<Running> {
  const list = brokers();
  const name = uniqueChannel('child');
  const port = await freePort();
  const channelsDir = writeChannelDir({ name, port, mapping: 'default' });
  await ensureTopics(testKafka(list), ['raw', 'fhir', 'dlq'].map((t) => ({ topic: `${name}.${t}`, partitions: 3 })));
  const engine = await EngineProcess.start({ channelsDir, brokers: list.join(','), logLevel: 'info', ...(extra.inline ? { extraArgs: ['--transform-inline'] } : {}) });
  return { engine, name, port };
}

/** The transform process's pid, from the line `start` prints after its listeners' lines. */
async function childPid(engine: EngineProcess): Promise<number> {
  const line = /transform: conversion runs in process (\d+) /;
  await until('start to print its transform process', () => line.test(engine.output()), 10_000, engine);
  return Number(line.exec(engine.output())![1]);
}

/** Running (a zombie, or no /proc entry, is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function readiness(engine: EngineProcess): Promise<Record<string, boolean>> {
  const body = (await (await fetch(`${engine.opsUrl()}/readyz`)).json()) as { checks: Record<string, boolean> };
  return body.checks;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, engine?: EngineProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms${engine ? `:\n${engine.output()}` : ''}`);
    await sleep(100);
  }
}

async function sendAdt(port: number, controlId: string): Promise<string> {
  const client = await RawMllpClient.open(port);
  try {
    const ack = await client.roundTrip(adtFor(controlId));
    assert.ok(ack, `no ACK for ${controlId}`);
    return readAck(ack).code;
  } finally {
    client.close();
  }
}

async function bundleFor(name: string, controlId: string, timeoutMs: number): Promise<void> {
  const records = await readTopic(`${name}.fhir`, { until: (rs) => rs.some((r) => r.headers['hl7_control_id'] === controlId), timeoutMs });
  assert.ok(
    records.some((r) => r.headers['hl7_control_id'] === controlId),
    `no Bundle for ${controlId} in ${name}.fhir within ${timeoutMs} ms`,
  );
}

test('start converts in a child process at nice 10, and its /metrics and /readyz cover both processes', { timeout: 180_000 }, async () => {
  const { engine, name, port } = await startEngine();
  try {
    const pid = await childPid(engine);
    assert.notEqual(pid, engine.pid);
    assert.equal(getPriority(pid), 10);
    assert.equal(await sendAdt(port, 'CHILD0001'), 'AA');
    await bundleFor(name, 'CHILD0001', 60_000);
    const checks = await readiness(engine);
    assert.equal(checks['transform-process'], true);
    assert.equal(checks[`listener:${name}`], true);
    assert.equal(checks[`transform:${name}`], true, 'the child’s consumer is reported by the parent');
    // Counted by the child, served by the parent.
    await until('the Bundle counted in /metrics', async () => ((await engine.metric('hl7_bundles_published_total', { channel: name })) ?? 0) >= 1, 10_000, engine);
    assert.equal(await engine.metric('hl7_acks_total', { channel: name, code: 'AA' }), 1);
    assert.equal(await engine.metric('hl7_transform_process_up'), 1);
    assert.equal(await engine.metric('hl7_kafka_up'), 1, 'each process probes Kafka; the merged gauge stays 0/1');
  } finally {
    await engine.stop();
  }
});

test('a transform process killed with SIGKILL is started again, and what was ACKed meanwhile is converted', { timeout: 240_000 }, async () => {
  const { engine, name, port } = await startEngine();
  try {
    const first = await childPid(engine);
    await until('the transform process to run', async () => (await readiness(engine))['transform-process'] === true, 30_000, engine);
    process.kill(first, 'SIGKILL');
    await until('/readyz to report the transform process down', async () => (await readiness(engine))['transform-process'] === false, 10_000, engine);
    // Ingest does not depend on the conversion: stored and ACKed while no transform process runs.
    assert.equal(await sendAdt(port, 'CHILD0002'), 'AA');
    // The new process re-joins the group once the killed member's session expires (~30 s).
    await until('the transform process to run again', async () => (await readiness(engine))['transform-process'] === true, 120_000, engine);
    await bundleFor(name, 'CHILD0002', 90_000);
    assert.equal(await engine.metric('hl7_transform_process_restarts_total'), 1);
    assert.match(engine.output(), /transform process exited; raw messages are still stored and ACKed/);
    assert.equal(alive(first), false);
  } finally {
    await engine.stop();
  }
});

test('the transform process stops when its parent is killed with SIGKILL, and with it on SIGTERM', { timeout: 180_000 }, async () => {
  const killed = await startEngine();
  const orphan = await childPid(killed.engine);
  process.kill(killed.engine.pid, 'SIGKILL');
  await until('the orphaned transform process to stop by itself', () => !alive(orphan), 30_000, killed.engine);

  const stopped = await startEngine();
  const child = await childPid(stopped.engine);
  await stopped.engine.stop();
  assert.equal(alive(child), false, 'SIGTERM to start left its transform process running');
});

test('--transform-inline converts in the listening process itself', { timeout: 180_000 }, async () => {
  const { engine, name, port } = await startEngine({ inline: true });
  try {
    assert.doesNotMatch(engine.output(), /transform: conversion runs in process/);
    assert.equal(await sendAdt(port, 'CHILD0003'), 'AA');
    await bundleFor(name, 'CHILD0003', 60_000);
    const checks = await readiness(engine);
    assert.equal(checks['transform-process'], undefined);
    assert.equal(checks[`transform:${name}`], true);
    assert.equal(await engine.metric('hl7_transform_process_up'), null);
  } finally {
    await engine.stop();
  }
});
