/**
 * Hot reload on the real Kafka with the real mapping set: a channel on a temporary copy of
 * mappings/default, a steady stream of ORU^R01 over one MLLP connection, and edits to the mapping
 * set and the channel file while it flows. The Observation category code in common.yaml (the
 * resultObservation template ORU^R01 uses) is the marker: `laboratory` before an edit,
 * `reload-v2` / `reload-v3` after, so every Bundle says which mapping converted it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { loadChannels } from '../../src/channel/index.js';
import { ConfigReloader, Engine } from '../../src/engine/index.js';
import type { Hl7Message } from '../../src/hl7/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { createLogger, EngineMetrics } from '../../src/ops/index.js';
import type { ConversionResult } from '../../src/mapping/index.js';
import { TransformWorker } from '../../src/transform/index.js';
import { REPO_DIR } from '../support/repo.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, readTopic, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { adt, channelWithTopics, endOffsets, fakeConverter, quietLogger, testKafka, writeRaw } from '../transform/support.js';

const ORU = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');
const ADT = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORIGINAL_CATEGORY = 'code: laboratory }] }';

/** The test message with its own MSH-10, so each Bundle can be traced to one send. */
function withControlId(message: string, id: string): Buffer {
  const fields = message.split('\r')[0]!.split('|');
  return Buffer.from(message.replace(`|${fields[9]}|`, `|${id}|`), 'latin1');
}

const root = mkdtempSync(join(tmpdir(), 'hl7-engine-reload-'));
const channelsDir = join(root, 'channels');
const channelFile = join(channelsDir, 'lab.yaml');
const markerMapping = join(root, 'mappings', 'default', 'common.yaml');
const name = uniqueChannel('reload');
let port = 0;

function channelYaml(types: readonly string[], listenPort = port): string {
  return [
    `name: ${name}`,
    'listener:',
    `  port: ${listenPort}`,
    'accept:',
    `  messageTypes: [${types.map((t) => `"${t}"`).join(', ')}]`,
    'ack:',
    '  mode: original',
    'dedupe:',
    '  windowSeconds: 0',
    'mapping: default',
    '',
  ].join('\n');
}

function setCategory(code: string): void {
  const text = readFileSync(join(REPO_DIR, 'mappings', 'default', 'common.yaml'), 'utf8');
  assert.ok(text.includes(ORIGINAL_CATEGORY), 'the marker line moved in mappings/default/common.yaml');
  writeFileSync(markerMapping, text.replace(ORIGINAL_CATEGORY, `code: ${code} }] }`));
}

let engine: Engine;
let reloader: ConfigReloader;
let client: RawMllpClient;
let logText = '';
const metrics = new EngineMetrics({ defaultMetrics: false });

async function reloads(result: 'success' | 'failure'): Promise<number> {
  const m = await metrics.configReloads.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function refusesConnections(at: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: at });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

