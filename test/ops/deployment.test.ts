/**
 * The deployment files, checked offline: no Docker engine runs here and nothing is built.
 * docker/compose.yaml is validated by Debian's docker-compose (v1, installed by
 * scripts/prometheus.mjs's apt helper when missing); the Dockerfile and the container's channel
 * files are checked against what the compose stack and the engine expect of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadChannels } from '../../src/channel/index.js';
import { prepareDestinations } from '../../src/delivery/index.js';
import { DEFAULT_METRICS_PORT } from '../../src/ops/index.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const COMPOSE = join(ROOT, 'docker/compose.yaml');
const DOCKERFILE = join(ROOT, 'docker/Dockerfile');

interface AptScript {
  ensureDebianPackage(pkg: string, binary: string): string;
}
const script = (await import(new URL('scripts/prometheus.mjs', `file://${ROOT}`).href)) as AptScript;
const dockerCompose = script.ensureDebianPackage('docker-compose', 'docker-compose');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: Array<string | { published: number; target: number; host_ip?: string }>;
  volumes?: Array<string | { type: string; source: string; target: string; read_only?: boolean }>;
  depends_on?: Record<string, { condition: string }> | string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

function composeConfig(env: Record<string, string>): { status: number | null; out: string; err: string } {
  const r = spawnSync(dockerCompose, ['-f', COMPOSE, 'config'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const normalized = composeConfig({ GRAFANA_ADMIN_PASSWORD: 'test-only' });

test('docker-compose config validates the compose file (engine, deliver, kafka, prometheus, grafana)', () => {
  assert.equal(normalized.status, 0, normalized.err);
  const compose = parse(normalized.out) as ComposeFile;
  assert.deepEqual(Object.keys(compose.services).sort(), ['deliver', 'engine', 'grafana', 'kafka', 'prometheus']);
});

test('the deliver service runs the stack\'s destinations (they load with their outbound mappings) on its Kafka, scraped by Prometheus', () => {
  const compose = parse(normalized.out) as ComposeFile & { services: Record<string, ComposeService & { command?: string[] }> };
  const deliver = compose.services['deliver']!;
  assert.deepEqual(deliver.command, ['node', 'dist/src/cli.js', 'deliver', '--destinations', '/app/destinations']);
  assert.equal(deliver.environment?.['KAFKA_BROKERS'], 'kafka:9092');
  assert.equal(deliver.environment?.['METRICS_HOST'], '0.0.0.0');
  const mounts = (deliver.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
  assert.ok(mounts.some((m) => m.startsWith(join(ROOT, 'docker/destinations')) && m.includes(':/app/destinations')), mounts.join(', '));
  // The container's layout: /app/destinations beside /app/mappings (outbound sets resolve from there).
  const app = mkdtempSync(join(tmpdir(), 'deliver-app-'));
  let prepared: ReturnType<typeof prepareDestinations>;
  try {
    cpSync(join(ROOT, 'docker/destinations'), join(app, 'destinations'), { recursive: true });
    symlinkSync(join(ROOT, 'mappings'), join(app, 'mappings'));
    prepared = prepareDestinations(join(app, 'destinations'));
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
  assert.deepEqual(prepared.errors.map((e) => e.message), []);
  assert.deepEqual(prepared.destinations.map((d) => d.destination.source.topic), ['lab.fhir'], 'the example reads what the lab channel converts');
  const prometheusYml = parse(readFileSync(join(ROOT, 'prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
  const job = prometheusYml.scrape_configs.find((j) => j.job_name === 'hl7-engine-deliver');
  assert.deepEqual(job?.static_configs.flatMap((s) => s.targets), [`deliver:${deliver.environment?.['METRICS_PORT']}`]);
});

test('compose refuses to start Grafana without an admin password rather than defaulting to one', () => {
  const r = composeConfig({});
  assert.notEqual(r.status, 0);
  assert.match(r.err, /GRAFANA_ADMIN_PASSWORD/);
});

test('every file and folder the stack mounts or builds from exists in the repository', () => {
  const compose = parse(normalized.out) as ComposeFile;
  const sources: string[] = [];
  for (const [name, svc] of Object.entries(compose.services)) {
    if (svc.build) {
      sources.push(svc.build.context, resolve(svc.build.context, svc.build.dockerfile));
    }
    for (const v of svc.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
      // Named volumes (kafka-data...) are Docker's, not files.
      if (isAbsolute(source)) sources.push(source);
      else assert.match(source, /^[a-z-]+-data$/, `${name}: ${source} is a named data volume`);
    }
  }
  assert.ok(sources.length >= 8, `mounts found: ${sources.length}`);
  assert.deepEqual(sources.filter((s) => !existsSync(s)), [], 'missing mount or build sources');
});

test('the engine talks to the stack\'s Kafka, serves metrics where Prometheus scrapes, and waits for a healthy Kafka', () => {
  const compose = parse(normalized.out) as ComposeFile;
  const engine = compose.services['engine']!;
  assert.equal(engine.environment?.['KAFKA_BROKERS'], 'kafka:9092');
  assert.equal(engine.environment?.['METRICS_HOST'], '0.0.0.0', 'reachable from the prometheus container');
  const port = Number(engine.environment?.['METRICS_PORT']);
  assert.equal(port, DEFAULT_METRICS_PORT);
  const prometheusYml = parse(readFileSync(join(ROOT, 'prometheus/prometheus.yml'), 'utf8')) as {
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const job = prometheusYml.scrape_configs.find((j) => j.job_name === 'hl7-engine');
  assert.deepEqual(job?.static_configs.flatMap((s) => s.targets), [`engine:${port}`]);
  assert.deepEqual(engine.depends_on, { kafka: { condition: 'service_healthy' } });
  const kafka = compose.services['kafka']!;
  assert.equal(kafka.environment?.['KAFKA_PROCESS_ROLES'], 'broker,controller', 'KRaft, no ZooKeeper');
  assert.equal(kafka.environment?.['KAFKA_ADVERTISED_LISTENERS'], 'PLAINTEXT://kafka:9092');
  assert.match(kafka.image ?? '', /^apache\/kafka:4\.\d+\.\d+$/, 'the 4.x line the development broker and the suite run');
});

test('the container channel files load cleanly, bind 0.0.0.0, and their ports are the ones compose publishes and the image exposes', () => {
  const { channels, errors } = loadChannels(join(ROOT, 'docker/channels'));
  assert.deepEqual(errors.map((e) => e.message), []);
  assert.ok(channels.length > 0);
  const compose = parse(normalized.out) as ComposeFile;
  const published = (compose.services['engine']!.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split(':').at(-2)) : p.target));
  const exposed = /^EXPOSE (.+)$/m.exec(readFileSync(DOCKERFILE, 'utf8'))?.[1]?.split(/\s+/).map(Number) ?? [];
  for (const c of channels) {
    assert.equal(c.listener.host, '0.0.0.0', `${c.name}: a container listener on loopback is unreachable`);
    assert.ok(published.includes(c.listener.port), `${c.name}: port ${c.listener.port} published by compose`);
    assert.ok(exposed.includes(c.listener.port), `${c.name}: port ${c.listener.port} exposed by the image`);
  }
  assert.ok(exposed.includes(DEFAULT_METRICS_PORT), 'the metrics port is exposed');
});

test('the Dockerfile builds on node:24-slim (a maintained Node LTS) with npm ci, runs as a non-root user and starts the engine', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.ok(froms.length >= 1 && froms.every((f) => f === 'node:24-slim'), `base images: ${froms.join(', ')}`);
  assert.match(text, /^RUN npm ci /m);
  assert.match(text, /^RUN npx tsc -p tsconfig\.json$/m);
  const user = /^USER (\S+)$/m.exec(text)?.[1];
  assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${user ?? '(none)'}`);
  assert.match(text, /^CMD \["node", "dist\/src\/cli\.js", "start", "--channels", "\/app\/channels"\]$/m);
});

test('Grafana provisioning points at the compose Prometheus and at the folder where compose mounts the dashboards', () => {
  const compose = parse(normalized.out) as ComposeFile;
  const mounts = (compose.services['grafana']!.volumes ?? []).map((v) =>
    typeof v === 'string' ? { source: v.split(':')[0]!, target: v.split(':')[1]! } : { source: v.source, target: v.target },
  );
  const datasources = parse(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as {
    datasources: Array<{ type: string; url: string; uid: string }>;
  };
  assert.deepEqual(datasources.datasources.map((d) => [d.type, d.url]), [['prometheus', 'http://prometheus:9090']]);
  const providers = parse(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')) as {
    providers: Array<{ type: string; options: { path: string } }>;
  };
  const dashboardsMount = mounts.find((m) => m.source === join(ROOT, 'grafana/dashboards'));
  assert.ok(dashboardsMount, 'grafana/dashboards is mounted');
  assert.deepEqual(providers.providers.map((p) => p.options.path), [dashboardsMount.target]);
  assert.ok(mounts.some((m) => m.source === join(ROOT, 'grafana/provisioning') && m.target === '/etc/grafana/provisioning'));
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'grafana/dashboards/hl7-engine-overview.json'), 'utf8')) as {
    uid: string;
    templating: { list: Array<{ name: string; type: string; query: unknown }> };
    panels: Array<{ type: string; datasource?: { type: string; uid: string } }>;
  };
  assert.equal(dashboard.uid, 'hl7-engine-overview');
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'));
  for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, 'panels follow the $datasource variable');
  }
});
