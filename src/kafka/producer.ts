/**
 * Group commit: every message waits for a Kafka acknowledgement (acks=all, idempotent producer)
 * before its ACK goes out, but messages from all connections share produce requests. While one
 * request is in flight, new records queue up and leave together in the next one, so throughput
 * grows with load instead of collapsing to one round trip per message, and a lone message does
 * not wait for a linger timer.
 *
 * Writes go through @platformatic/kafka (bench/KAFKA-CLIENTS.md: 1.3-5.6x the acknowledged
 * records/s of kafkajs on this path at 2-4x less CPU per record). kafkajs still serves the rest
 * (admin, consumers); here it only tells the producer where the brokers are and how many
 * partitions a topic has.
 */
import type { Kafka } from 'kafkajs';
import { Producer, type ProduceOptions, type ProduceResult, type ProducerInfo, type ProducerOptions, type SendOptions } from '@platformatic/kafka';
import { partitionForKey } from './murmur2.js';

export interface OutRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer | string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Where Kafka stored a record. */
export interface StoredAt {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export class PublishTimeoutError extends Error {
  constructor(ms: number) {
    super(`Kafka did not acknowledge within ${ms} ms`);
    this.name = 'PublishTimeoutError';
  }
}

interface Pending {
  readonly record: OutRecord;
  readonly bytes: number;
  readonly resolve: (at: StoredAt) => void;
  readonly reject: (err: Error) => void;
  /** Taken off the queue unsent after its timeout: it will never be stored. */
  readonly dropped: () => void;
  abandoned: boolean;
}

/** What the group commit needs of a client producer (a @platformatic/kafka Producer). */
export interface ProduceClient {
  initIdempotentProducer(options: ProduceOptions<Buffer, Buffer, Buffer, Buffer>): Promise<ProducerInfo>;
  send(options: SendOptions<Buffer, Buffer, Buffer, Buffer>): Promise<ProduceResult>;
  close(force?: boolean): Promise<void>;
}

export type ProduceClientFactory = (options: ProducerOptions<Buffer, Buffer, Buffer, Buffer>) => ProduceClient;

export interface GroupCommitOptions {
  /** Records per produce request, at most. */
  readonly maxBatchRecords?: number;
  /** Bytes per produce request, roughly (one oversized record still goes alone). */
  readonly maxBatchBytes?: number;
  /** Called after each request with its size and duration (metrics). */
  readonly onBatch?: (records: number, seconds: number, ok: boolean) => void;
  /** Makes each client producer (default: a @platformatic/kafka Producer); tests wrap it to hold or fail requests. */
  readonly createClient?: ProduceClientFactory;
  /** Client id the brokers see; default hl7-engine. */
  readonly clientId?: string;
}

const defaultClient: ProduceClientFactory = (options) => new Producer<Buffer, Buffer, Buffer, Buffer>(options);

export class GroupCommitProducer {
  private producer: ProduceClient | null = null;
  /** Set by a failed produce request: the next request goes through a new producer. */
  private renew = false;
  private opening: Promise<ProduceClient> | null = null;
  /** Bootstrap addresses for the client producers, learnt from the cluster at connect(). */
  private brokers: Promise<string[]> | null = null;
  private readonly kafka: Kafka;
  private readonly queue: Pending[] = [];
  private inFlight = false;
  private closed = false;
  /** Partitions per topic: the engine picks each record's partition itself. */
  private readonly partitions = new Map<string, number>();
  private readonly maxBatchRecords: number;
  private readonly maxBatchBytes: number;
  private readonly onBatch: GroupCommitOptions['onBatch'];
  private readonly createClient: ProduceClientFactory;
  private readonly clientId: string;
  private idle: Array<() => void> = [];

  constructor(kafka: Kafka, opts: GroupCommitOptions = {}) {
    this.kafka = kafka;
    this.maxBatchRecords = opts.maxBatchRecords ?? 2000;
    this.maxBatchBytes = opts.maxBatchBytes ?? 8 * 1024 * 1024;
    this.onBatch = opts.onBatch;
    this.createClient = opts.createClient ?? defaultClient;
    this.clientId = opts.clientId ?? 'hl7-engine';
  }

  /**
   * The brokers as the cluster advertises them (every client connects to these after its
   * bootstrap anyway), asked once through the kafkajs client the engine already configured, so
   * callers hand over the same `Kafka` as before the switch of client.
   */
  private bootstrap(): Promise<string[]> {
    if (!this.brokers) {
      this.brokers = (async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        try {
          const { brokers } = await admin.describeCluster();
          if (brokers.length === 0) throw new Error('Kafka answered with an empty broker list');
          return brokers.map((b) => `${b.host}:${b.port}`);
        } finally {
          await admin.disconnect();
        }
      })();
      // A failed look-up is asked again next time, not remembered.
      this.brokers.catch(() => (this.brokers = null));
    }
    return this.brokers;
  }

  private async newProducer(): Promise<ProduceClient> {
    const producer = this.createClient({
      clientId: this.clientId,
      bootstrapBrokers: await this.bootstrap(),
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      // Without a number here an idempotent producer retries forever; a request the broker
      // cannot take must fail, so its senders hear AE instead of waiting in silence.
      retries: 5,
      retryDelay: 200,
      connectTimeout: 3000,
      timeout: 15_000,
    });
    try {
      // Connects and takes a producer id now, so connect() fails loudly when Kafka is away.
      await producer.initIdempotentProducer({});
    } catch (err) {
      void producer.close(true).catch(() => undefined);
      throw err;
    }
    return producer;
  }