function logLines(): Array<Record<string, unknown>> {
  return logText
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Sends ORU^R01s one after another on `client` until stopped; each must be AA'd. */
class Stream {
  readonly acked: string[] = [];
  readonly answers = new Map<string, string>();
  private seq = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly prefix: string) {
    this.done = this.run();
  }

  /** Control id the next message will carry: everything from here on is sent after "now". */
  get nextId(): string {
    return `${this.prefix}${String(this.seq).padStart(4, '0')}`;
  }

  idsFrom(firstId: string): string[] {
    return this.acked.filter((id) => id >= firstId);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const id = this.nextId;
      this.seq++;
      const ack = await client.roundTrip(withControlId(ORU, id));
      this.answers.set(id, ack ? readAck(ack).code : 'no answer');
      this.acked.push(id);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

function categoryOf(r: ReadRecord): string {
  const bundle = JSON.parse(r.value.toString()) as Bundle;
  const codes = (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((res): res is Observation => res?.resourceType === 'Observation')
    .map((o) => o.category?.[0]?.coding?.[0]?.code ?? '(none)');
  assert.ok(codes.length > 0, 'a Bundle without Observations');
  assert.equal(new Set(codes).size, 1, 'Observations of one Bundle were converted by different mappings');
  return codes[0]!;
}

/** Bundles on the fhir topic for these control ids: exactly one each, by control id. */
async function bundlesFor(ids: readonly string[]): Promise<Map<string, string>> {
  const wanted = new Set(ids);
  const records = await readTopic(`${name}.fhir`, {
    until: (rs) => rs.filter((r) => wanted.has(r.headers['hl7_control_id'] ?? '')).length >= wanted.size,
    timeoutMs: 60_000,
  });
  const out = new Map<string, string>();
  for (const r of records) {
    const id = r.headers['hl7_control_id'] ?? '';
    if (!wanted.has(id)) continue;
    assert.ok(!out.has(id), `message ${id} was converted twice`);
    out.set(id, categoryOf(r));
  }
  assert.deepEqual([...wanted].filter((id) => !out.has(id)), [], 'messages without a Bundle');
  return out;
}

before(async () => {
  port = await freePort();
  mkdirSync(channelsDir);
  cpSync(join(REPO_DIR, 'mappings', 'default'), join(root, 'mappings', 'default'), { recursive: true });
  writeFileSync(channelFile, channelYaml(['ORU^R01']));
  const { channels, errors } = loadChannels(channelsDir);
  assert.deepEqual(errors, []);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: 'info', destination: sink });
  engine = new Engine({ channels, brokers: brokers(), logger, metrics });
  await engine.start();
  reloader = new ConfigReloader({ engine, channelsDir, channels, logger, metrics, debounceMs: 300 });
  reloader.watch();
  client = await RawMllpClient.open(port);
});

after(async () => {
  client.close();
  await reloader.close();
  await engine.stop(2000);
});

test('a mapping edited while messages flow: stored before the reload → old mapping, sent after it → new; each converted once, the connection kept', async () => {
  const listener = engine.channels[0]!.listener;
  const successes = await reloads('success');
  const stream = new Stream('A');
  await until('15 ACKs before the edit', () => stream.acked.length >= 15);

  const ackedBeforeEdit = [...stream.acked];
  setCategory('reload-v2'); // the watcher sees this; nothing else triggers the reload
  await until('the file-change reload', async () => (await reloads('success')) > successes);
  const firstAfterReload = stream.nextId;
  await until('15 ACKs after the reload', () => stream.idsFrom(firstAfterReload).length >= 15);
  await stream.stop();

  assert.deepEqual([...stream.answers.entries()].filter(([, code]) => code !== 'AA'), [], 'every message is answered AA');
  assert.equal(client.isClosed, false, 'the sender’s connection was dropped');
  assert.equal(engine.channels[0]!.listener, listener, 'the listener was replaced');
  assert.equal(listener.connectionCount, 1);

  const categories = await bundlesFor(stream.acked);
  for (const id of ackedBeforeEdit) assert.equal(categories.get(id), 'laboratory', `${id} was ACKed before the edit`);
  for (const id of stream.idsFrom(firstAfterReload)) assert.equal(categories.get(id), 'reload-v2', `${id} was sent after the reload`);
  const reloaded = logLines().find((l) => l['msg'] === 'configuration reloaded');
  assert.equal(reloaded?.['trigger'], 'file-change');
});

test('an invalid mapping edit (a YAML syntax error) is rejected with file:line:col and a failure count, and the last good mapping keeps converting', async () => {
  const good = readFileSync(markerMapping, 'utf8');
  const lines = good.split('\n');
  const at = lines.indexOf('          code: "OBX-3 | cwe"');
  assert.ok(at >= 0, 'the line to break moved');
  lines[at] = '          code: "OBX-3 | cwe'; // the closing quote is missing
  const failures = await reloads('failure');
  const successes = await reloads('success');
  const stream = new Stream('B');
  await until('a first ACK', () => stream.acked.length >= 3);
  writeFileSync(markerMapping, lines.join('\n'));
  await until('the rejected reload', async () => (await reloads('failure')) > failures);
  const firstAfterRejection = stream.nextId;
  await until('10 ACKs after the rejection', () => stream.idsFrom(firstAfterRejection).length >= 10);
  await stream.stop();

  const rejected = logLines().find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('config reload rejected:'));
  assert.ok(rejected, 'no log line for the rejected edit');
  assert.equal(rejected['file'], markerMapping);
  assert.equal(rejected['line'], at + 1);
  const col = rejected['col'];
  assert.ok(typeof col === 'number' && col >= 1 && col <= lines[at]!.length + 1, `column ${String(col)} is not on the broken line`);
  assert.ok((rejected['msg'] as string).includes(`${markerMapping}:${at + 1}:${col}:`), 'the message does not read file:line:col');
  assert.equal(await reloads('success'), successes, 'the invalid edit counted as a success');

  assert.deepEqual([...stream.answers.values()].filter((c) => c !== 'AA'), [], 'traffic stopped being AA’d');
  const categories = await bundlesFor(stream.acked);
  assert.deepEqual([...new Set(categories.values())], ['reload-v2'], 'not converted by the last good mapping');

  writeFileSync(markerMapping, good); // the last good content again: a reload that changes nothing
  await until('the repaired reload', async () => (await reloads('success')) > successes);
  const last = logLines().filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('configuration reloaded')).at(-1);
  assert.equal(last?.['msg'], 'configuration reloaded; nothing changed');
});

