/**
 * A transform worker: one member of the channel's consumer group on `<channel>.raw`. It converts
 * each raw record and publishes a Bundle to `<channel>.fhir` or a dead letter to `<channel>.dlq`,
 * with the raw record's key, so one patient's messages stay on one partition and in order.
 *
 * Delivery is at-least-once with idempotent output: a raw offset is committed only after Kafka
 * acknowledged what it produced. A crash between the two means the record is converted again on
 * redelivery, and because conversion and headers are deterministic the repeat is byte-identical
 * (same key, value and headers), which downstream upserts absorb. A write that fails (fhir or
 * dlq) is retried with backoff and nothing after it is committed, so progress stops rather than
 * a record being skipped.
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import type { OutRecord, StoredAt } from '../kafka/index.js';
import type { EngineMetrics } from '../ops/metrics.js';
import { capForLog, type Logger } from '../ops/logger.js';
import { HEADERS } from '../records/index.js';
import { convertedRecord, transformRecord, type ConvertedRecord } from './transform-record.js';
import { converterSpecOf } from './mapping-converter.js';
import type { ConversionPool } from './pool.js';
import { poolItem, type PoolResult } from './pool-protocol.js';
import { backoffDelay } from '../kafka/retry.js';
import type { MessageConverter, RecordPublisher } from './types.js';
import type { MemberEvents, MemberStopped, StopReason } from './supervisor.js';

export interface TransformWorkerOptions {
  readonly channel: ChannelConfig;
  readonly kafka: Kafka;
  readonly publisher: RecordPublisher;
  /** A converter, or the converters of a supervised stage (shared by its successive workers). */
  readonly convert: MessageConverter | ConverterEras;
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Default `hl7-engine-transform-<channel>`; every worker of a channel must share it. */
  readonly groupId?: string;
  /** How long one fhir/dlq write may wait for Kafka before it counts as failed. Default 30 s. */
  readonly publishTimeoutMs?: number;
  /** Backoff between retries of a failed write: doubles from `initial` up to `max`. */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  /** Raw partitions this worker converts at the same time (order is kept within each). Default 3. */
  readonly partitionsConcurrently?: number;
  /**
   * How long the group waits for a silent member before handing its partitions to the others
   * (Kafka's session timeout; default 30 s, broker minimum usually 6 s).
   */
  readonly sessionTimeoutMs?: number;
  /**
   * True while senders are waiting for ACKs in this process. Conversion then pauses as long as it
   * ran after each slice, so ingest keeps at least half of the event loop: an ACK is the sender's
   * deadline, a Bundle only lags.
   */
  readonly ingestBusy?: () => boolean;
  /**
   * Given by a supervisor (supervisor.ts): the worker reports when it consumes and when its
   * consumer stopped for good, and kafkajs' own restart is turned off, so a stopped consumer is
   * replaced by a new one in one place only. Without it kafkajs restarts what it considers
   * retriable and gives up on the rest.
   */
  readonly events?: MemberEvents;
  /**
   * Supervised only: a consumer that neither fetched, heartbeated nor worked on a batch for this
   * long is reported stopped (`stalled`) so a new one replaces it. kafkajs fetches at least every
   * few seconds while healthy, and a rebalance takes at most its 60 s timeout, so this only catches
   * a consumer wedged without an error. Default 120 s.
   */
  readonly stallAfterMs?: number;
  /**
   * Conversion threads (pool.ts) shared by the process's transform workers; without one, or for
   * a converter not built from a mapping set, records are converted on this thread's event loop.
   * Either way records are published and committed here, in offset order.
   */
  readonly pool?: ConversionPool | null;
}

/**
 * Conversion is synchronous CPU work; ingest shares the process and its ACKs wait on the event
 * loop, so a batch gives way at least this often (ms) instead of holding the loop for seconds.
 */
const YIELD_EVERY_MS = 10;

/** Records per conversion thread handed over ahead of publishing (see handleBatch). */
const POOL_WINDOW_PER_THREAD = 64;

const TIMED_OUT: unique symbol = Symbol('timed out');

/** `p`'s value, or TIMED_OUT after `ms` (the timer cleared either way). */
function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The consumer group all transform workers of a channel join. */
export function transformGroupId(channel: string): string {
  return `hl7-engine-transform-${channel}`;
}

