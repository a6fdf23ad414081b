/**
 * Group commit: every message waits for a Kafka acknowledgement (acks=all, idempotent producer)
 * before its ACK goes out, but messages from all connections share produce requests. While one
 * request is in flight, new records queue up and leave together in the next one, so throughput
 * grows with load instead of collapsing to one round trip per message, and a lone message does
 * not wait for a linger timer.
 */
import type { Kafka, Producer, Message, PartitionerArgs } from 'kafkajs';
import kafkajs from 'kafkajs';

const { Partitioners } = kafkajs;

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

export interface GroupCommitOptions {
  /** Records per produce request, at most. */
  readonly maxBatchRecords?: number;
  /** Bytes per produce request, roughly (one oversized record still goes alone). */
  readonly maxBatchBytes?: number;
  /** Called after each request with its size and duration (metrics). */
  readonly onBatch?: (records: number, seconds: number, ok: boolean) => void;
}

type PartitionMeta = PartitionerArgs['partitionMetadata'];

export class GroupCommitProducer {
  private producer: Producer;
  /** Set by a failed produce request: the next request goes through a new producer. */
  private renew = false;
  private readonly kafka: Kafka;
  private readonly queue: Pending[] = [];
  private inFlight = false;
  private closed = false;
  private readonly partitions = new Map<string, PartitionMeta>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly maxBatchRecords: number;
  private readonly maxBatchBytes: number;
  private readonly onBatch: GroupCommitOptions['onBatch'];
  private idle: Array<() => void> = [];

  constructor(kafka: Kafka, opts: GroupCommitOptions = {}) {
    this.kafka = kafka;
    this.maxBatchRecords = opts.maxBatchRecords ?? 2000;
    this.maxBatchBytes = opts.maxBatchBytes ?? 8 * 1024 * 1024;
    this.onBatch = opts.onBatch;
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Records carry an explicit partition from the same (Java-compatible) partitioner; naming
      // it here also keeps kafkajs from warning about its v2 default change at every start.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    });
  }

  /**
   * Kafka's idempotence check compares sequence ranges only. After a produce request that
   * failed, kafkajs can be behind the broker (the broker appended the request but its answer was
   * lost, and kafkajs rolled the sequence back), and its next request with the same range is
   * then acknowledged as a retry of the lost one without being written: an AA for bytes Kafka
   * does not hold (seen in the broker-outage test). A new producer has a new producer id and
   * starts its sequences afresh, so nothing it sends can be taken for the old one's. The old one
   * is let go without waiting: its broker may be the one that is down.
   */
  private async renewProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    void old.disconnect().catch(() => undefined);
    try {
      await this.producer.connect();
    } catch (err) {
      // Still unreachable: this one goes too, and the next request tries a new one again.
      void this.producer.disconnect().catch(() => undefined);
      throw err;
    }
    this.renew = false;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  /** Records how many partitions a topic has, so offsets can be told per record. */
  async learnTopics(topics: readonly string[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const md = await admin.fetchTopicMetadata({ topics: [...topics] });
      for (const t of md.topics) {
        this.partitions.set(t.name, t.partitions);
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
    await this.producer.disconnect();
  }

  private partitionFor(record: OutRecord): number | undefined {
    const meta = this.partitions.get(record.topic);
    if (!meta || meta.length === 0) return undefined;
    return this.partitioner({ topic: record.topic, partitionMetadata: meta, message: { key: record.key, value: null } });
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
    const byTopic = new Map<string, Message[]>();
    const partitionOf: Array<number | undefined> = [];
    for (const p of batch) {
      const partition = this.partitionFor(p.record);
      partitionOf.push(partition);
      let list = byTopic.get(p.record.topic);
      if (!list) byTopic.set(p.record.topic, (list = []));
      const msg: Message = { key: p.record.key, value: p.record.value, headers: { ...p.record.headers } };
      if (partition !== undefined) msg.partition = partition;
      list.push(msg);
    }
    const started = process.hrtime.bigint();
    try {
      if (this.renew) await this.renewProducer();
      const res = await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      this.onBatch?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9, true);
      const base = new Map<string, bigint>();
      for (const r of res) if (r.baseOffset !== undefined) base.set(`${r.topicName}\0${r.partition}`, BigInt(r.baseOffset));
      const seen = new Map<string, bigint>();
      batch.forEach((p, i) => {
        const partition = partitionOf[i];
        let offset = '-1';
        if (partition !== undefined) {
          const k = `${p.record.topic}\0${partition}`;
          const n = seen.get(k) ?? 0n;
          seen.set(k, n + 1n);
          const b = base.get(k);
          if (b !== undefined) offset = (b + n).toString();
        }
        p.resolve({ topic: p.record.topic, partition: partition ?? -1, offset });
      });
    } catch (err) {
      this.renew = true;
      this.onBatch?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9, false);
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(e);
    }
  }
}
