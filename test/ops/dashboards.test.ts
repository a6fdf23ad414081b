/**
 * The Grafana dashboard and the alert rules against a real Prometheus (Debian's package, started
 * by scripts/prometheus.mjs) scraping a real engine after real MLLP traffic: good messages, one
 * with LF segment terminators (a charset repair), a refused message type and a frame that is not
 * HL7 (both AR and a dead letter). The channel converts with the default mapping set, and one
 * patient per round has a sex code table 0001 does not know. Grafana itself does not run here,
 * so each panel's query is handed to Prometheus with Grafana's variables substituted, the way
 * Grafana would send it. A write-back destination delivers three records through the same
 * registry to a receiver of ours that answers AA, then AE and AA (a resend), then AR (a dead
 * letter), so the destination panels have their data too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeliveryMetrics, DeliveryWorker, dlqTopicOf, loadDestination } from '../../src/delivery/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { testKafka } from '../support/kafka.js';
import { startRecordingReceiver, type RecordingReceiver } from '../support/mllp-receiver.js';
import { expectedBundle, loadDefaultOutbound } from '../outbound/cases.js';
import { freePort } from '../support/net.js';
import { startOpsServer, type OpsServer } from '../../src/ops/index.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

const ROOT = new URL('../../../', import.meta.url);
const DASHBOARD = new URL('grafana/dashboards/hl7-engine-overview.json', ROOT);
const RULES = new URL('prometheus/rules/hl7-engine.rules.yml', ROOT);
const MAPPING = fileURLToPath(new URL('mappings/default', ROOT));

/**
 * Metrics the dashboard shows that this engine does not produce yet. Empty: every panel must
 * show data for the traffic below. A metric the dashboard gains before the engine emits it goes
 * here until it does; the test below fails until this list matches what /metrics really lacks.
 */
const NOT_PRODUCED_YET: string[] = [];

interface PrometheusHandle {
  readonly url: string;
  stop(): Promise<void>;
}
interface PrometheusScript {
  startPrometheus(opts: { targets: string[]; ruleFiles: string[]; scrapeIntervalSeconds: number; evaluationIntervalSeconds: number }): Promise<PrometheusHandle>;
}
interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}
interface QueryAnswer {
  readonly status: 'success' | 'error';
  readonly error?: string;
  readonly data?: { readonly resultType: string; readonly result: Sample[] };
}
interface Target {
  readonly expr: string;
  readonly refId: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: Target[];
}

let prometheus: PrometheusHandle | null = null;
let te: TestEngine | null = null;
let ops: OpsServer | null = null;
let client: RawMllpClient | null = null;
let worker: DeliveryWorker | null = null;
let receiver: RecordingReceiver | null = null;
let destinationDir: string | null = null;
let destinationName = '';

/** Answers the n-th frame it receives with ANSWERS[n]: AA; AE then AA for the resend; AR. */
const ANSWERS = ['AA', 'AE', 'AA', 'AR'];

async function startReceiver(): Promise<number> {
  let n = 0;
  receiver = await startRecordingReceiver({ answer: () => ({ code: ANSWERS[Math.min(n++, ANSWERS.length - 1)]! }) });
  return receiver.port;
}

/** Three ORU Bundles on a one-partition topic, delivered by a DeliveryWorker whose metrics go to `registry`. */
async function startDestination(registry: TestEngine['metrics']['registry']): Promise<void> {
  const kafka = testKafka();
  destinationName = `ops-dest-${randomUUID().slice(0, 8)}`;
  const topic = `${destinationName}.fhir`;
  destinationDir = mkdtempSync(join(tmpdir(), 'ops-destination-'));
  const port = await startReceiver();
  const file = join(destinationDir, 'd.yaml');
  writeFileSync(file, `name: ${destinationName}\nsource: { topic: ${topic} }\nmapping: { site: general-hospital }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 5000 }\nretry: { maxAttempts: 3, backoffMs: 20, maxBackoffMs: 20 }\n`);
  const { destination, errors } = loadDestination(file);
  assert.deepEqual(errors, []);
  assert.ok(destination);
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  worker = new DeliveryWorker({ destination, kafka, outbound: loadDefaultOutbound(), metrics: createDeliveryMetrics(registry), lagIntervalMs: 500 });
  await worker.start();
  // The records go out only once Prometheus has the destination's series at 0, so rate() and
  // increase() see the sends, the resend and the dead letter as increases.
  await waitFor('Prometheus to have scraped the destination\'s zeroed series', async () => {
    const r = await query(`hl7_outbound_ack_latency_seconds_count{destination="${destinationName}"}`);
    return r.data?.result[0]?.value[1] === '0';
  });
  const producer = kafka.producer();
  await producer.connect();
  const bundle = JSON.stringify(expectedBundle('oru/oru-r01.json'));
  await producer.send({ topic, acks: -1, messages: [0, 1, 2].map(() => ({ key: 'p1', value: bundle })) });
  await producer.disconnect();
}

