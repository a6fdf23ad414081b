/**
 * Wires channels to listeners, ingest and Kafka, and owns their lifecycle: start in dependency
 * order (Kafka, topics, duplicate memory, listeners), stop in reverse with in-flight ACKs
 * finished first, and apply a new set of channels while running (hot reload, see apply()).
 */
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/types.js';
import { AddressAllowList } from '../channel/index.js';
import { GroupCommitProducer, createKafka, ensureTopics, recoverDedupe } from '../kafka/index.js';
import { DedupeMemory, Ingest, type Durability } from '../ingest/index.js';
import { MllpListener } from '../mllp/listener.js';
import type { EngineMetrics } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import { KafkaProbe, type Readiness } from '../ops/readiness.js';
import { TransformWorker, converterForChannel, mappingSetDir, type MessageConverter } from '../transform/index.js';
import { mappingFingerprint } from './reload.js';

export interface EngineOptions {
  readonly channels: readonly ChannelConfig[];
  readonly brokers: string[];
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Partitions for topics the engine creates. */
  readonly partitions?: number;
  /**
   * FOR BENCHMARKS AND COMPARISON ONLY (see Durability in src/ingest/pipeline.ts). 'none' answers
   * AA without Kafka: no topics, producer connection, duplicate memory or transform. Default
   * 'kafka'. Channel YAML and the CLI cannot reach 'none'.
   */
  readonly durability?: Durability;
  /**
   * The transform stage (raw → FHIR). By default every channel that names a mapping set gets a
   * transform worker; `false` runs ingest only.
   */
  readonly transform?: TransformSetup | false;
}

export interface TransformSetup {
  /** Root folder of mapping sets (default: `mappings/` beside each channel's folder). */
  readonly mappingsRoot?: string;
  /** The converter for a channel, or null to leave its raw topic alone. Default: its mapping set. */
  readonly converterFor?: (channel: ChannelConfig) => MessageConverter | null;
  /** Validate each Bundle against FHIR R4 before publishing (default true; roughly triples conversion CPU). */
  readonly validate?: boolean;
}

export interface RunningChannel {
  readonly channel: ChannelConfig;
  readonly listener: MllpListener;
  readonly ingest: Ingest;
}

/** What apply() did to one channel; `what` names the parts that changed (never values). */
export interface ChannelChange {
  readonly channel: string;
  readonly action: 'added' | 'removed' | 'updated' | 'unchanged';
  readonly what: readonly string[];
}

/** A channel apply() could not change; it keeps running as before (or, if new, is not started). */
export interface ChannelApplyFailure {
  readonly channel: string;
  readonly reason: string;
}

export interface ApplyReport {
  readonly changes: readonly ChannelChange[];
  readonly failures: readonly ChannelApplyFailure[];
}

/** A channel's converter and what identifies its mapping set, to tell a changed set from the same one. */
interface ChannelConverter {
  readonly channel: ChannelConfig;
  readonly convert: MessageConverter;
  readonly key: string;
}

interface RunningWorker {
  readonly worker: TransformWorker;
  readonly channel: ChannelConfig;
  readonly key: string;
}