test('a channel accept-rule edit (ADT^* added) takes effect on the open connection, without reconnecting', async () => {
  const adt = withControlId(ADT, 'C0001');
  const refused = await client.roundTrip(adt);
  assert.ok(refused);
  assert.equal(readAck(refused).code, 'AR', 'ADT^A01 should not be accepted before the edit');

  const successes = await reloads('success');
  writeFileSync(channelFile, channelYaml(['ORU^R01', 'ADT^*']));
  await until('the channel reload', async () => (await reloads('success')) > successes);

  const accepted = await client.roundTrip(withControlId(ADT, 'C0002'));
  assert.ok(accepted);
  assert.equal(readAck(accepted).code, 'AA');
  assert.equal(client.isClosed, false);
  const change = logLines().filter((l) => l['msg'] === 'configuration reloaded').at(-1)?.['changes'];
  assert.deepEqual(change, [{ channel: name, action: 'updated', what: ['accept'] }]);
});

test('SIGHUP reloads: a real signal to the process applies a mapping edit nobody watched', async () => {
  await reloader.close(); // no watcher from here on: only the signal can trigger the reload
  reloader = new ConfigReloader({ engine, channelsDir, channels: engine.channels.map((r) => r.channel), logger: createLogger({ level: 'silent' }), metrics });
  reloader.listenForSignal();
  const before = await client.roundTrip(withControlId(ORU, 'D0001'));
  assert.equal(readAck(before!).code, 'AA');

  const successes = await reloads('success');
  const failures = await reloads('failure');
  setCategory('reload-v3');
  await new Promise((r) => setTimeout(r, 600)); // longer than any debounce: a watcher would have acted by now
  assert.deepEqual(
    { success: await reloads('success'), failure: await reloads('failure') },
    { success: successes, failure: failures },
    'the mapping edit alone started a reload, with no watcher and no signal',
  );
  process.kill(process.pid, 'SIGHUP');
  await until('the SIGHUP reload', async () => (await reloads('success')) > successes);

  const after = await client.roundTrip(withControlId(ORU, 'D0002'));
  assert.equal(readAck(after!).code, 'AA');
  const categories = await bundlesFor(['D0001', 'D0002']);
  assert.equal(categories.get('D0001'), 'reload-v2');
  assert.equal(categories.get('D0002'), 'reload-v3');
});

test('a new port: the new listener binds first, then the old one answers what it received and closes', async () => {
  const newPort = await freePort();
  const successes = await reloads('success');
  writeFileSync(channelFile, channelYaml(['ORU^R01', 'ADT^*'], newPort));
  const outcome = await reloader.reload('SIGHUP'); // the function the signal handler calls
  assert.equal(outcome.result, 'applied');
  assert.equal(await reloads('success'), successes + 1);

  await until('the old connection to close', () => client.isClosed, 10_000);
  const fresh = await RawMllpClient.open(newPort);
  try {
    const ack = await fresh.roundTrip(withControlId(ORU, 'E0001'));
    assert.equal(readAck(ack!).code, 'AA');
  } finally {
    fresh.close();
  }
  assert.equal(await refusesConnections(port), true, `the old port ${port} still accepts connections`);
  client = await RawMllpClient.open(newPort); // for after()
});

