/**
 * `hl7-engine deliver`: configuration problems stop it before anything connects (exit 2, each at
 * file:line:col); running, it delivers a Kafka record to @medplum/hl7's server and stops on abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hl7Message as MedplumMessage } from '@medplum/core';
import { Hl7Server } from '@medplum/hl7';
import { runDeliver } from '../../src/delivery/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { testKafka } from '../support/kafka.js';
import { REPO_DIR } from '../support/repo.js';
import { expectedBundle } from '../outbound/cases.js';

function io(): { out: string[]; err: string[]; io: { stdout: (t: string) => void; stderr: (t: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t) } };
}

test('deliver --check accepts the example destinations', async () => {
  const o = io();
  assert.equal(await runDeliver(['--check', '--destinations', join(REPO_DIR, 'destinations')], o.io, new AbortController().signal), 0);
  assert.match(o.out.join(''), /1 destination\(s\) .* are valid/);
});

test('deliver with a destination whose outbound mapping does not exist exits 2 naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-'));
  try {
    writeFileSync(join(dir, 'a.yaml'), 'name: a\nsource: { topic: x.fhir }\nmapping: { site: no-such-site }\ntarget: { host: h, port: 2575 }\n');
    const o = io();
    assert.equal(await runDeliver(['--destinations', dir], o.io, new AbortController().signal), 2);
    assert.match(o.err.join(''), /site "no-such-site" has no file/);
    assert.match(o.err.join(''), /nothing started/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deliver runs a destination: a Bundle on the topic reaches @medplum/hl7\'s server as ORU^R01; abort stops it', { timeout: 120_000 }, async () => {
  const got: MedplumMessage[] = [];
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      got.push(message);
      connection.send(message.buildAck());
    });
  });
  server.start(0);
  const s = server.server!;
  if (!s.listening) await new Promise<void>((resolve) => s.once('listening', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  const name = `cmd-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.fhir`;
  const dir = mkdtempSync(join(tmpdir(), 'deliver-'));
  const kafka = testKafka();
  const previousPort = process.env['METRICS_PORT'];
  process.env['METRICS_PORT'] = '0';
  const stop = new AbortController();
  try {
    writeFileSync(
      join(dir, 'd.yaml'),
      `name: ${name}\nsource: { topic: ${topic} }\nmapping: { outbound: ${join(REPO_DIR, 'mappings/outbound')}, site: general-hospital, receivingApplication: MEDPLUM }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 5000 }\n`,
    );
    await ensureTopics(kafka, [{ topic, partitions: 1 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'p1', value: JSON.stringify(expectedBundle('oru/oru-r01.json')) }] });
    await producer.disconnect();
    const o = io();
    const running = runDeliver(['--destinations', dir], o.io, stop.signal);
    const deadline = Date.now() + 90_000;
    while (got.length === 0) {
      if (Date.now() > deadline) assert.fail(`nothing reached the receiver in 90 s; stderr: ${o.err.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    stop.abort();
    assert.equal(await running, 0);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.getSegment('MSH')?.getField(5)?.toString(), 'MEDPLUM');
    assert.equal(got[0]!.getSegment('MSH')?.getField(9)?.toString(), 'ORU^R01^ORU_R01');
  } finally {
    stop.abort();
    if (previousPort === undefined) delete process.env['METRICS_PORT'];
    else process.env['METRICS_PORT'] = previousPort;
    await server.stop({ forceDrainTimeoutMs: 100 }).catch(() => server.stop());
    rmSync(dir, { recursive: true, force: true });
  }
});
