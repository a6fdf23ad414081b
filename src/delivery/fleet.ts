/**
 * The destinations a `deliver` process runs, and hot reload of their files. An edit to
 * destinations/*.yaml (or to an outbound mapping set in use), or a SIGHUP, loads and validates
 * every destination again before anything changes: an invalid edit is rejected with each
 * problem's file:line:col in the log and in hl7_outbound_config_reloads_total{result="failure"},
 * and the last good configuration keeps running. A valid one is applied per destination:
 * unchanged ones keep running untouched (same connections); a changed one's worker is stopped
 * and a new one started in the same consumer group, so it goes on from the committed offset
 * (a record in flight was never committed and is sent again, with the same MSH-10 when the
 * mapping is unchanged; one partition is still handled by one consumer, so no key is
 * reordered); a removed one is stopped.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Counter, type Registry } from 'prom-client';
import { ConfigError } from '../config/index.js';
import { ensureTopics } from '../kafka/index.js';
import type { Logger } from '../ops/index.js';
import type { OutboundSet } from '../outbound/index.js';
import { prepareDestinations, type Prepared } from './prepare.js';
import type { Destination } from './destination.js';
import { DeliveryWorker, dlqTopicOf, type Connection, type DeliveryMetrics } from './worker.js';

export type FleetAction = 'started' | 'restarted' | 'stopped' | 'unchanged';

export interface FleetChange {
  readonly destination: string;
  readonly action: FleetAction;
}

export interface FleetOptions {
  readonly kafka: Kafka;
  readonly connections?: number;
  readonly metrics?: DeliveryMetrics;
  readonly lagIntervalMs?: number;
  /** Consumer group per destination; default hl7-engine-deliver-<name>. */
  readonly groupId?: (name: string) => string;
  /** Tests: a connection factory instead of MLLP to the destination's target. */
  readonly connect?: (d: Destination) => Connection;
}

interface Running {
  readonly worker: DeliveryWorker;
  readonly fingerprint: string;
  readonly destination: Destination;
}

/**
 * What makes a destination "changed": its file's meaning (not its comments or layout) and the
 * content of the outbound mapping set it uses.
 */
export function destinationFingerprint(d: Destination): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ ...d, file: undefined }));
  if (!d.mapping.passThrough && existsSync(d.mapping.outbound)) {
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else h.update(`\0${p}\0`).update(readFileSync(p));
      }
    };
    walk(d.mapping.outbound);
  }
  return h.digest('hex');
}

export class DeliveryFleet {
  readonly #o: FleetOptions;
  readonly #running = new Map<string, Running>();
  /** Destinations the last applied configuration wants but that could not start. */
  readonly #failed = new Set<string>();

  constructor(opts: FleetOptions) {
    this.#o = opts;
  }