function hl7(...segments: string[]): Buffer {
  return Buffer.from(segments.map((s) => `${s}\r`).join(''), 'latin1');
}

function adtA01(controlId: string, terminator = '\r', sex = 'F'): Buffer {
  return Buffer.from(
    [
      `MSH|^~\\&|REGADT|MCM|HL7ENGINE|HOSP|20240102101500||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
      'EVN|A01|20240102101500',
      `PID|1||123456^^^MCM^MR||TESTPATIENT^ALPHA||19700101|${sex}`,
      'PV1|1|I|W1^101^1',
    ].join(terminator) + terminator,
    'latin1',
  );
}

async function query(expr: string): Promise<QueryAnswer> {
  const res = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryAnswer;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Grafana's variables, as Grafana would expand them for the test channel. */
function expand(expr: string, channel: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$channel', channel).replaceAll('$destination', destinationName);
}

function panelsWithQueries(): Array<{ panel: string; target: Target }> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: `${p.title} (${target.refId})`, target })));
}

/** Metric families with at least one sample line in the engine's /metrics. */
function familiesWithSamples(exposition: string): Set<string> {
  const types = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  const families = new Set<string>();
  for (const m of exposition.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) {
    const name = m[1]!;
    const base = name.replace(/_(bucket|count|sum)$/, '');
    families.add(types.get(base) === 'histogram' ? base : name);
  }
  return families;
}

before(async () => {
  const script = (await import(new URL('scripts/prometheus.mjs', ROOT).href)) as PrometheusScript;
  te = await startEngine(`name: ${uniqueChannel('ops-dash')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: ["ADT^A01"]\nmapping: ${MAPPING}\n`);
  ops = await startOpsServer({ registry: te.metrics.registry, readiness: () => te!.engine.readiness(), host: '127.0.0.1', port: 0 });
  prometheus = await script.startPrometheus({
    targets: [`127.0.0.1:${ops.address.port}`],
    ruleFiles: [RULES.pathname],
    scrapeIntervalSeconds: 1,
    evaluationIntervalSeconds: 1,
  });
  await startDestination(te.metrics.registry);

  // Two rounds a few scrapes apart, so every rate() sees the counters move.
  client = await RawMllpClient.open(te.port);
  const codes: string[] = [];
  for (let round = 0; round < 2; round++) {
    for (const payload of [
      adtA01(`OPS-${round}-1`),
      adtA01(`OPS-${round}-2`, '\r', 'Z'), // Z: not in table hl7-0001, an unknown code
      adtA01(`OPS-${round}-3`, '\n'),
      hl7(`MSH|^~\\&|LAB|MCM|HL7ENGINE|HOSP|20240102101500||ORU^R01^ORU_R01|OPS-${round}-4|P|2.5.1`, 'PID|1||123456^^^MCM^MR'),
      Buffer.from('this is not an HL7 message', 'latin1'),
    ]) {
      const answer = await client.roundTrip(payload);
      assert.ok(answer, 'every frame is answered');
      codes.push(readAck(answer).code);
    }
    await new Promise((r) => setTimeout(r, 2500));
  }
  assert.deepEqual(codes, ['AA', 'AA', 'AA', 'AR', 'AR', 'AA', 'AA', 'AA', 'AR', 'AR'], 'the traffic is what the panels should show');
  // The sender stays connected while the panels are checked, as a live feed would.
  const channel = te.channel.name;
  await waitFor('Prometheus to have scraped all 10 ACKs', async () => {
    const r = await query(`sum(hl7_acks_total{channel="${channel}"})`);
    return r.data?.result[0]?.value[1] === '10';
  });
  await waitFor('Prometheus to have scraped the 2 unknown sex codes the transform met', async () => {
    const r = await query(`sum(hl7_unknown_codes_total{channel="${channel}",table="hl7-0001"})`);
    return r.data?.result[0]?.value[1] === '2';
  });
  await waitFor('Prometheus to have scraped the destination\'s 4 sends (AA, AE, AA, AR) and its drained queue', async () => {
    const sent = await query(`sum(hl7_outbound_attempts_total{destination="${destinationName}"})`);
    const lag = await query(`sum(hl7_outbound_lag_records{destination="${destinationName}"})`);
    return sent.data?.result[0]?.value[1] === '4' && lag.data?.result[0]?.value[1] === '0';
  }, 60_000);
});

after(async () => {
  await worker?.stop();
  await receiver?.close();
  if (destinationDir) rmSync(destinationDir, { recursive: true, force: true });
  client?.close();
  await prometheus?.stop();
  await ops?.close();
  await te?.stop();
});

test('Prometheus scrapes the engine\'s /metrics as job hl7-engine', async () => {
  const r = await query('up{job="hl7-engine"}');
  assert.equal(r.status, 'success');
  assert.deepEqual(r.data?.result.map((s) => s.value[1]), ['1']);
});

test('every dashboard panel query parses and returns data, unless its metric is not produced by the engine yet', async () => {
  const channel = te!.channel.name;
  const exposition = await (await fetch(`${ops!.url}/metrics`)).text();
  const produced = familiesWithSamples(exposition);
  const queries = panelsWithQueries();
  assert.ok(queries.length >= 14, `the overview has its panels (${queries.length} queries)`);

  const problems: string[] = [];
  const pending = new Set<string>();
  for (const { panel, target } of queries) {
    const expr = expand(target.expr, channel);
    assert.doesNotMatch(expr, /\$/, `${panel}: every Grafana variable is known to this test`);
    const r = await query(expr);
    if (r.status !== 'success') {
      problems.push(`${panel}: Prometheus refused the query: ${r.error ?? 'unknown error'}`);
      continue;
    }
    const finite = (r.data?.result ?? []).filter((s) => Number.isFinite(Number(s.value[1])));
    if (finite.length > 0) continue;
    const missing = [...expr.matchAll(/\bhl7_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')).filter((n) => !produced.has(n));
    if (missing.length === 0) problems.push(`${panel}: no data although the engine produces every metric it uses: ${expr}`);
    for (const n of missing) pending.add(n);
  }
  assert.deepEqual(problems, []);
  assert.deepEqual(
    [...pending].sort(),
    NOT_PRODUCED_YET,
    'panels without data must be exactly those whose metrics the engine does not emit yet; ' +
      'when the engine starts emitting one, remove it from NOT_PRODUCED_YET (and make the traffic above produce it)',
  );
});

test('the dashboard\'s $channel variable (label_values of hl7_messages_received_total) lists the test channel', async () => {
  const res = await fetch(`${prometheus!.url}/api/v1/label/channel/values?match[]=hl7_messages_received_total`);
  const body = (await res.json()) as { status: string; data: string[] };
  assert.equal(body.status, 'success');
  assert.ok(body.data.includes(te!.channel.name), `channel values: ${body.data.join(', ')}`);
});

test('the dashboard\'s $destination variable (label_values of hl7_outbound_records_total) lists the test destination', async () => {
  const res = await fetch(`${prometheus!.url}/api/v1/label/destination/values?match[]=hl7_outbound_records_total`);
  const body = (await res.json()) as { status: string; data: string[] };
  assert.equal(body.status, 'success');
  assert.ok(body.data.includes(destinationName), `destination values: ${body.data.join(', ')}`);
});

test('the alert rules load into Prometheus, evaluate without error, and see the 40% AR rate, the DLQ growth and the destination\'s dead letter as pending', async () => {
  interface Rule { name: string; health: string; lastError?: string; state?: string; alerts?: Array<{ labels: Record<string, string>; state: string }> }
  let rules: Rule[] = [];
  await waitFor('the AR-rate and DLQ alerts to turn pending', async () => {
    const body = (await (await fetch(`${prometheus!.url}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Rule[] }> } };
    rules = body.data.groups.flatMap((g) => g.rules);
    const pendingNames = rules.filter((r) => r.state === 'pending').map((r) => r.name);
    return pendingNames.includes('HL7HighNegativeAckRate') && pendingNames.includes('HL7DeadLetterGrowing') && pendingNames.includes('HL7DestinationDeadLettersGrowing');
  });
  assert.deepEqual(
    rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`),
    [],
  );
  const byName = new Map(rules.map((r) => [r.name, r]));
  const channel = te!.channel.name;
  assert.deepEqual(byName.get('HL7HighNegativeAckRate')?.alerts?.map((a) => a.labels['channel']), [channel]);
  assert.ok(byName.get('HL7DeadLetterGrowing')?.alerts?.every((a) => a.labels['channel'] === channel));
  // The destination's AR went to its DLQ: pending, labelled by destination and category only.
  assert.deepEqual(byName.get('HL7DestinationDeadLettersGrowing')?.alerts?.map((a) => [a.labels['destination'], a.labels['category']]), [[destinationName, 'rejected']]);
  // Connected and busy, Kafka up, scraped: these stay quiet.
  // The destination is reachable, drained and delivering between its resend and its AR.
  for (const quiet of ['HL7FeedSilent', 'HL7KafkaUnavailable', 'HL7KafkaPublishErrors', 'HL7EngineDown', 'HL7ConsumerLagHigh', 'HL7ConfigReloadFailed', 'HL7DestinationDown', 'HL7DestinationQueueGrowing', 'HL7DestinationRetryingWithoutProgress']) {
    assert.equal(byName.get(quiet)?.state, 'inactive', `${quiet} is inactive`);
  }
});
