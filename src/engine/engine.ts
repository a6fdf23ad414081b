/**
 * Wires channels to listeners, ingest and Kafka, and owns their lifecycle: start in dependency
 * order (Kafka, topics, duplicate memory, listeners), stop in reverse with in-flight ACKs
 * finished first.
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
import { TransformWorker, converterForChannel, type MessageConverter } from '../transform/index.js';

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

export class Engine {
  private readonly opts: EngineOptions;
  private readonly kafka: Kafka;
  private producer: GroupCommitProducer | null = null;
  private readonly running: RunningChannel[] = [];
  private transformProducer: GroupCommitProducer | null = null;
  private readonly transformWorkers: TransformWorker[] = [];

  constructor(opts: EngineOptions) {
    // Without Kafka there is no raw topic to transform.
    this.opts = opts.durability === 'none' ? { ...opts, transform: false } : opts;
    this.kafka = createKafka(opts.brokers, opts.logger);
  }

  get channels(): readonly RunningChannel[] {
    return this.running;
  }

  async start(): Promise<void> {
    const { logger, metrics, channels } = this.opts;
    // Mapping sets load before anything listens: a broken mapping refuses the start, with every
    // error's file:line:col, instead of dead-lettering each message later.
    const converters = this.transformConverters();
    const producer = new GroupCommitProducer(this.kafka, {
      onBatch: (records, seconds, ok) => {
        metrics.publishSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
        metrics.publishBatchRecords.observe(records);
      },
    });
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

    for (const channel of channels) {
      const dedupe = new DedupeMemory(channel.dedupe);
      if (durability === 'kafka' && channel.dedupe.windowSeconds > 0) {
        const entries = await recoverDedupe(this.kafka, channel.topics.raw, channel.dedupe);
        for (const e of entries) dedupe.remember(e.key, e.at);
        logger.info({ channel: channel.name, remembered: dedupe.size }, 'duplicate memory rebuilt from the raw topic');
      }
      const ingest = new Ingest(channel, { producer, dedupe, metrics, logger, durability });
      const name = channel.name;
      const allow = channel.listener.allowedAddresses ? new AddressAllowList(channel.listener.allowedAddresses) : null;
      const listener = new MllpListener(
        {
          channel: name,
          host: channel.listener.host,
          port: channel.listener.port,
          maxFrameBytes: channel.listener.maxFrameBytes,
          idleTimeoutSeconds: channel.listener.idleTimeoutSeconds,
          maxConnections: channel.listener.maxConnections,
          tls: channel.listener.tls,
          isAddressAllowed: (a) => (allow ? allow.allows(a) : true),
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
      const addr = await listener.listen();
      this.running.push({ channel, listener, ingest });
      logger.info({ channel: name, host: addr.address, port: addr.port, tls: channel.listener.tls !== null }, 'listening');
    }
    await this.startTransform(converters);
  }

  private transformConverters(): Array<{ channel: ChannelConfig; convert: MessageConverter }> {
    const setup = this.opts.transform;
    if (setup === false) return [];
    const options = {
      ...(setup?.mappingsRoot !== undefined ? { mappingsRoot: setup.mappingsRoot } : {}),
      ...(setup?.validate !== undefined ? { validate: setup.validate } : {}),
    };
    const pick = setup?.converterFor ?? ((c: ChannelConfig) => converterForChannel(c, options));
    const out: Array<{ channel: ChannelConfig; convert: MessageConverter }> = [];
    for (const channel of this.opts.channels) {
      const convert = pick(channel);
      if (convert) out.push({ channel, convert });
      else this.opts.logger.info({ channel: channel.name }, 'channel names no mapping set: raw messages are stored, not converted');
    }
    return out;
  }

  /** Transform writes get their own producer, so a burst of Bundles never delays an ACK's commit. */
  private async startTransform(converters: ReadonlyArray<{ channel: ChannelConfig; convert: MessageConverter }>): Promise<void> {
    if (converters.length === 0) return;
    const { logger, metrics } = this.opts;
    const producer = new GroupCommitProducer(this.kafka);
    this.transformProducer = producer;
    await producer.connect();
    await producer.learnTopics(converters.flatMap(({ channel }) => [channel.topics.fhir, channel.topics.dlq]));
    for (const { channel, convert } of converters) {
      const worker = new TransformWorker({ channel, kafka: this.kafka, publisher: producer, convert, logger, metrics });
      await worker.start();
      this.transformWorkers.push(worker);
    }
  }

  /** Transform workers leave their group after their writes are committed. */
  private async stopTransform(): Promise<void> {
    await Promise.all(this.transformWorkers.map((w) => w.stop()));
    this.transformWorkers.length = 0;
    if (this.transformProducer) await this.transformProducer.disconnect();
    this.transformProducer = null;
  }

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
    const probe = this.kafkaProbe;
    this.kafkaProbe = null;
    await probe?.close();
    await Promise.all([...this.running.map((r) => r.listener.close(graceMs)), this.stopTransform()]);
    this.running.length = 0;
    if (this.producer) await this.producer.disconnect();
    this.producer = null;
  }
}
