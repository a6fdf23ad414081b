/**
 * `hl7-engine deliver`: runs every destination in a folder until SIGINT/SIGTERM. Configuration
 * is checked whole first (destinations, their outbound sets), every problem at file:line:col,
 * before anything connects.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { brokersFromEnv, createKafka } from '../kafka/index.js';
import { createLogger, startOpsServer } from '../ops/index.js';
import { createReloadCounter, DeliveryFleet, DestinationReloader } from './fleet.js';
import { prepareDestinations } from './prepare.js';
import { createDeliveryMetrics } from './worker.js';

export const DELIVER_USAGE = `  hl7-engine deliver [--destinations DIR] [--connections N] [--check]
      Runs every destination in DIR (default ./destinations): consumes its source topic and sends
      each record over MLLP, committing only after AA (or the DLQ write). Kafka: $KAFKA_BROKERS.
      Metrics on the operations port (hl7_outbound_*). --check validates the destination files and
      their outbound mappings and exits. Exits 2 on a configuration error. Hot reload: an edit
      to DIR or to an outbound mapping set in use (or SIGHUP) is validated first; an invalid one
      is logged with file:line:col and counted (hl7_outbound_config_reloads_total{result=
      "failure"}) while the last good configuration runs on; unchanged destinations keep their
      connections, a changed one restarts from its committed offset, a removed one stops.`;

export interface DeliverIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
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
  const fleet = new DeliveryFleet({ kafka, metrics, connections });
  const reloader = new DestinationReloader({ dir, fleet, logger, reloads: createReloadCounter(registry) });
  let running = false;
  const ops = await startOpsServer({ registry, logger, readiness: () => Promise.resolve({ ready: running && fleet.healthy(), checks: { destinations: running && fleet.healthy() } }) });
  try {
    const first = await fleet.apply(prepared.destinations);
    if (first.failures.length > 0) throw new Error(first.failures.map((f) => `${f.destination}: ${f.reason}`).join('; '));
    running = true;
    reloader.watch(prepared.destinations);
    reloader.listenForSignal();
    logger.info({ destinations: prepared.destinations.map((p) => ({ name: p.destination.name, topic: p.destination.source.topic, target: `${p.destination.target.host}:${p.destination.target.port}` })) }, 'delivery started');
    io.stdout(`delivering ${fleet.names().length} destination(s); metrics at ${ops.url}/metrics\n`);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    return 0;
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'delivery stopped');
    return 1;
  } finally {
    running = false;
    await reloader.close().catch(() => undefined);
    await fleet.stop();
    await ops.close();
  }
}