/**
 * A converter and the raw offsets (per partition) from which it applies. Hot reload appends one;
 * choosing by raw offset, not by the moment of conversion, means a message Kafka held before the
 * reload is converted with the old mapping even if the worker reaches it afterwards, and a
 * redelivered record gets the same converter (and so the same bytes) again.
 */
interface ConverterEra {
  readonly convert: MessageConverter;
  /** Partition → first offset; a partition not listed (created later) starts at 0. */
  readonly from: ReadonlyMap<number, bigint>;
}

/**
 * The converters of one channel's transform, by raw offset. Held outside the worker so a worker
 * started to replace a crashed one converts every record with the converter its predecessor
 * would have used: a redelivered record gives the same bytes.
 */
export class ConverterEras {
  /** Oldest first; the first era applies from offset 0 everywhere. */
  private eras: ConverterEra[];
  /** Past era `i`'s start on every partition it names, nothing older is needed here again. */
  private readonly reached = new Map<number, bigint>();

  constructor(convert: MessageConverter) {
    this.eras = [{ convert, from: new Map() }];
  }

  /** Records at or after `from` (partition → offset) use `convert`. */
  add(convert: MessageConverter, from: ReadonlyMap<number, string>): void {
    const bounds = new Map<number, bigint>();
    for (const [partition, offset] of from) bounds.set(partition, BigInt(offset));
    this.eras.push({ convert, from: bounds });
  }

  /** The converter for records stored from now on. */
  get current(): MessageConverter {
    return this.eras[this.eras.length - 1]!.convert;
  }

  for(partition: number, offset: string): MessageConverter {
    const at = BigInt(offset);
    for (let i = this.eras.length - 1; i > 0; i--) {
      const era = this.eras[i]!;
      if (at >= (era.from.get(partition) ?? 0n)) {
        this.forgetErasBefore(i, partition, at);
        return era.convert;
      }
    }
    return this.eras[0]!.convert;
  }

  private forgetErasBefore(i: number, partition: number, at: bigint): void {
    const was = this.reached.get(partition);
    if (was === undefined || at > was) this.reached.set(partition, at);
    const era = this.eras[i]!;
    for (const [p, start] of era.from) {
      const seen = this.reached.get(p);
      if (seen === undefined || seen < start) return;
    }
    this.eras = this.eras.slice(i);
  }
}

/** An error's name and, for a Kafka protocol error, its code name (never its message). */
function errorLabel(err: Error): string {
  const type = (err as Error & { type?: unknown }).type;
  return typeof type === 'string' ? `${err.name}(${type})` : err.name;
}

/**
 * Why a kafkajs consumer stopped, as one of a few fixed reasons (the error text can carry topic
 * names and broker detail; it goes to the log line, never to a label).
 */
