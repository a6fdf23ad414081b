/**
 * `hl7-engine deliver`: runs every destination in a folder until SIGINT/SIGTERM. Configuration
 * is checked whole first (destinations, their outbound sets), every problem at file:line:col,
 * before anything connects.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import type { ConfigError } from '../config/index.js';
import { brokersFromEnv, createKafka, ensureTopics } from '../kafka/index.js';
import { MappingLoadError } from '../mapping/index.js';
import { createLogger, startOpsServer } from '../ops/index.js';
import { loadOutboundSet, type OutboundSet } from '../outbound/index.js';
import { loadDestinations, type Destination } from './destination.js';
import { createDeliveryMetrics, DeliveryWorker, dlqTopicOf } from './worker.js';

export const DELIVER_USAGE = `  hl7-engine deliver [--destinations DIR] [--connections N] [--check]
      Runs every destination in DIR (default ./destinations): consumes its source topic and sends
      each record over MLLP, committing only after AA (or the DLQ write). Kafka: $KAFKA_BROKERS.
      Metrics on the operations port (hl7_outbound_*). --check validates the destination files and
      their outbound mappings and exits. Exits 2 on a configuration error.`;

export interface DeliverIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export interface Prepared {
  readonly destinations: readonly { readonly destination: Destination; readonly outbound: OutboundSet | null }[];
  readonly errors: readonly ConfigError[];
}

/** Loads the destinations and the outbound set each one names (loaded once per folder and site). */
export function prepareDestinations(dir: string): Prepared {
  const { destinations, errors } = loadDestinations(dir);
  const all: ConfigError[] = [...errors];
  const sets = new Map<string, OutboundSet>();
  const out: { destination: Destination; outbound: OutboundSet | null }[] = [];
  for (const d of destinations) {
    if (d.mapping.passThrough) {
      out.push({ destination: d, outbound: null });
      continue;
    }
    const key = `${d.mapping.outbound}\u0000${d.mapping.site ?? ''}`;
    let set = sets.get(key);
    if (set === undefined) {
      try {
        set = loadOutboundSet(d.mapping.outbound, d.mapping.site ? { site: d.mapping.site } : {});
        sets.set(key, set);
      } catch (err) {
        if (!(err instanceof MappingLoadError)) throw err;
        all.push(...err.errors);
        continue;
      }
    }
    out.push({ destination: d, outbound: set });
  }
  return { destinations: out, errors: all };
}

/** Resolves with the exit code; runs until `signal` aborts when it started. */
export async function runDeliver(argv: string[], io: DeliverIo, signal: AbortSignal): Promise<0 | 1 | 2> {
  let values: { destinations?: string; connections?: string; check?: boolean };
  try {
    values = parseArgs({ args: argv, options: { destinations: { type: 'string' }, connections: { type: 'string' }, check: { type: 'boolean' } } }).values;
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\nusage:\n${DELIVER_USAGE}\n`);
    return 2;
  }
  const connections = values.connections === undefined ? 1 : Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1) {
    io.stderr(`--connections takes a whole number of at least 1\nusage:\n${DELIVER_USAGE}\n`);
    return 2;
  }
  const dir = resolve(values.destinations ?? 'destinations');
  const prepared = prepareDestinations(dir);
  if (prepared.errors.length > 0) {
    for (const e of prepared.errors) io.stderr(`${e.message}\n`);
    io.stderr(`${prepared.errors.length} error(s) in ${dir}; nothing started\n`);
    return 2;
  }
  if (prepared.destinations.length === 0) {
    io.stderr(`no destination files (*.yaml) in ${dir}\n`);
    return 2;
  }
  if (values.check) {
    io.stdout(`${prepared.destinations.length} destination(s) in ${dir} are valid\n`);
    return 0;
  }
  const brokers = brokersFromEnv();
  if (!brokers) {
    io.stderr('deliver needs $KAFKA_BROKERS (host:port,...)\n');
    return 2;
  }
  const logger = createLogger();
  const kafka = createKafka(brokers, logger, 'hl7-engine-deliver');
  const registry = new Registry();
  const metrics = createDeliveryMetrics(registry);
  await ensureTopics(kafka, prepared.destinations.map((p) => ({ topic: dlqTopicOf(p.destination), partitions: 3 })));
  const workers = prepared.destinations.map((p) => new DeliveryWorker({ destination: p.destination, kafka, outbound: p.outbound, connections, metrics }));
  let running = false;
  const ops = await startOpsServer({ registry, logger, readiness: () => Promise.resolve({ ready: running, checks: { destinations: running } }) });
  try {
    for (const w of workers) await w.start();
    running = true;
    logger.info({ destinations: prepared.destinations.map((p) => ({ name: p.destination.name, topic: p.destination.source.topic, target: `${p.destination.target.host}:${p.destination.target.port}` })) }, 'delivery started');
    io.stdout(`delivering ${workers.length} destination(s); metrics at ${ops.url}/metrics\n`);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    return 0;
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'delivery stopped');
    return 1;
  } finally {
    running = false;
    for (const w of workers) await w.stop().catch(() => undefined);
    await ops.close();
  }
}