test('same port, other limits (maxFrameBytes): the old listener drains and closes first, then the new one binds the same port', async () => {
  const current = engine.channels[0]!;
  const currentPort = current.listener.address.port;
  writeFileSync(channelFile, channelYaml(['ORU^R01', 'ADT^*'], currentPort).replace('listener:\n', 'listener:\n  maxFrameBytes: 1048576\n'));
  const outcome = await reloader.reload('manual');
  assert.equal(outcome.result, 'applied');
  assert.deepEqual(outcome.result === 'applied' ? outcome.report.changes : null, [{ channel: name, action: 'updated', what: ['listener'] }]);

  assert.notEqual(engine.channels[0]!.listener, current.listener);
  await until('the old connection to close', () => client.isClosed, 10_000);
  client = await RawMllpClient.open(currentPort);
  assert.equal(readAck((await client.roundTrip(withControlId(ORU, 'G0001')))!).code, 'AA');
  assert.equal(engine.channels[0]!.channel.listener.maxFrameBytes, 1048576);
});

test('an allow-list edit applies to new connections without replacing the listener; open connections stay', async () => {
  const current = engine.channels[0]!;
  const at = current.listener.address.port;
  const yaml = readFileSync(channelFile, 'utf8');
  writeFileSync(channelFile, yaml.replace('listener:\n', 'listener:\n  allowedAddresses: ["10.0.0.0/8"]\n'));
  const outcome = await reloader.reload('manual');
  assert.deepEqual(outcome.result === 'applied' ? outcome.report.changes : outcome, [{ channel: name, action: 'updated', what: ['allowedAddresses'] }]);
  assert.equal(engine.channels[0]!.listener, current.listener, 'the listener was replaced');

  const outsider = await RawMllpClient.open(at);
  await until('the connection from 127.0.0.1 to be refused', () => outsider.isClosed, 5_000);
  assert.equal(readAck((await client.roundTrip(withControlId(ORU, 'K0001')))!).code, 'AA', 'the open connection was affected');

  writeFileSync(channelFile, yaml);
  assert.equal((await reloader.reload('manual')).result, 'applied');
  const insider = await RawMllpClient.open(at);
  try {
    assert.equal(readAck((await insider.roundTrip(withControlId(ORU, 'K0002')))!).code, 'AA');
  } finally {
    insider.close();
  }
});

test('a channel file added starts its topics and listener; removed again, its listener closes', async () => {
  const extraName = uniqueChannel('reload-added');
  const extraPort = await freePort();
  const extraFile = join(channelsDir, 'extra.yaml');
  writeFileSync(extraFile, `name: ${extraName}\nlistener:\n  port: ${extraPort}\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\n`);
  const added = await reloader.reload('manual');
  assert.equal(added.result, 'applied');
  assert.deepEqual(engine.channels.map((r) => r.channel.name).sort(), [name, extraName].sort());

  const extra = await RawMllpClient.open(extraPort);
  try {
    assert.equal(readAck((await extra.roundTrip(withControlId(ADT, 'H0001')))!).code, 'AA');
  } finally {
    extra.close();
  }
  const stored = await readTopic(`${extraName}.raw`, { until: (rs) => rs.length >= 1 });
  assert.equal(stored[0]?.headers['hl7_control_id'], 'H0001');

  rmSync(extraFile);
  const removed = await reloader.reload('manual');
  assert.equal(removed.result, 'applied');
  assert.deepEqual(engine.channels.map((r) => r.channel.name), [name]);
  assert.equal(await refusesConnections(extraPort), true, 'the removed channel still listens');
  assert.equal(readAck((await client.roundTrip(withControlId(ORU, 'H0002')))!).code, 'AA', 'the remaining channel stopped answering');
});