export function stopReasonOf(err: unknown): StopReason {
  const chain: Array<{ name?: string; type?: string }> = [];
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    chain.push(e as { name?: string; type?: string });
    e = (e as { cause?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
  const has = (test: (e: { name?: string; type?: string }) => boolean) => chain.some(test);
  if (has((e) => ['FENCED_INSTANCE_ID', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED'].includes(e.type ?? ''))) return 'fenced';
  if (has((e) => e.type === 'REBALANCE_IN_PROGRESS' || e.name === 'KafkaJSRebalanceInProgress')) return 'rebalance';
  const connection = new Set([
    'KafkaJSConnectionError',
    'KafkaJSConnectionClosedError',
    'KafkaJSNoBrokerAvailableError',
    'KafkaJSRequestTimeoutError',
    'KafkaJSBrokerNotFound',
    'KafkaJSGroupCoordinatorNotFound',
    'KafkaJSMetadataNotLoaded',
  ]);
  // kafkajs' names for the broker-side "not available right now" codes (a coordinator moving or
  // loading after a broker restart).
  const unavailable = new Set([
    'GROUP_COORDINATOR_NOT_AVAILABLE',
    'NOT_COORDINATOR_FOR_GROUP',
    'GROUP_LOAD_IN_PROGRESS',
    'LEADER_NOT_AVAILABLE',
    'NOT_LEADER_FOR_PARTITION',
    'BROKER_NOT_AVAILABLE',
    'REPLICA_NOT_AVAILABLE',
    'REQUEST_TIMED_OUT',
    'NETWORK_EXCEPTION',
    'UNKNOWN_TOPIC_OR_PARTITION',
  ]);
  if (has((e) => connection.has(e.name ?? '') || unavailable.has(e.type ?? ''))) return 'connection';
  return 'crash';
}

interface Pending {
  readonly offset: string;
  readonly outcome: ConvertedRecord;
  done: Promise<StoredAt>;
}

export class TransformWorker {
  private readonly opts: TransformWorkerOptions;
  private readonly consumer: Consumer;
  private readonly channelName: string;
  private readonly publishTimeoutMs: number;
  private aborted = false;
  private stopping = false;
  private wakeSleepers: Array<() => void> = [];
  private readonly eras: ConverterEras;

  constructor(opts: TransformWorkerOptions) {
    this.opts = opts;
    this.eras = opts.convert instanceof ConverterEras ? opts.convert : new ConverterEras(opts.convert);
    this.channelName = opts.channel.name;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.consumer = opts.kafka.consumer({
      groupId: opts.groupId ?? transformGroupId(opts.channel.name),
      allowAutoTopicCreation: false,
      ...(opts.sessionTimeoutMs !== undefined ? { sessionTimeout: opts.sessionTimeoutMs, heartbeatInterval: Math.max(500, Math.floor(opts.sessionTimeoutMs / 5)) } : {}),
      // Kafka decodes a whole fetch response on this event loop, which also answers MLLP: a 16 MiB
      // fetch of backlog held ACKs for 100-350 ms. Small fetches keep each decode short; a raw
      // record larger than the limit still arrives, since the broker always returns the first batch
      // of a partition whole (KIP-74), so frames up to the 64 MiB topic limit still go through.
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 4 * 1024 * 1024,
      ...(opts.events ? { retry: { restartOnFailure: async () => false } } : {}),
    });
    const events = opts.events;
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const err = e.payload.error;
      opts.logger.error(
        { channel: this.channelName, err: err.name, reason: err.message, restart: !events && e.payload.restart },
        events
          ? 'transform consumer stopped; a new one will take over and convert the uncommitted raw records again'
          : 'transform consumer crashed; uncommitted raw records will be converted again',
      );
      this.report?.({ reason: stopReasonOf(err), error: errorLabel(err) });
    });
    if (events) {
      const reported = (why: MemberStopped) => {
        if (this.stopping || this.aborted || this.reportedStop) return;
        this.reportedStop = true;
        this.stopWatchdog();
        events.stopped(why);
      };
      this.report = reported;
      this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
        this.touch();
        events.up();
      });
      // kafkajs disconnects before it emits CRASH: the CRASH (a few microtasks later) names the
      // reason; a disconnect with no CRASH behind it is a stop nobody asked for, reported all the same.
      this.consumer.on(this.consumer.events.DISCONNECT, () => {
        setImmediate(() => reported({ reason: 'crash', error: 'UnrequestedDisconnect' }));
      });
      for (const e of [this.consumer.events.FETCH_START, this.consumer.events.HEARTBEAT, this.consumer.events.START_BATCH_PROCESS, this.consumer.events.END_BATCH_PROCESS, this.consumer.events.REBALANCING]) {
        this.consumer.on(e, () => this.touch());
      }
    }
  }

  private reportedStop = false;
  private report: ((why: MemberStopped) => void) | null = null;
  private lastActivity = Date.now();
  private batchesInHand = 0;
  private watchdog: NodeJS.Timeout | null = null;

  private touch(): void {
    this.lastActivity = Date.now();
  }

  /** Supervised only: reports a consumer that went quiet without an error (see stallAfterMs). */
  private startWatchdog(): void {
    const report = this.report;
    if (!report) return;
    const stallAfterMs = this.opts.stallAfterMs ?? 120_000;
    this.touch();
    this.watchdog = setInterval(() => {
      if (this.batchesInHand === 0 && Date.now() - this.lastActivity > stallAfterMs) {
        this.opts.logger.warn({ channel: this.channelName, quietMs: Date.now() - this.lastActivity }, 'transform consumer stopped fetching without an error');
        report({ reason: 'stalled', error: 'Stalled' });
      }
    }, Math.max(100, Math.min(10_000, Math.floor(stallAfterMs / 4))));
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /** Joins the consumer group and starts converting; resolves once consuming has begun. */
  async start(): Promise<void> {
    const { channel } = this.opts;
    await this.consumer.connect();
    // A new group starts at the beginning of the raw topic: messages stored before the channel
    // had a mapping (or before the first worker ran) are converted, not skipped.
    await this.consumer.subscribe({ topics: [channel.topics.raw], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConcurrently ?? 3,
      eachBatch: async (payload) => {
        this.batchesInHand++;
        try {
          await this.handleBatch(payload);
        } finally {
          this.batchesInHand--;
          this.touch();
        }
      },
    });
    this.startWatchdog();
    this.opts.logger.info(
      { channel: channel.name, raw: channel.topics.raw, fhir: channel.topics.fhir, dlq: channel.topics.dlq },
      'transform worker started',
    );
  }

  /** Finishes the records in hand (their writes acknowledged and committed), then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopWatchdog();
    this.wake();
    await this.consumer.disconnect();
  }

  /**
   * Stops at once, committing nothing more, as a crash would: whatever was published but not
   * committed is converted again by the next member of the group.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    this.stopWatchdog();
    this.wake();
    await this.consumer.disconnect();
  }

  /**
   * Hot reload: raw records at or after `from` (partition → offset, e.g. the raw topic's end
   * offsets when the reload was applied) are converted with `convert`, earlier ones as before.
   * Takes effect between two messages; never in the middle of one.
   */
  setConverter(convert: MessageConverter, from: ReadonlyMap<number, string>): void {
    this.eras.add(convert, from);
    const spec = converterSpecOf(convert);
    if (spec) void this.opts.pool?.prepare(spec);
  }

  /** The converter for records stored from now on (the latest setConverter, else the first). */
  get currentConverter(): MessageConverter {
    return this.eras.current;
  }

  private wake(): void {
    const w = this.wakeSleepers;
    this.wakeSleepers = [];
    for (const f of w) f();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeSleepers.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private live(p: EachBatchPayload): boolean {
    return !this.aborted && !this.stopping && p.isRunning() && !p.isStale();
  }

  /** Converts one record on this thread. */
  private convertHere(topic: string, partition: number, m: KafkaMessage): ConvertedRecord {
    const started = process.hrtime.bigint();
    const outcome = transformRecord(m, { topic, partition, offset: m.offset }, { channel: this.opts.channel, convert: this.eras.for(partition, m.offset) });
    return convertedRecord(outcome, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private observe(outcome: ConvertedRecord): void {
    const { metrics } = this.opts;
    const channel = this.channelName;
    metrics.conversionSeconds.observe({ channel, outcome: outcome.kind }, outcome.seconds);
    for (const issue of outcome.issues) {
      metrics.conversionIssues.inc({ channel, code: issue.code });
      if (issue.code === 'unknown-code' && issue.table) metrics.unknownCodes.inc({ channel, table: issue.table });
    }
  }

  /**
   * Hands a batch to the conversion threads: per record, a promise of its converted record (null:
   * convert it here), or undefined for a record whose converter exists only in this thread.
   * Consecutive records of one mapping set go in one submission.
   */
  private submitToPool(pool: ConversionPool, topic: string, partition: number, messages: readonly KafkaMessage[]): Array<Promise<PoolResult> | undefined> {
    const out: Array<Promise<PoolResult> | undefined> = new Array(messages.length);
    const { name, topics } = this.opts.channel;
    let i = 0;
    while (i < messages.length) {
      const spec = converterSpecOf(this.eras.for(partition, messages[i]!.offset));
      let j = i + 1;
      while (j < messages.length && converterSpecOf(this.eras.for(partition, messages[j]!.offset)) === spec) j++;
      if (spec) {
        const items = messages.slice(i, j).map((m) => poolItem(m, topic, partition));
        pool.submit(spec, { name, topics }, items).forEach((p, k) => {
          out[i + k] = p;
        });
      }
      i = j;
    }
    return out;
  }

  private publish(record: OutRecord): Promise<StoredAt> {
    const done = this.opts.publisher.publish(record, this.publishTimeoutMs);
    // Awaited later, in offset order; this keeps a failure seen before its turn from being
    // reported as unhandled.
    done.catch(() => undefined);
    return done;
  }

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const { topic, partition } = batch;
    this.opts.metrics.transformLag.set({ channel: this.channelName, partition: String(partition) }, Number(batch.offsetLag()));
    const pool = this.opts.pool;
    const messages = batch.messages;
    // The threads get the batch a window at a time, one window ahead of what is being published:
    // enough to keep every thread busy, and little to throw away when the batch goes stale (a
    // rebalance) or the worker stops, since a thread cannot drop what was already sent to it.
    const window = pool ? pool.size * POOL_WINDOW_PER_THREAD : 0;
    const pooled: Array<Promise<PoolResult> | undefined> = [];
    let submitted = 0;
    const submitNext = () => {
      if (!pool || submitted >= messages.length || !this.live(p)) return;
      const next = messages.slice(submitted, submitted + window);
      pooled.push(...this.submitToPool(pool, topic, partition, next));
      submitted += next.length;
    };
    submitNext();
    const pending: Pending[] = [];
    let beat = Date.now();
    let slice = beat;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (!this.live(p)) break;
      if (pool && i % window === 0) submitNext();
      const inThread = pooled[i];
      let fromThread: PoolResult = null;
      if (inThread) {
        // A thread may take long on a busy machine (it runs at a lower priority): keep the group
        // session alive meanwhile, or the partition would be handed away mid-batch.
        for (;;) {
          const r = await within(inThread, 1000);
          if (r !== TIMED_OUT) {
            fromThread = r;
            break;
          }
          if (!this.live(p)) break;
          await p.heartbeat();
          beat = Date.now();
        }
        if (!this.live(p)) break;
      }
      // Awaiting a thread gives the event loop back; converting here does not, hence the slices.
      const outcome = fromThread ?? this.convertHere(topic, partition, m);
      this.observe(outcome);
      pending.push({ offset: m.offset, outcome, done: this.publish(outcome.record) });
      const now = Date.now();
      if (fromThread === null && now - slice >= YIELD_EVERY_MS) {
        if (this.opts.ingestBusy?.()) await sleep(now - slice);
        else await yieldToEventLoop();
        slice = Date.now();
      } else if (fromThread !== null) {
        slice = now;
      }
      if (now - beat > 1000) {
        await p.heartbeat();
        beat = Date.now();
      }
    }
    await this.settle(p, pending);
  }

  /**
   * Waits for the writes in offset order and commits after the last acknowledged one. A failed
   * write is retried (with everything after it, in order) until it succeeds or the worker stops;
   * records after a failure are never committed before it.
   */
  private async settle(p: EachBatchPayload, pending: Pending[]): Promise<void> {
    const { partition } = p.batch;
    const backoff = this.opts.retryBackoffMs ?? { initial: 500, max: 30_000 };
    let failures = 0;
    let delay = 0;
    let from = 0;
    while (from < pending.length) {
      let acked: string | null = null;
      let failure: unknown = null;
      let i = from;
      for (; i < pending.length; i++) {
        const item = pending[i]!;
        try {
          await item.done;
        } catch (err) {
          failure = err;
          break;
        }
        acked = item.offset;
        this.count(item.outcome);
      }
      if (acked !== null) await this.commit(p, acked);
      if (failure === null) return;

      const failed = pending[i]!;
      // Full jitter: workers that lost the broker together do not all come back at the same instant.
      delay = backoffDelay({ initialMs: backoff.initial, maxMs: backoff.max }, ++failures);
      this.opts.metrics.transformPublishFailures.inc({ channel: this.channelName });
      this.opts.logger.warn(
        {
          channel: this.channelName,
          partition,
          offset: failed.offset,
          target: failed.outcome.record.topic,
          err: failure instanceof Error ? failure.message : String(failure),
          retryInMs: delay,
        },
        'could not write a transform result; retrying, and committing nothing after this raw record',
      );
      await this.sleepWithHeartbeat(p, delay);
      if (!this.live(p)) return;
      for (let j = i; j < pending.length; j++) pending[j]!.done = this.publish(pending[j]!.outcome.record);
      from = i;
    }
  }

  private async sleepWithHeartbeat(p: EachBatchPayload, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until && this.live(p)) {
      await this.sleep(Math.min(1000, until - Date.now()));
      if (this.live(p)) await p.heartbeat();
    }
  }

  private async commit(p: EachBatchPayload, offset: string): Promise<void> {
    if (this.aborted) return;
    const { topic, partition } = p.batch;
    p.resolveOffset(offset);
    await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(offset) + 1n).toString() }] }] });
  }

  private count(outcome: ConvertedRecord): void {
    const { metrics, logger } = this.opts;
    const channel = this.channelName;
    if (outcome.kind === 'bundle') {
      metrics.bundlesPublished.inc({ channel });
      return;
    }
    metrics.dlq.inc({ channel, category: outcome.category });
    logger.info(
      { channel, category: outcome.category, controlId: capForLog(outcome.controlId ?? undefined), type: capForLog(outcome.record.headers[HEADERS.messageType]) },
      'raw record dead-lettered by the transform',
    );
  }
}