  /** Names of the destinations delivering now. */
  names(): string[] {
    return [...this.#running.keys()].sort();
  }

  /** True when every destination of the last applied configuration is running. */
  healthy(): boolean {
    return this.#failed.size === 0;
  }

  /** Brings the running workers to `wanted`; one destination failing to start does not stop the others. */
  async apply(wanted: Prepared['destinations']): Promise<{ changes: FleetChange[]; failures: { destination: string; reason: string }[] }> {
    const changes: FleetChange[] = [];
    const failures: { destination: string; reason: string }[] = [];
    const names = new Set(wanted.map((w) => w.destination.name));
    for (const [name, r] of [...this.#running]) {
      if (names.has(name)) continue;
      await r.worker.stop();
      this.#running.delete(name);
      changes.push({ destination: name, action: 'stopped' });
    }
    for (const name of [...this.#failed]) if (!names.has(name)) this.#failed.delete(name);
    for (const w of wanted) {
      const d = w.destination;
      const fingerprint = destinationFingerprint(d);
      const current = this.#running.get(d.name);
      if (current && current.fingerprint === fingerprint) {
        changes.push({ destination: d.name, action: 'unchanged' });
        continue;
      }
      if (current) {
        // Stopped first, fully: its consumer leaves the group before the new one joins, so no
        // partition is ever worked by two consumers (no key reordered, nothing sent twice at once).
        await current.worker.stop();
        this.#running.delete(d.name);
      }
      try {
        await this.#start(d, w.outbound, fingerprint);
        this.#failed.delete(d.name);
        changes.push({ destination: d.name, action: current ? 'restarted' : 'started' });
      } catch (err) {
        this.#failed.add(d.name);
        failures.push({ destination: d.name, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return { changes, failures };
  }

  async #start(d: Destination, outbound: OutboundSet | null, fingerprint: string): Promise<void> {
    const o = this.#o;
    await ensureTopics(o.kafka, [{ topic: dlqTopicOf(d), partitions: 3 }]);
    const worker = new DeliveryWorker({
      destination: d,
      kafka: o.kafka,
      outbound,
      connections: o.connections ?? 1,
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.lagIntervalMs !== undefined ? { lagIntervalMs: o.lagIntervalMs } : {}),
      ...(o.groupId ? { groupId: o.groupId(d.name) } : {}),
      ...(o.connect ? { connect: () => o.connect!(d) } : {}),
    });
    try {
      await worker.start();
    } catch (err) {
      await worker.stop().catch(() => undefined);
      throw err;
    }
    this.#running.set(d.name, { worker, fingerprint, destination: d });
  }

  async stop(): Promise<void> {
    for (const [name, r] of [...this.#running]) {
      await r.worker.stop().catch(() => undefined);
      this.#running.delete(name);
    }
  }
}

export type DestinationReloadOutcome =
  | { readonly result: 'applied'; readonly changes: readonly FleetChange[] }
  | { readonly result: 'rejected'; readonly errors: readonly ConfigError[] }
  | { readonly result: 'failed'; readonly changes: readonly FleetChange[]; readonly reason: string };

export function createReloadCounter(registry: Registry): Counter<'result'> {
  return new Counter({
    name: 'hl7_outbound_config_reloads_total',
    help: 'Reloads of destinations/ (and the outbound mappings in use), by result: success, or failure when an edit was rejected (the last good config kept running) or a destination could not start',
    labelNames: ['result'],
    registers: [registry],
  });
}

export interface DestinationReloaderOptions {
  readonly dir: string;
  readonly fleet: DeliveryFleet;
  readonly logger: Logger;
  readonly reloads?: Counter<'result'>;
  /** Quiet time after the last file event; an editor's save is several events. Default 300 ms. */
  readonly debounceMs?: number;
}

function isEditorScratch(name: string): boolean {
  const base = basename(name);
  return base.endsWith('~') || base.startsWith('.#') || /\.(swp|swx|swo|tmp)$/i.test(base) || base === '4913';
}

export class DestinationReloader {
  readonly #o: DestinationReloaderOptions;
  readonly #dir: string;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  readonly #watchers = new Map<string, FSWatcher>();
  #closed = false;
  readonly #onSignal = (): void => void this.reload('SIGHUP');

  constructor(opts: DestinationReloaderOptions) {
    this.#o = opts;
    this.#dir = resolve(opts.dir);
    opts.reloads?.inc({ result: 'success' }, 0);
    opts.reloads?.inc({ result: 'failure' }, 0);
  }

  /** Loads, validates, applies; reloads run one after another. */
  reload(trigger: 'file-change' | 'SIGHUP' | 'manual' = 'manual'): Promise<DestinationReloadOutcome> {
    const run = this.#chain.then(() => this.#reloadNow(trigger));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  listenForSignal(): void {
    process.on('SIGHUP', this.#onSignal);
  }

  /** Watches the destinations folder and the outbound mapping sets the destinations use. */
  watch(initial: Prepared['destinations']): void {
    this.#watch(this.#dir, false);
    this.#syncMappingWatchers(initial);
  }

  async close(): Promise<void> {
    this.#closed = true;
    process.off('SIGHUP', this.#onSignal);
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#chain;
  }

  async #reloadNow(trigger: string): Promise<DestinationReloadOutcome> {
    const { logger, reloads, fleet } = this.#o;
    const prepared = prepareDestinations(this.#dir);
    let errors = prepared.errors;
    if (errors.length === 0 && prepared.destinations.length === 0) {
      errors = [new ConfigError(this.#dir, 1, 1, 'no destination files (*.yaml) in the destinations folder; to stop every destination, stop deliver', 'empty')];
    }
    if (errors.length > 0) {
      reloads?.inc({ result: 'failure' });
      for (const e of errors) logger.error({ trigger, file: e.file, line: e.line, col: e.col, rule: e.rule }, `destination reload rejected: ${e.message}`);
      logger.error({ trigger, errors: errors.length, dir: this.#dir }, 'destination reload rejected; the last good configuration keeps running');
      return { result: 'rejected', errors };
    }
    const { changes, failures } = await fleet.apply(prepared.destinations);
    if (!this.#closed) this.#syncMappingWatchers(prepared.destinations);
    const changed = changes.filter((c) => c.action !== 'unchanged');
    if (failures.length > 0) {
      reloads?.inc({ result: 'failure' });
      for (const f of failures) logger.error({ trigger, destination: f.destination, reason: f.reason }, 'destination reload: destination could not start');
      return { result: 'failed', changes, reason: `${failures.length} destination(s) could not start: ${failures.map((f) => f.destination).join(', ')}` };
    }
    reloads?.inc({ result: 'success' });
    logger.info({ trigger, changes: changed }, changed.length > 0 ? 'destinations reloaded' : 'destinations reloaded; nothing changed');
    return { result: 'applied', changes };
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.reload('file-change');
    }, this.#o.debounceMs ?? 300);
    this.#timer.unref();
  }

  #watch(dir: string, recursive: boolean): void {
    if (this.#watchers.has(dir) || !existsSync(dir)) return;
    try {
      const w = watch(dir, { recursive, persistent: false }, (_e, name) => {
        if (name !== null && isEditorScratch(name)) return;
        this.#schedule();
      });
      w.on('error', (err) => {
        this.#o.logger.warn({ dir, err: err.message }, 'stopped watching a destinations folder; SIGHUP still reloads');
        w.close();
        this.#watchers.delete(dir);
      });
      this.#watchers.set(dir, w);
    } catch (err) {
      this.#o.logger.warn({ dir, err: err instanceof Error ? err.message : String(err) }, 'cannot watch a destinations folder; SIGHUP still reloads');
    }
  }

  #syncMappingWatchers(destinations: Prepared['destinations']): void {
    const wanted = new Set(destinations.filter((p) => !p.destination.mapping.passThrough).map((p) => p.destination.mapping.outbound));
    for (const [dir, w] of this.#watchers) {
      if (dir === this.#dir || wanted.has(dir)) continue;
      w.close();
      this.#watchers.delete(dir);
    }
    for (const dir of wanted) this.#watch(dir, true);
  }
}
