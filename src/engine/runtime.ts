/**
 * What a running engine holds, and the steps start, stop and a configuration change are made of:
 * a channel's ingest and bound listener, its duplicate memory rebuilt from Kafka, its topics, its
 * transform worker and the producers they write with. The lifecycle (engine.ts) and the hot
 * reload (apply.ts) put these steps in order; nothing here decides when they run.
 */
import { availableParallelism } from 'node:os';
import type { Kafka } from 'kafkajs';
import { AddressAllowList, type ChannelConfig } from '../channel/index.js';
import { DedupeMemory, Ingest } from '../ingest/index.js';
import { GroupCommitProducer, createKafka, ensureTopics, recoverDedupe } from '../kafka/index.js';
import { mappingFingerprint } from '../mapping/index.js';
import { MllpListener } from '../mllp/index.js';
import { capForLog, type EngineMetrics, type Logger } from '../ops/index.js';
import { ConversionPool, SupervisedTransform, converterForChannel, converterSpecOf, mappingSetDir, type MessageConverter } from '../transform/index.js';

export interface EngineOptions {
  readonly channels: readonly ChannelConfig[];
  readonly brokers: string[];
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Partitions for topics the engine creates. */
  readonly partitions?: number;
  /**
   * The transform stage (raw → FHIR). By default every channel that names a mapping set gets a
   * transform worker; `false` runs ingest only.
   */
  readonly transform?: TransformSetup | false;
  /**
   * What this process runs (default `all`): `ingest` = listeners only, raw topics written, no
   * conversion; `transform` = conversion only, no listener. Ingest and transform processes of a
   * channel share its topics and its transform consumer group, so they can be scaled apart.
   */
  readonly role?: EngineRole;
}

export type EngineRole = 'ingest' | 'transform' | 'all';

export const ENGINE_ROLES: readonly EngineRole[] = ['ingest', 'transform', 'all'];

export interface TransformSetup {
  /** Root folder of mapping sets (default: `mappings/` beside each channel's folder). */
  readonly mappingsRoot?: string;
  /** The converter for a channel, or null to leave its raw topic alone. Default: its mapping set. */
  readonly converterFor?: (channel: ChannelConfig) => MessageConverter | null;
  /** Validate each Bundle against FHIR R4 before publishing (default true; roughly triples conversion CPU). */
  readonly validate?: boolean;
  /**
   * Conversion threads (parse + convert + validate) shared by this process's channels, so a
   * backlog does not hold the event loop that answers MLLP. Default: os.availableParallelism();
   * 0 converts on the main event loop, in slices that give way to ingest.
   */
  readonly workers?: number;
  /** Nice value of the conversion threads (Linux, per thread; default 10, 0 = normal priority). */
  readonly threadNice?: number;
}

/** The default number of conversion threads: one per core the process may use. */
export function defaultTransformWorkers(): number {
  return availableParallelism();
}

export interface RunningChannel {
  readonly channel: ChannelConfig;
  readonly listener: MllpListener;
  readonly ingest: Ingest;
}

/** A channel's converter and what identifies its mapping set, to tell a changed set from the same one. */
export interface ChannelConverter {
  readonly channel: ChannelConfig;
  readonly convert: MessageConverter;
  readonly key: string;
}

export interface RunningWorker {
  /** Restarts its consumer by itself after any fault; `up` says whether it consumes now. */
  readonly worker: SupervisedTransform;
  readonly channel: ChannelConfig;
  readonly key: string;
}

