/**
 * The operations HTTP server as a load balancer, an orchestrator and Prometheus see it:
 * /healthz while the process runs, /readyz only when the engine can take traffic, /metrics in
 * the Prometheus text format. The last tests use the real engine and the real Kafka.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { freePort } from '../support/net.js';
import { Engine } from '../../src/engine/index.js';
import { createLogger, EngineMetrics, opsAddressFromEnv, startOpsServer, type OpsLimits, type OpsServer, type Readiness } from '../../src/ops/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';

async function withServer(
  opts: { registry?: Registry; readiness?: () => Promise<Readiness>; limits?: Partial<OpsLimits> },
  run: (s: OpsServer) => Promise<void>,
): Promise<void> {
  const s = await startOpsServer({
    registry: opts.registry ?? new Registry(),
    readiness: opts.readiness ?? (async () => ({ ready: true, checks: {} })),
    host: '127.0.0.1',
    port: 0,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  try {
    await run(s);
  } finally {
    await s.close();
  }
}

test('/healthz answers 200 while the process runs, even when the engine is not ready', async () => {
  await withServer({ readiness: async () => ({ ready: false, checks: { kafka: false } }) }, async (s) => {
    const res = await fetch(`${s.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });
});

test('/readyz follows the readiness callback: 503 with the failing check named, then 200 once it passes', async () => {
  let state: Readiness = { ready: false, checks: { 'listener:adt': true, kafka: false } };
  await withServer({ readiness: async () => state }, async (s) => {
    const down = await fetch(`${s.url}/readyz`);
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { ready: false, checks: { 'listener:adt': true, kafka: false } });

    state = { ready: true, checks: { 'listener:adt': true, kafka: true } };
    const up = await fetch(`${s.url}/readyz`);
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), { ready: true, checks: { 'listener:adt': true, kafka: true } });
  });
});

test('/readyz answers 503 when the readiness callback itself fails', async () => {
  await withServer({ readiness: async () => Promise.reject(new Error('probe crashed')) }, async (s) => {
    const res = await fetch(`${s.url}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { ready: false, checks: { readiness: false } });
  });
});

test('/metrics serves the registry in the Prometheus text format', async () => {
  const registry = new Registry();
  const received = new Counter({ name: 'hl7_messages_received_total', help: 'h', labelNames: ['channel', 'type'], registers: [registry] });
  received.inc({ channel: 'adt', type: 'ADT^A01' }, 3);
  await withServer({ registry }, async (s) => {
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.match(body, /^# TYPE hl7_messages_received_total counter$/m);
    assert.match(body, /^hl7_messages_received_total\{channel="adt",type="ADT\^A01"\} 3$/m);
  });
});

test('a scrape of /metrics runs the readiness check first, so gauges it sets are current', async () => {
  let calls = 0;
  const readiness = async (): Promise<Readiness> => {
    calls++;
    return { ready: true, checks: {} };
  };
  await withServer({ readiness, limits: { metricsCacheMs: 0 } }, async (s) => {
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    assert.equal(calls, 2);
  });
});

test('200 concurrent scrapes of /metrics share one rendering, and it is reused within the cache period', async () => {
  const registry = new Registry();
  let renders = 0;
  new Counter({ name: 'renders_total', help: 'h', registers: [registry], collect: () => void renders++ });
  await withServer({ registry, limits: { metricsCacheMs: 60_000, maxConnections: 1000 } }, async (s) => {
    const bodies = await Promise.all(Array.from({ length: 200 }, () => fetch(`${s.url}/metrics`).then((r) => r.text())));
    assert.equal(bodies.length, 200);
    assert.ok(bodies.every((b) => b.includes('# TYPE renders_total counter')), 'every scrape got the exposition');
    assert.equal(renders, 1, 'the registry was collected once for all of them');
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    assert.equal(renders, 1, 'a later scrape within the period is served the same rendering');
  });
});

test('the ops server closes a connection that sends no request, and refuses connections beyond its cap', async () => {
  await withServer({ limits: { headersTimeoutMs: 300, maxConnections: 2 } }, async (s) => {
    const open = (): Promise<{ socket: Socket; closed: Promise<number> }> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: s.address.port });
        const started = Date.now();
        const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - started)));
        socket.on('error', () => undefined);
        socket.once('connect', () => resolve({ socket, closed }));
        socket.once('error', reject);
      });
    const idle = await open();
    const second = await open();
    const third = await open();
    // The third is over the cap of 2: dropped at once, long before the idle ones' 300 ms.
    const bound = (p: Promise<number>, what: string) =>
      Promise.race([p, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`${what} not closed within 10 s`)), 10_000))]);
    await bound(third.closed, 'the connection over the cap');
    assert.equal(idle.socket.destroyed, false, 'the first connections are still open when the third is refused');
    await bound(idle.closed, 'the idle connection');
    await bound(second.closed, 'the second idle connection');
  });
});

test('unknown paths are 404 and methods other than GET/HEAD are 405', async () => {
  await withServer({}, async (s) => {
    assert.equal((await fetch(`${s.url}/admin`)).status, 404);
    const post = await fetch(`${s.url}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`${s.url}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });
});

test('METRICS_HOST and METRICS_PORT choose the address; defaults are 127.0.0.1:9464; a bad port is refused', () => {
  assert.deepEqual(opsAddressFromEnv({}), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(opsAddressFromEnv({ METRICS_HOST: '0.0.0.0', METRICS_PORT: '9100' }), { host: '0.0.0.0', port: 9100 });
  assert.throws(() => opsAddressFromEnv({ METRICS_PORT: '94x4' }), /METRICS_PORT must be a TCP port number 0-65535 .*"94x4"/);
  assert.throws(() => opsAddressFromEnv({ METRICS_PORT: '70000' }), /METRICS_PORT/);
});

test('a port already in use fails with the address and what to change', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startOpsServer({ registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }), host: '127.0.0.1', port }),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set METRICS_PORT/METRICS_HOST`),
    );
  } finally {
    blocker.close();
  }
});

test('the real engine is ready once its listener is bound and Kafka answers, and not after it stops', async () => {
  const te = await startEngine(`name: ${uniqueChannel('ops-ready')}\nlistener:\n  port: ${await freePort()}\n`);
  const name = te.channel.name;
  let stopped = false;
  try {
    await withServer({ registry: te.metrics.registry, readiness: () => te.engine.readiness() }, async (s) => {
      const ready = await fetch(`${s.url}/readyz`);
      assert.deepEqual(await ready.json(), { ready: true, checks: { [`listener:${name}`]: true, kafka: true } });
      assert.equal(ready.status, 200);
      assert.match(await (await fetch(`${s.url}/metrics`)).text(), /^hl7_kafka_up 1$/m);

      await te.stop();
      stopped = true;
      const gone = await fetch(`${s.url}/readyz`);
      assert.equal(gone.status, 503);
      const body = (await gone.json()) as Readiness;
      assert.equal(body.checks[`listener:${name}`], false, 'a stopped listener is reported');
    });
  } finally {
    if (!stopped) await te.stop();
  }
});

test('an engine whose Kafka does not answer is not ready, says so within its probe timeout and sets hl7_kafka_up 0', async () => {
  // A "broker" that accepts the TCP connection and never says a word: without the probe's own
  // timeout (2 s), kafkajs would wait out its 15 s request timeout and then retry.
  const silent = createServer(() => undefined);
  const sockets = new Set<Socket>();
  silent.on('connection', (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  assert.ok(address !== null && typeof address === 'object');
  const deadBroker = `127.0.0.1:${address.port}`;
  const metrics = new EngineMetrics({ defaultMetrics: false });
  metrics.kafkaUp.set(1);
  const engine = new Engine({ channels: [], brokers: [deadBroker], logger: createLogger({ level: 'silent' }), metrics });
  try {
    await withServer({ registry: metrics.registry, readiness: () => engine.readiness() }, async (s) => {
      const started = Date.now();
      const res = await fetch(`${s.url}/readyz`);
      const elapsed = Date.now() - started;
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { ready: false, checks: { kafka: false } });
      // Well under kafkajs's own 15 s, with room for a busy machine: the probe's timeout cut it.
      assert.ok(elapsed < 10_000, `answered after ${elapsed} ms: the probe waited for kafkajs instead of its own 2 s timeout`);
      assert.match(await (await fetch(`${s.url}/metrics`)).text(), /^hl7_kafka_up 0$/m);
    });
  } finally {
    await engine.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