test('a converter switched at the raw topic’s end offsets converts records stored before the switch with the old one, even when it reaches them afterwards', async () => {
  const kafka = testKafka();
  const channel = await channelWithTopics('reload-boundary', kafka);
  /** The fake mapping set, with a tag on each Bundle saying which one converted it. */
  const tagged = (tag: string) => (m: Hl7Message): ConversionResult => {
    const r = fakeConverter(m);
    return r.bundle ? { ...r, bundle: { ...r.bundle, identifier: { value: tag } } } : r;
  };
  const publisher = new GroupCommitProducer(kafka);
  await publisher.connect();
  await publisher.learnTopics([channel.topics.fhir, channel.topics.dlq]);
  const { logger } = quietLogger();
  const worker = new TransformWorker({ channel, kafka, publisher, convert: tagged('old'), logger, metrics: new EngineMetrics({ defaultMetrics: false }) });
  try {
    // Stored, not yet converted (the worker has not started): the backlog a reload finds.
    await writeRaw(kafka, channel, ['W01', 'W02', 'W03', 'W04', 'W05', 'W06'].map((id, i) => ({ text: adt(`MRN${i}`, id) })));
    worker.setConverter(tagged('new'), await endOffsets(kafka, channel.topics.raw));
    await writeRaw(kafka, channel, ['W07', 'W08', 'W09', 'W10', 'W11', 'W12'].map((id, i) => ({ text: adt(`MRN${i}`, id) })));
    await worker.start();
    const records = await readTopic(channel.topics.fhir, { until: (rs) => rs.length >= 12, timeoutMs: 40_000 });
    const tags = Object.fromEntries(records.map((r) => [r.headers['hl7_control_id'], (JSON.parse(r.value.toString()) as Bundle).identifier?.value]));
    assert.deepEqual(tags, {
      W01: 'old', W02: 'old', W03: 'old', W04: 'old', W05: 'old', W06: 'old',
      W07: 'new', W08: 'new', W09: 'new', W10: 'new', W11: 'new', W12: 'new',
    });
  } finally {
    await worker.stop();
    await publisher.disconnect();
  }
});

test('hl7-engine start, as an operator runs it: SIGHUP reloads without ending the process, and a channel file edit applies on save', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-engine-reload-cli-'));
  const cliPort = await freePort();
  const cliChannel = uniqueChannel('reload-cli');
  const file = join(dir, 'feed.yaml');
  const yaml = (types: string) => `name: ${cliChannel}\nlistener:\n  port: ${cliPort}\naccept:\n  messageTypes: [${types}]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\n`;
  writeFileSync(file, yaml('"ORU^R01"'));
  const child = spawn(process.execPath, [join(REPO_DIR, 'dist', 'src', 'cli.js'), 'start', '--channels', dir], {
    cwd: REPO_DIR,
    // A free operations port: the default 9464 may belong to another engine on this machine.
    env: { ...process.env, KAFKA_BROKERS: brokers().join(','), LOG_LEVEL: 'info', METRICS_PORT: String(await freePort()) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const reloadLines = (): Array<Record<string, unknown>> =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      // The listeners' process; its transform process reloads the same edit and logs with role "transform".
      .filter((l) => l['role'] !== 'transform' && typeof l['msg'] === 'string' && l['msg'].startsWith('configuration reloaded'));
  let sender: RawMllpClient | null = null;
  try {
    await until('the engine to start', () => stdout.includes('Ctrl-C stops.') || exited !== undefined, 60_000);
    assert.equal(exited, undefined, `start exited: ${stderr}`);
    sender = await RawMllpClient.open(cliPort);
    assert.equal(readAck((await sender.roundTrip(withControlId(ADT, 'F0001')))!).code, 'AR');

    child.kill('SIGHUP');
    await until('the SIGHUP reload', () => reloadLines().length >= 1);
    assert.equal(exited, undefined, 'SIGHUP ended the process');
    assert.equal(reloadLines()[0]?.['trigger'], 'SIGHUP');
    assert.equal(reloadLines()[0]?.['msg'], 'configuration reloaded; nothing changed');

    writeFileSync(file, yaml('"ORU^R01", "ADT^*"'));
    await until('the file-change reload', () => reloadLines().length >= 2);
    assert.equal(reloadLines()[1]?.['trigger'], 'file-change');
    assert.equal(readAck((await sender.roundTrip(withControlId(ADT, 'F0002')))!).code, 'AA');
    assert.equal(sender.isClosed, false);
  } finally {
    sender?.close();
    if (exited === undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
  }
});