export class Runtime {
  /** Replaced (channels only) by a configuration change, so readiness checks the channels now configured. */
  opts: EngineOptions;
  readonly kafka: Kafka;
  /** The ingest producer, once start() connected it; kept for channels a configuration change adds. */
  ingestProducer: GroupCommitProducer | null = null;
  readonly running: RunningChannel[] = [];
  readonly transformWorkers = new Map<string, RunningWorker>();
  private transformProducer: GroupCommitProducer | null = null;
  private pool: ConversionPool | null = null;
  /** Per channel, read on every new connection, so an allow-list edit needs no new listener. */
  private readonly allowLists = new Map<string, AddressAllowList | null>();

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.kafka = createKafka(opts.brokers, opts.logger);
    opts.metrics.bufferedBytesByChannel = () => this.running.map((r) => [r.channel.name, r.listener.bufferedBytes] as const);
  }

  get role(): EngineRole {
    return this.opts.role ?? 'all';
  }

  /** Whether this process binds listeners and stores raw messages. */
  get runsIngest(): boolean {
    return this.role !== 'transform';
  }

  /** Creates the raw, fhir and dlq topics of `channels` (when missing) and tells the producer about them. */
  async ensureChannelTopics(channels: readonly ChannelConfig[], producer: GroupCommitProducer): Promise<void> {
    const topics = channels.flatMap((c) => [c.topics.raw, c.topics.fhir, c.topics.dlq]);
    await ensureTopics(
      this.kafka,
      topics.map((topic) => ({ topic, partitions: this.opts.partitions ?? 3 })),
    );
    await producer.learnTopics(topics);
  }

  /** Duplicate memory for a channel, rebuilt from its raw topic so it agrees with what Kafka holds. */
  async dedupeMemory(channel: ChannelConfig): Promise<DedupeMemory> {
    const dedupe = new DedupeMemory(channel.dedupe);
    if (channel.dedupe.windowSeconds > 0) {
      const entries = await recoverDedupe(this.kafka, channel.topics.raw, channel.dedupe);
      for (const e of entries) dedupe.remember(e.key, e.at);
      this.opts.logger.info({ channel: channel.name, remembered: dedupe.size }, 'duplicate memory rebuilt from the raw topic');
    }
    return dedupe;
  }

  /** Ingest and a bound listener for one channel. */
  async openChannel(channel: ChannelConfig, producer: GroupCommitProducer): Promise<RunningChannel> {
    const { logger, metrics } = this.opts;
    const dedupe = await this.dedupeMemory(channel);
    const ingest = new Ingest(channel, { producer, dedupe, metrics, logger });
    this.setAllowList(channel);
    const listener = this.newListener(channel, ingest);
    await this.bind(channel, listener);
    return { channel, listener, ingest };
  }

  setAllowList(channel: ChannelConfig): void {
    this.allowLists.set(channel.name, channel.listener.allowedAddresses ? new AddressAllowList(channel.listener.allowedAddresses) : null);
  }

  forgetAllowList(name: string): void {
    this.allowLists.delete(name);
  }

  async bind(channel: ChannelConfig, listener: MllpListener): Promise<void> {
    const addr = await listener.listen();
    this.opts.logger.info({ channel: channel.name, host: addr.address, port: addr.port, tls: channel.listener.tls !== null }, 'listening');
  }

  newListener(channel: ChannelConfig, ingest: Ingest): MllpListener {
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
        maxConnectionsPerAddress: channel.listener.maxConnectionsPerAddress,
        frameTimeoutMs: channel.listener.frameTimeoutSeconds * 1000,
        closeGraceMs: channel.listener.closeGraceSeconds * 1000,
        maxBufferedBytes: channel.listener.maxBufferedBytes,
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
        frameAbandoned: (reason, bytes) => {
          metrics.framesAbandoned.inc({ channel: name, reason });
          logger.warn({ channel: name, reason, bytes }, 'unfinished frame given up; dead-lettered, answered AR, connection closed');
        },
        closeForced: () => metrics.closesForced.inc({ channel: name }),
        answered: (a, seconds) => {
          metrics.acks.inc({ channel: name, code: a.code });
          metrics.ackLatency.observe({ channel: name }, seconds);
          logger.debug({ channel: name, type: a.type, controlId: capForLog(a.controlId), ack: a.code, outcome: a.outcome }, 'message answered');
        },
        handlerFailed: (err) => logger.error({ channel: name, err: err instanceof Error ? err.name : 'unknown' }, 'frame handler failed; answered AE'),
      },
    );
  }

  // ---------------------------------------------------------------- transform

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
  transformConverters(channels: readonly ChannelConfig[]): ChannelConverter[] {
    const setup = this.opts.transform;
    if (setup === false || this.role === 'ingest') return [];
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
  async startTransform(converters: readonly ChannelConverter[]): Promise<void> {
    if (converters.length === 0) return;
    const producer = await this.transformPublisher();
    await producer.learnTopics(converters.flatMap(({ channel }) => [channel.topics.fhir, channel.topics.dlq]));
    // Bounded: a thread that cannot start is retried in the background and said loudly (log,
    // hl7_transform_threads_running, readiness); records meanwhile convert on the main loop.
    await this.conversionPool()?.whenRunning(5_000).catch(() => undefined);
    for (const c of converters) await this.startWorker(c, producer);
  }

  async transformPublisher(): Promise<GroupCommitProducer> {
    if (this.transformProducer) return this.transformProducer;
    // Each produce request is encoded on the event loop that answers MLLP: Bundles are larger than
    // raw records, so their requests are kept to 1 MiB (8 MiB took tens of ms to encode).
    const producer = new GroupCommitProducer(this.kafka, { maxBatchBytes: 1024 * 1024 });
    await producer.connect();
    this.transformProducer = producer;
    return producer;
  }

  /** The conversion threads, started with the first transform worker; null when configured to 0. */
  conversionPool(): ConversionPool | null {
    const setup = this.opts.transform;
    const threads = (setup ? setup.workers : undefined) ?? defaultTransformWorkers();
    if (threads === 0) {
      this.opts.metrics.transformThreadsConfigured.set(0);
      return null;
    }
    this.pool ??= new ConversionPool({ threads, logger: this.opts.logger, metrics: this.opts.metrics, ...(setup && setup.threadNice !== undefined ? { nice: setup.threadNice } : {}) });
    return this.pool;
  }

  get hasPool(): boolean {
    return this.pool !== null;
  }

  /** Whether conversion threads are configured and none runs (every record then converts on the main loop). */
  get threadsDown(): boolean {
    return this.pool !== null && this.pool.running === 0;
  }

  async startWorker({ channel, convert, key }: ChannelConverter, producer: GroupCommitProducer): Promise<void> {
    const { logger, metrics } = this.opts;
    const pool = this.conversionPool();
    const spec = converterSpecOf(convert);
    // The threads compile the set before the worker joins its group (bounded), as the engine's
    // own converter was compiled before this: the first batch then converts at once.
    if (pool && spec) await pool.prepare(spec);
    const worker = new SupervisedTransform({
      pool,
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

  async stopWorker(name: string): Promise<void> {
    const running = this.transformWorkers.get(name);
    if (!running) return;
    this.transformWorkers.delete(name);
    await running.worker.stop();
  }

  /** Transform workers leave their group after their writes are committed. */
  async stopTransform(): Promise<void> {
    await Promise.all([...this.transformWorkers.values()].map((w) => w.worker.stop()));
    this.transformWorkers.clear();
    // After the workers: they wait on the threads for the records in hand.
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
    if (this.transformProducer) await this.transformProducer.disconnect();
    this.transformProducer = null;
  }

  /** The next offset of every partition of `topic`: where records stored from now on begin. */
  async endOffsets(topic: string): Promise<Map<number, string>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, o.high]));
    } finally {
      await admin.disconnect();
    }
  }
}