/** Listener settings that only a new socket server can change (the allow-list is checked per connection). */
function listenerIdentity(c: ChannelConfig): string {
  const { host, port, tls, maxFrameBytes, idleTimeoutSeconds, maxConnections } = c.listener;
  return JSON.stringify({ host, port, tls, maxFrameBytes, idleTimeoutSeconds, maxConnections });
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Engine {
  // Replaced (channels only) by apply(), so readiness checks the channels now configured.
  private opts: EngineOptions;
  private readonly kafka: Kafka;
  private producer: GroupCommitProducer | null = null;
  private readonly running: RunningChannel[] = [];
  private transformProducer: GroupCommitProducer | null = null;
  private readonly transformWorkers = new Map<string, RunningWorker>();
  /** The ingest producer, kept (in every durability mode) for channels added by apply(). */
  private ingestProducer: GroupCommitProducer | null = null;
  /** Per channel, read on every new connection, so an allow-list edit needs no new listener. */
  private readonly allowLists = new Map<string, AddressAllowList | null>();
  /** apply() calls run one at a time, and stop() waits for the one under way. */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(opts: EngineOptions) {
    // Without Kafka there is no raw topic to transform.
    this.opts = opts.durability === 'none' ? { ...opts, transform: false } : opts;
    this.kafka = createKafka(opts.brokers, opts.logger);
  }

  get channels(): readonly RunningChannel[] {
    return this.running;
  }

  async start(): Promise<void> {
    const { metrics, channels } = this.opts;
    // Mapping sets load before anything listens: a broken mapping refuses the start, with every
    // error's file:line:col, instead of dead-lettering each message later.
    const converters = this.transformConverters(channels);
    const producer = new GroupCommitProducer(this.kafka, {
      onBatch: (records, seconds, ok) => {
        metrics.publishSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
        metrics.publishBatchRecords.observe(records);
      },
    });
    this.ingestProducer = producer;
    const durability = this.opts.durability ?? 'kafka';
    if (durability === 'kafka') {
      this.producer = producer;
      const topics = channels.flatMap((c) => [c.topics.raw, c.topics.fhir, c.topics.dlq]);
      await ensureTopics(
        this.kafka,
        topics.map((topic) => ({ topic, partitions: this.opts.partitions ?? 3 })),
      );
      await producer.connect();
      await producer.learnTopics(topics);
    }

    for (const channel of channels) this.running.push(await this.openChannel(channel, producer));
    await this.startTransform(converters);
  }

  /** Duplicate memory for a channel, rebuilt from its raw topic so it agrees with what Kafka holds. */
  private async dedupeMemory(channel: ChannelConfig): Promise<DedupeMemory> {
    const dedupe = new DedupeMemory(channel.dedupe);
    if ((this.opts.durability ?? 'kafka') === 'kafka' && channel.dedupe.windowSeconds > 0) {
      const entries = await recoverDedupe(this.kafka, channel.topics.raw, channel.dedupe);
      for (const e of entries) dedupe.remember(e.key, e.at);
      this.opts.logger.info({ channel: channel.name, remembered: dedupe.size }, 'duplicate memory rebuilt from the raw topic');
    }
    return dedupe;
  }

  /** Ingest and a bound listener for one channel. */
  private async openChannel(channel: ChannelConfig, producer: GroupCommitProducer): Promise<RunningChannel> {
    const { logger, metrics } = this.opts;
    const durability = this.opts.durability ?? 'kafka';
    const dedupe = await this.dedupeMemory(channel);
    const ingest = new Ingest(channel, { producer, dedupe, metrics, logger, durability });
    this.allowLists.set(channel.name, channel.listener.allowedAddresses ? new AddressAllowList(channel.listener.allowedAddresses) : null);
    const listener = this.newListener(channel, ingest);
    await this.bind(channel, listener);
    return { channel, listener, ingest };
  }

  private async bind(channel: ChannelConfig, listener: MllpListener): Promise<void> {
    const addr = await listener.listen();
    this.opts.logger.info({ channel: channel.name, host: addr.address, port: addr.port, tls: channel.listener.tls !== null }, 'listening');
  }

  private newListener(channel: ChannelConfig, ingest: Ingest): MllpListener {
    const { logger, metrics } = this.opts;
    const name = channel.name;
    return new MllpListener(
      {
        channel: name,
        host: channel.listener.host,
        port: channel.listener.port,
        maxFrameBytes: channel.listener.maxFrameBytes,
        idleTimeoutSeconds: channel.listener.idleTimeoutSeconds,
        maxConnections: channel.listener.maxConnections,
        tls: channel.listener.tls,
        isAddressAllowed: (a) => {
          const allow = this.allowLists.get(name);
          return allow ? allow.allows(a) : true;
        },
      },
      ingest,
      {
        connectionOpened: (peer, tls) => {
          metrics.connections.inc({ channel: name });
          logger.info({ channel: name, peer, tls }, 'connection opened');
        },
        connectionClosed: (peer, frames) => {
          metrics.connections.dec({ channel: name });
          logger.info({ channel: name, peer, frames }, 'connection closed');
        },
        connectionRefused: (peer, reason) => {
          metrics.connectionsRefused.inc({ channel: name, reason });
          logger.warn({ channel: name, peer, reason }, 'connection refused');
        },
        discarded: (bytes) => metrics.discardedBytes.inc({ channel: name }, bytes),
        answered: (a, seconds) => {
          metrics.acks.inc({ channel: name, code: a.code });
          metrics.ackLatency.observe({ channel: name }, seconds);
          logger.debug({ channel: name, type: a.type, controlId: a.controlId, ack: a.code, outcome: a.outcome }, 'message answered');
        },
        handlerFailed: (err) => logger.error({ channel: name, err: err instanceof Error ? err.name : 'unknown' }, 'frame handler failed; answered AE'),
      },
    );
  }

  /**
   * What identifies a channel's converter: its mapping set folder, site, and the bytes of every
   * file in the set (read before the set loads, so an edit racing the load shows up as a change
   * on the next reload rather than being missed).
   */
  private converterKey(channel: ChannelConfig): string {
    const setup = this.opts.transform;
    const dir = mappingSetDir(channel, setup ? setup.mappingsRoot : undefined);
    return JSON.stringify([channel.mapping, channel.site, dir, dir === null ? null : mappingFingerprint(dir)]);
  }

  /**
   * The converters for `channels`. Throws (MappingLoadError for a mapping set) before anything is
   * started or changed; a set whose files did not change since it was loaded is reused.
   */
  private transformConverters(channels: readonly ChannelConfig[]): ChannelConverter[] {
    const setup = this.opts.transform;
    if (setup === false) return [];
    const options = {
      ...(setup?.mappingsRoot !== undefined ? { mappingsRoot: setup.mappingsRoot } : {}),
      ...(setup?.validate !== undefined ? { validate: setup.validate } : {}),
    };
    const pick = setup?.converterFor ?? ((c: ChannelConfig) => converterForChannel(c, options));
    const out: ChannelConverter[] = [];
    for (const channel of channels) {
      const key = this.converterKey(channel);
      const running = this.transformWorkers.get(channel.name);
      const convert = running?.key === key ? running.worker.currentConverter : pick(channel);
      if (convert) out.push({ channel, convert, key });
      else this.opts.logger.info({ channel: channel.name }, 'channel names no mapping set: raw messages are stored, not converted');
    }
    return out;
  }

  /** Transform writes get their own producer, so a burst of Bundles never delays an ACK's commit. */
  private async startTransform(converters: readonly ChannelConverter[]): Promise<void> {
    if (converters.length === 0) return;
    const producer = await this.transformPublisher();
    await producer.learnTopics(converters.flatMap(({ channel }) => [channel.topics.fhir, channel.topics.dlq]));
    for (const c of converters) await this.startWorker(c, producer);
  }

  private async transformPublisher(): Promise<GroupCommitProducer> {
    if (this.transformProducer) return this.transformProducer;
    const producer = new GroupCommitProducer(this.kafka);
    await producer.connect();
    this.transformProducer = producer;
    return producer;
  }

  private async startWorker({ channel, convert, key }: ChannelConverter, producer: GroupCommitProducer): Promise<void> {
    const { logger, metrics } = this.opts;
    const worker = new TransformWorker({
      channel,
      kafka: this.kafka,
      publisher: producer,
      convert,
      logger,
      metrics,
      // Any channel's sender in the last 100 ms: conversion shares the event loop with its ACKs.
      ingestBusy: () => {
        const now = Date.now();
        return this.running.some((r) => now - r.ingest.lastFrameAt < 100);
      },
    });
    await worker.start();
    this.transformWorkers.set(channel.name, { worker, channel, key });
  }

  /** Transform workers leave their group after their writes are committed. */
  private async stopTransform(): Promise<void> {
    await Promise.all([...this.transformWorkers.values()].map((w) => w.worker.stop()));
    this.transformWorkers.clear();
    if (this.transformProducer) await this.transformProducer.disconnect();
    this.transformProducer = null;
  }

  // --- Hot reload (driven by src/engine/reload.ts) ---

  /**
   * Switches the running engine to `next` without a restart. Every mapping set loads first: one
   * that does not throws (MappingLoadError) and nothing changes. Then, per channel:
   *  - removed: its listener drains (in-flight ACKs are answered) and closes, its worker stops;
   *  - added: topics, duplicate memory, listener and transform worker start;
   *  - same listener (host, port, TLS, limits): the listener and its connections stay; accept
   *    rules, charset, ACK, topics, duplicate settings and the allow-list apply from the next frame
   *    or connection;
   *  - other port: the new listener binds first, then the old one drains and closes; same port
   *    with other settings: the old one drains and closes first, so new connections are refused
   *    until the new one binds (a moment; open connections are closed once their ACKs are out);
   *  - mapping set or site changed (or any file in the set): raw records stored from now on are
   *    converted with the new set, those already stored with the old one.
   * A channel that cannot be changed (e.g. its new port is taken) keeps running as it was and is
   * listed in `failures`. Calls are serialised.
   */
  apply(next: readonly ChannelConfig[], graceMs = 10_000): Promise<ApplyReport> {
    const run = this.applying.then(() => this.applyNow(next, graceMs));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(next: readonly ChannelConfig[], graceMs: number): Promise<ApplyReport> {
    if (this.stopped) throw new Error('the engine is stopped; a configuration can no longer be applied');
    const producer = this.ingestProducer;
    if (!producer) throw new Error('the engine has not started; start() it before applying a configuration');
    const converters = this.transformConverters(next);
    const changes: ChannelChange[] = [];
    const failures: ChannelApplyFailure[] = [];
    const fail = (channel: string, err: unknown): void => {
      failures.push({ channel, reason: err instanceof Error ? err.message : String(err) });
    };
    const wanted = new Set(next.map((c) => c.name));

    // Topics first: if Kafka cannot create them, nothing has changed yet.
    if ((this.opts.durability ?? 'kafka') === 'kafka') {
      const topics = next.flatMap((c) => [c.topics.raw, c.topics.fhir, c.topics.dlq]);
      await ensureTopics(this.kafka, topics.map((topic) => ({ topic, partitions: this.opts.partitions ?? 3 })));
      await producer.learnTopics(topics);
    }

    // Removed channels go first: their ports may be what a changed or added channel binds.
    for (const r of [...this.running]) {
      if (wanted.has(r.channel.name)) continue;
      await this.stopWorker(r.channel.name);
      await r.listener.close(graceMs);
      this.running.splice(this.running.indexOf(r), 1);
      this.allowLists.delete(r.channel.name);
      changes.push({ channel: r.channel.name, action: 'removed', what: [] });
    }

    for (const channel of next) {
      const current = this.running.find((r) => r.channel.name === channel.name);
      try {
        if (current) {
          const what = await this.updateChannel(current, channel, graceMs);
          changes.push({ channel: channel.name, action: what.length > 0 ? 'updated' : 'unchanged', what });
        } else {
          this.running.push(await this.openChannel(channel, producer));
          changes.push({ channel: channel.name, action: 'added', what: [] });
        }
      } catch (err) {
        fail(channel.name, err);
      }
    }

    for (const channel of next) {
      if (failures.some((f) => f.channel === channel.name)) continue;
      try {
        const what = await this.updateTransform(channel, converters.find((c) => c.channel.name === channel.name) ?? null);
        if (what) {
          const i = changes.findIndex((c) => c.channel === channel.name);
          const was = changes[i];
          if (was && was.action !== 'added') changes[i] = { channel: channel.name, action: 'updated', what: [...was.what, what] };
        }
      } catch (err) {
        fail(channel.name, err);
      }
    }
    this.opts = { ...this.opts, channels: next };
    return { changes, failures };
  }

  /** Applies a kept channel's new settings; returns the names of the parts that changed. */
  private async updateChannel(r: RunningChannel, channel: ChannelConfig, graceMs: number): Promise<string[]> {
    const old = r.channel;
    const what: string[] = [];
    for (const part of ['accept', 'charset', 'ack', 'topics', 'dedupe'] as const) if (!same(old[part], channel[part])) what.push(part);
    if (!same(old.listener.allowedAddresses, channel.listener.allowedAddresses)) what.push('allowedAddresses');
    const rebind = listenerIdentity(old) !== listenerIdentity(channel);
    if (rebind) what.push('listener');
    // Rebuilt from Kafka before anything changes, so a failure here leaves the channel as it was.
    const dedupe = same(old.dedupe, channel.dedupe) ? undefined : await this.dedupeMemory(channel);

    let listener = r.listener;
    if (rebind) {
      listener = this.newListener(channel, r.ingest);
      if (channel.listener.port !== 0 && channel.listener.port === old.listener.port) {
        // One port cannot be bound twice: drain the old listener, then bind. If the new one
        // cannot bind, the old settings come back so the channel is not left without a listener.
        await r.listener.close(graceMs);
        try {
          await this.bind(channel, listener);
        } catch (err) {
          const back = this.newListener(old, r.ingest);
          await this.bind(old, back);
          this.running[this.running.indexOf(r)] = { ...r, listener: back };
          throw err;
        }
      } else {
        await this.bind(channel, listener);
      }
    }
    // Everything the next frame reads: from here on, frames follow the new settings.
    r.ingest.setChannel(channel, dedupe ? { dedupe } : {});
    this.allowLists.set(channel.name, channel.listener.allowedAddresses ? new AddressAllowList(channel.listener.allowedAddresses) : null);
    this.running[this.running.indexOf(r)] = { channel, listener, ingest: r.ingest };
    if (rebind && listener !== r.listener) await r.listener.close(graceMs);
    return what;
  }

  /** Starts, stops, restarts or re-points a channel's transform worker; returns what changed, if anything. */
  private async updateTransform(channel: ChannelConfig, converter: ChannelConverter | null): Promise<string | null> {
    const running = this.transformWorkers.get(channel.name);
    if (!converter) {
      if (!running) return null;
      await this.stopWorker(channel.name);
      return 'transform stopped';
    }
    const producer = await this.transformPublisher();
    if (!running) {
      await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
      await this.startWorker(converter, producer);
      return 'transform started';
    }
    if (!same(running.channel.topics, channel.topics)) {
      // The group's offsets belong to the raw topic it consumed; a worker on other topics is a
      // new member: the old one leaves (its writes committed) before the new one joins.
      await this.stopWorker(channel.name);
      await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
      await this.startWorker(converter, producer);
      return 'transform restarted';
    }
    if (running.key === converter.key) return null;
    // Records Kafka holds now keep the old mapping; anything stored after this point gets the new.
    const from = await this.rawEndOffsets(channel.topics.raw);
    running.worker.setConverter(converter.convert, from);
    this.transformWorkers.set(channel.name, { ...running, key: converter.key });
    this.opts.logger.info({ channel: channel.name, from: Object.fromEntries(from) }, 'mapping switched: raw records from these offsets use the new mapping set');
    return 'mapping';
  }

  private async stopWorker(name: string): Promise<void> {
    const running = this.transformWorkers.get(name);
    if (!running) return;
    this.transformWorkers.delete(name);
    await running.worker.stop();
  }

  private async rawEndOffsets(topic: string): Promise<Map<number, string>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, o.high]));
    } finally {
      await admin.disconnect();
    }
  }
  // --- end hot reload ---

  // --- Operations: readiness for /readyz and hl7_kafka_up (served by src/ops/http.ts) ---
  private kafkaProbe: KafkaProbe | null = null;
  // A probe made after stop() would hold an admin connection nobody closes.
  private stopped = false;

  /** Ready when every channel's listener is bound and Kafka answers a describeCluster in time. */
  async readiness(): Promise<Readiness> {
    const checks: Record<string, boolean> = {};
    const bound = new Set(this.running.map((r) => r.channel.name));
    for (const c of this.opts.channels) checks[`listener:${c.name}`] = bound.has(c.name);
    if (!this.stopped) {
      this.kafkaProbe ??= new KafkaProbe(this.kafka, { onResult: (up) => this.opts.metrics.kafkaUp.set(up ? 1 : 0) });
    }
    checks['kafka'] = this.kafkaProbe ? await this.kafkaProbe.check() : false;
    return { ready: Object.values(checks).every(Boolean), checks };
  }
  // --- end operations ---

  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    await this.applying;
    const probe = this.kafkaProbe;
    this.kafkaProbe = null;
    await probe?.close();
    await Promise.all([...this.running.map((r) => r.listener.close(graceMs)), this.stopTransform()]);
    this.running.length = 0;
    if (this.producer) await this.producer.disconnect();
    this.producer = null;
  }
}