  /**
   * Kafka's idempotence check compares sequence ranges only. After a produce request that
   * failed, the client can be behind the broker (the broker appended the request but its answer
   * was lost, and the client advances a partition's sequence only on success), and its next
   * request with the same range is then acknowledged as a retry of the lost one without being
   * written: an AA for bytes Kafka does not hold (seen in the broker-outage test with kafkajs;
   * @platformatic/kafka counts sequences the same way). A new producer has a new producer id and
   * starts its sequences afresh, so nothing it sends can be taken for the old one's. The old one
   * is let go without waiting: its broker may be the one that is down.
   */
  private current(): Promise<ProduceClient> {
    if (this.producer && !this.renew) return Promise.resolve(this.producer);
    // connect() and the first request may ask at once: both get the one producer being made.
    this.opening ??= (async () => {
      const old = this.producer;
      this.producer = null;
      if (old) void old.close(true).catch(() => undefined);
      // Still unreachable: newProducer() throws, and the next request tries a new one again.
      const made = await this.newProducer();
      this.producer = made;
      this.renew = false;
      return made;
    })().finally(() => (this.opening = null));
    return this.opening;
  }

  async connect(): Promise<void> {
    await this.current();
  }

  /** Records how many partitions a topic has, so each record's partition is the engine's choice. */
  async learnTopics(topics: readonly string[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const md = await admin.fetchTopicMetadata({ topics: [...topics] });
      for (const t of md.topics) {
        if (t.partitions.length > 0) this.partitions.set(t.name, t.partitions.length);
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Resolves once Kafka has the record (acks=all); rejects on failure or after `timeoutMs`.
   * `onStored` runs whenever Kafka does acknowledge the record, even after the timeout already
   * rejected the promise: a record sent just before the timeout may still land. `onNotStored`
   * runs instead once it is certain the record will not land from this call (dropped from the
   * queue after its timeout, or the write failed): exactly one of the two runs, eventually.
   */
  publish(record: OutRecord, timeoutMs: number, onStored?: (at: StoredAt) => void, onNotStored?: () => void): Promise<StoredAt> {
    if (this.closed) {
      onNotStored?.();
      return Promise.reject(new Error('producer is closed'));
    }
    return new Promise<StoredAt>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const entry: Pending = {
        record,
        bytes: (typeof record.value === 'string' ? Buffer.byteLength(record.value) : record.value.length) + record.key.length,
        resolve: (at) => {
          if (timer) clearTimeout(timer);
          onStored?.(at);
          resolve(at);
        },
        reject: (err) => {
          if (timer) clearTimeout(timer);
          onNotStored?.();
          reject(err);
        },
        dropped: () => onNotStored?.(),
        abandoned: false,
      };
      timer = setTimeout(() => {
        // Still queued: dropped by flush(), the sender will resend after its AE. Already sent: it
        // may still land, which the duplicate memory absorbs when the sender resends.
        entry.abandoned = true;
        reject(new PublishTimeoutError(timeoutMs));
      }, timeoutMs);
      this.queue.push(entry);
      this.flush();
    });
  }

  /** Waits until nothing is queued or in flight (graceful shutdown). */
  drained(): Promise<void> {
    if (!this.inFlight && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  async disconnect(): Promise<void> {
    await this.drained();
    this.closed = true;
    const producer = this.producer;
    this.producer = null;
    if (producer) await producer.close(true);
  }

  private flush(): void {
    if (this.inFlight) return;
    const batch: Pending[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < this.maxBatchRecords) {
      const next = this.queue[0]!;
      if (next.abandoned) {
        this.queue.shift();
        next.dropped();
        continue;
      }
      if (batch.length > 0 && bytes + next.bytes > this.maxBatchBytes) break;
      this.queue.shift();
      batch.push(next);
      bytes += next.bytes;
    }
    if (batch.length === 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
      return;
    }
    this.inFlight = true;
    void this.send(batch).finally(() => {
      this.inFlight = false;
      this.flush();
    });
  }

  private async send(batch: Pending[]): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      const unknown = [...new Set(batch.map((p) => p.record.topic).filter((t) => !this.partitions.has(t)))];
      if (unknown.length > 0) await this.learnTopics(unknown);
      const partitionOf = batch.map((p) => {
        const count = this.partitions.get(p.record.topic);
        if (count === undefined) throw new Error(`Kafka reports no partitions for topic ${p.record.topic}`);
        return partitionForKey(p.record.key, count);
      });
      const messages = batch.map((p, i) => ({
        topic: p.record.topic,
        partition: partitionOf[i]!,
        key: Buffer.from(p.record.key, 'utf8'),
        value: typeof p.record.value === 'string' ? Buffer.from(p.record.value, 'utf8') : p.record.value,
        headers: new Map(Object.entries(p.record.headers).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')])),
      }));
      const producer = await this.current();
      const res = await producer.send({ messages, acks: -1 });
      this.onBatch?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9, true);
      const base = new Map<string, bigint>();
      for (const r of res.offsets ?? []) base.set(`${r.topic}\0${r.partition}`, BigInt(r.offset));
      const seen = new Map<string, bigint>();
      batch.forEach((p, i) => {
        const partition = partitionOf[i]!;
        const k = `${p.record.topic}\0${partition}`;
        const n = seen.get(k) ?? 0n;
        seen.set(k, n + 1n);
        const b = base.get(k);
        p.resolve({ topic: p.record.topic, partition, offset: b === undefined ? '-1' : (b + n).toString() });
      });
    } catch (err) {
      this.renew = true;
      this.onBatch?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9, false);
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(e);
    }
  }
}
