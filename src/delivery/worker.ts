/**
 * One destination's delivery: consumes its source topic and sends each record to the receiver,
 * committing the record's offset only once the receiver said AA (or the record was written to
 * `<destination>.dlq`). The Kafka offset is the queue: after a crash or a stop, every record not
 * committed is sent again, with the same MSH-10 (derived from topic/partition/offset).
 *
 * Order: a partition is handled one record at a time on a connection of its own, and a key
 * (the patient) always lands in the same partition, so records of one patient are never
 * reordered while different partitions go out in parallel (partitionsConsumedConcurrently).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { MllpSender, MllpSendError } from '../mllp/index.js';
import { encodeOutbound, generateMessage, passesFilter, type OutboundSet } from '../outbound/index.js';
import { deliver, type AttemptResult, type DeliveryOutcome, type SendFn } from './deliver.js';
import type { Destination } from './destination.js';
import { TokenBucket } from './throttle.js';
import { OUTBOUND_DLQ_CATEGORIES, type OutboundDeadLetter } from '../records/index.js';

export type { OutboundDeadLetter };

export interface DeliveryMetrics {
  /** Every send (first or retry), by what came back: one counter for "sent" and "ACK codes". */
  readonly attempts: Counter<'destination' | 'result'>;
  readonly outcomes: Counter<'destination' | 'outcome'>;
  readonly latency: Histogram<'destination'>;
  /** One send to its ACK (only sends that got one): the receiver's own speed, retries apart. */
  readonly ackLatency: Histogram<'destination'>;
  readonly retries: Counter<'destination'>;
  readonly deadLetters: Counter<'destination' | 'category'>;
  /** Per connection (one per partition): 1 when its last send got an ACK, 0 when it could not connect, lost the connection or timed out. */
  readonly connectionUp: Gauge<'destination' | 'connection'>;
  /** Records on the source topic not yet committed by the destination's group: its queue depth. */
  readonly lag: Gauge<'destination' | 'partition'>;
}

/**
 * hl7_outbound_* metrics. Labels are the destination's name (from its file), ACK codes, outcome
 * and DLQ categories, and partition numbers: never anything from a record (no PHI).
 */
export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  return {
    attempts: new Counter({ name: 'hl7_outbound_attempts_total', help: 'Messages sent (each attempt, retries included) by result: ACK code, timeout or connection', labelNames: ['destination', 'result'], registers: [registry] }),
    outcomes: new Counter({ name: 'hl7_outbound_records_total', help: 'Records finished by outcome (delivered, dead-letter reason, skipped by resource type, filtered by the destination filter)', labelNames: ['destination', 'outcome'], registers: [registry] }),
    latency: new Histogram({ name: 'hl7_outbound_delivery_seconds', help: 'From first send to AA, retries, backoff and throttle waits included', labelNames: ['destination'], registers: [registry] }),
    ackLatency: new Histogram({
      name: 'hl7_outbound_ack_latency_seconds',
      help: 'From one send to the receiver\'s ACK, for sends that got an ACK',
      labelNames: ['destination'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    retries: new Counter({ name: 'hl7_outbound_retries_total', help: 'Sends that repeat an earlier one (after AE, a timeout or a lost connection)', labelNames: ['destination'], registers: [registry] }),
    deadLetters: new Counter({ name: 'hl7_outbound_dead_letters_total', help: 'Records written to <destination>.dlq, by category (rejected, retries-exhausted, unsendable, mapping)', labelNames: ['destination', 'category'], registers: [registry] }),
    connectionUp: new Gauge({ name: 'hl7_outbound_connection_up', help: '1 when the connection\'s last send got an ACK, 0 when it could not connect, lost the connection or timed out', labelNames: ['destination', 'connection'], registers: [registry] }),
    lag: new Gauge({ name: 'hl7_outbound_lag_records', help: 'Source records not yet committed by the destination (its queue depth), per source partition', labelNames: ['destination', 'partition'], registers: [registry] }),
  };
}

export interface Connection {
  readonly send: SendFn;
  close(): Promise<void>;
}

export interface DeliveryWorkerOptions {
  readonly destination: Destination;
  readonly kafka: Kafka;
  /** The outbound set (null for pass-through destinations). */
  readonly outbound: OutboundSet | null;
  /** Partitions handled at once, each on its own connection; default 1. */
  readonly connections?: number;
  readonly metrics?: DeliveryMetrics;
  /** Opens a connection to the receiver; default: an MllpSender to the destination's target. */
  readonly connect?: () => Connection;
  readonly groupId?: string;
  /** How often the queue depth (hl7_outbound_lag_records) is read from Kafka; default 15 s. */
  readonly lagIntervalMs?: number;
}

const DEAD_LETTER_CATEGORIES = OUTBOUND_DLQ_CATEGORIES;

export function dlqTopicOf(d: Destination): string {
  return `${d.name}.dlq`;
}

class Stopped extends Error {}

export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions;
  #consumer: Consumer | null = null;
  #producer: Producer | null = null;
  #admin: Admin | null = null;
  #lagTimer: NodeJS.Timeout | null = null;
  #lagPoll: Promise<void> | null = null;
  readonly #connections = new Map<number, Connection>();
  #stopping = false;
  readonly #wakers = new Set<() => void>();
  /** Source partitions this member holds since the last rebalance; null before the first. */
  #assigned: ReadonlySet<number> | null = null;
  /** Partitions with a lag or connection series, so the ones no longer held can be removed. */
  readonly #series = new Set<number>();
  /** One per destination, shared by its connections; null without a throttle. */
  readonly #throttle: TokenBucket | null;

  constructor(opts: DeliveryWorkerOptions) {
    this.#o = opts;
    this.#throttle = opts.destination.throttle === null ? null : new TokenBucket(opts.destination.throttle);
  }

  async start(): Promise<void> {
    const d = this.#o.destination;
    this.#producer = this.#o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.#producer.connect();
    this.#consumer = this.#o.kafka.consumer({ groupId: this.#groupId() });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [d.source.topic], fromBeginning: true });
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (e) => this.#onAssigned(new Set(e.payload.memberAssignment[d.source.topic] ?? [])));
    await this.#consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.#o.connections ?? 1,
      eachMessage: async ({ topic, partition, message }) => {
        if (this.#stopping) throw new Stopped('stopping');
        await this.#handle(topic, partition, message.offset, message.key, message.value);
        await this.#consumer?.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
    const m = this.#o.metrics;
    if (m !== undefined) {
      // Series at 0 from the start, so the first dead letter or resend is an increase() that
      // alerts and panels see (a counter born at 1 looks unchanged to Prometheus).
      m.retries.inc({ destination: d.name }, 0);
      m.outcomes.inc({ destination: d.name, outcome: 'delivered' }, 0);
      if (d.source.filter !== null) m.outcomes.inc({ destination: d.name, outcome: 'filtered' }, 0);
      for (const category of DEAD_LETTER_CATEGORIES) m.deadLetters.inc({ destination: d.name, category }, 0);
      m.ackLatency.zero({ destination: d.name });
      m.latency.zero({ destination: d.name });
      this.#admin = this.#o.kafka.admin();
      await this.#admin.connect();
      this.#pollLag();
      this.#lagTimer = setInterval(() => this.#pollLag(), this.#o.lagIntervalMs ?? 15_000);
      this.#lagTimer.unref();
    }
  }

  /**
   * After a rebalance, the series of partitions another member now holds are removed: a gauge
   * left behind would show that member's queue or connection twice, and frozen at its last value.
   */
  #onAssigned(parts: ReadonlySet<number>): void {
    this.#assigned = parts;
    const m = this.#o.metrics;
    if (m === undefined) return;
    // The queue of newly held partitions shows at once, not at the next interval.
    this.#pollLag();
    for (const p of [...this.#series]) {
      if (parts.has(p)) continue;
      this.#removeSeries(m, p);
    }
  }

  #removeSeries(m: DeliveryMetrics, p: number): void {
    const name = this.#o.destination.name;
    m.lag.remove({ destination: name, partition: String(p) });
    m.connectionUp.remove({ destination: name, connection: String(p) });
    this.#series.delete(p);
  }

  #pollLag(): void {
    if (this.#admin === null || this.#stopping) return;
    this.#lagPoll ??= this.#readLag().finally(() => (this.#lagPoll = null));
  }

  #groupId(): string {
    return this.#o.groupId ?? `hl7-engine-deliver-${this.#o.destination.name}`;
  }

  /**
   * Queue depth from Kafka itself (end offsets minus the group's commits), not from the fetch
   * loop: a destination stuck on one record fetches nothing, and its queue must still be seen
   * to grow. A failed read keeps the last value (Kafka being down has its own alert).
   */
  async #readLag(): Promise<void> {
    const admin = this.#admin;
    const m = this.#o.metrics;
    if (admin === null || m === undefined) return;
    const d = this.#o.destination;
    try {
      const ends = await admin.fetchTopicOffsets(d.source.topic);
      const committed = (await admin.fetchOffsets({ groupId: this.#groupId(), topics: [d.source.topic] }))[0]?.partitions ?? [];
      for (const e of ends) {
        // Only what this member holds: other members report their own partitions.
        if (this.#assigned === null || !this.#assigned.has(e.partition)) continue;
        this.#series.add(e.partition);
        const c = committed.find((p) => p.partition === e.partition)?.offset ?? '-1';
        const from = BigInt(c) >= 0n ? BigInt(c) : BigInt(e.low);
        const lag = BigInt(e.high) - from;
        m.lag.set({ destination: d.name, partition: String(e.partition) }, Number(lag > 0n ? lag : 0n));
      }
    } catch {
      // Kept as it was; see above.
    }
  }

  /** Stops taking records; a record in flight is abandoned uncommitted and sent again after restart. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#lagTimer !== null) clearInterval(this.#lagTimer);
    await this.#lagPoll;
    await this.#admin?.disconnect();
    for (const wake of this.#wakers) wake();
    await Promise.all([...this.#connections.values()].map((c) => c.close()));
    await this.#consumer?.disconnect();
    await this.#producer?.disconnect();
    // A stopped worker's gauges would freeze at their last value; its counters stay (they only grow).
    const m = this.#o.metrics;
    if (m !== undefined) for (const p of [...this.#series]) this.#removeSeries(m, p);
  }

  #connection(partition: number): Connection {
    let c = this.#connections.get(partition);
    if (c === undefined) {
      c = this.#o.connect?.() ?? openConnection(this.#o.destination);
      this.#connections.set(partition, c);
    }
    return c;
  }

  #sleep = (ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (this.#stopping) return reject(new Stopped('stopping'));
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        reject(new Stopped('stopping'));
      };
      const timer = setTimeout(() => {
        this.#wakers.delete(wake);
        resolve();
      }, ms);
      this.#wakers.add(wake);
    });

  async #handle(topic: string, partition: number, offset: string, key: Buffer | null, value: Buffer | null): Promise<void> {
    const d = this.#o.destination;
    const m = this.#o.metrics;
    const source = { topic, partition, offset };
    let message: string | null;
    let controlId: string | null = null;
    if (d.mapping.passThrough) {
      message = value?.toString('utf8') ?? null;
    } else {
      const input = parseJson(value);
      if (d.source.resourceTypes !== null && !hasResourceType(input, d.source.resourceTypes)) {
        m?.outcomes.inc({ destination: d.name, outcome: 'skipped' });
        return;
      }
      if (d.source.filter !== null && this.#o.outbound !== null && !passesFilter(d.source.filter.condition, input, this.#o.outbound)) {
        m?.outcomes.inc({ destination: d.name, outcome: 'filtered' });
        return;
      }
      const r = buildOutboundMessage(d, this.#o.outbound, input, source);
      message = r.text;
      controlId = r.controlId;
      if (message === null) {
        await this.#deadLetter(key, { destination: d.name, source, failure: { category: 'mapping', message: 'no v2 message could be built from this record', ackCode: null, detail: r.detail, attempts: 0, at: new Date().toISOString() }, controlId: null, message: null });
        m?.outcomes.inc({ destination: d.name, outcome: 'mapping' });
        return;
      }
    }
    const bytes = message === null ? Buffer.alloc(0) : encodeOutbound(message, d.mapping.charset);
    const conn = this.#connection(partition);
    const send: SendFn = async (b) => {
      await this.#throttle?.take(this.#sleep);
      const sent = process.hrtime.bigint();
      const ack = await conn.send(b);
      m?.ackLatency.observe({ destination: d.name }, Number(process.hrtime.bigint() - sent) / 1e9);
      return ack;
    };
    const started = process.hrtime.bigint();
    let outcome: DeliveryOutcome;
    try {
      outcome = await deliver(bytes, send, d.retry, {
        sleep: this.#sleep,
        onAttempt: (result: AttemptResult, attempt: number) => {
          if (m === undefined) return;
          m.attempts.inc({ destination: d.name, result });
          if (attempt > 1) m.retries.inc({ destination: d.name });
          this.#series.add(partition);
          if (result !== 'other') m.connectionUp.set({ destination: d.name, connection: String(partition) }, result === 'timeout' || result === 'connection' ? 0 : 1);
        },
      });
    } catch (err) {
      if (err instanceof Stopped || (err instanceof MllpSendError && err.code === 'closed')) throw new Stopped('stopping');
      throw err;
    }
    if (outcome.kind === 'delivered') {
      m?.latency.observe({ destination: d.name }, Number(process.hrtime.bigint() - started) / 1e9);
      m?.outcomes.inc({ destination: d.name, outcome: 'delivered' });
      return;
    }
    const what = outcome.reason === 'rejected' ? `the receiver rejected the message (${outcome.ackCode ?? ''})` : outcome.reason === 'unsendable' ? 'the message has no MSH-10' : `no AA after ${outcome.attempts} attempts`;
    await this.#deadLetter(key, { destination: d.name, source, failure: { category: outcome.reason, message: what, ackCode: outcome.ackCode, detail: outcome.detail, attempts: outcome.attempts, at: new Date().toISOString() }, controlId, message });
    m?.outcomes.inc({ destination: d.name, outcome: outcome.reason });
  }

  async #deadLetter(key: Buffer | null, record: OutboundDeadLetter): Promise<void> {
    // Written (acks from all in-sync replicas) before the offset is committed: a crash between
    // the two sends the record again, never loses it.
    await this.#producer?.send({
      topic: dlqTopicOf(this.#o.destination),
      acks: -1,
      messages: [{ key, value: JSON.stringify(record), headers: { dlq_category: record.failure.category, dlq_stage: 'delivery' } }],
    });
    this.#o.metrics?.deadLetters.inc({ destination: record.destination, category: record.failure.category });
  }
}

/** The record's value as JSON; null when it is not JSON (the mapping then says what is missing). */
export function parseJson(value: Buffer | null): unknown {
  try {
    return JSON.parse(value?.toString('utf8') ?? 'null');
  } catch {
    return null;
  }
}

/**
 * The v2 message for one source record under the destination's mapping. MSH-10 derives from the
 * record's position (topic/partition/offset), so building it again later (a replay after a
 * mapping fix) gives the same control id the receiver may already have seen.
 */
export function buildOutboundMessage(
  d: Destination,
  set: OutboundSet | null,
  input: unknown,
  source: { readonly topic: string; readonly partition: number; readonly offset: string },
): { text: string | null; controlId: string | null; detail: string } {
  if (set === null) throw new Error(`destination ${d.name} has no outbound mapping set`);
  const m = d.mapping;
  const r = generateMessage(input, set, {
    sourceKey: `${source.topic}/${source.partition}/${source.offset}`,
    ...(m.message ? { mapping: m.message } : {}),
    ...(m.sendingApplication ? { sendingApplication: m.sendingApplication } : {}),
    ...(m.sendingFacility ? { sendingFacility: m.sendingFacility } : {}),
    ...(m.receivingApplication ? { receivingApplication: m.receivingApplication } : {}),
    ...(m.receivingFacility ? { receivingFacility: m.receivingFacility } : {}),
    charset: m.charset,
    ...(d.target.acknowledgment === 'enhanced' ? { acceptAckType: 'AL', applicationAckType: 'AL' } : {}),
  });
  return { text: r.text, controlId: r.controlId, detail: r.issues.map((i) => `${i.code}: ${i.message}`).join('\n') };
}

/** An MLLP connection to the destination's target (TLS when configured), one ACK at a time. */
export function openConnection(d: Destination): Connection {
  const t = d.target;
  const s = new MllpSender({ host: t.host, port: t.port, ackTimeoutMs: t.ackTimeoutMs, retries: 0, backoffMs: 0, ...(t.tls ? { tls: tlsOptions(t.tls) } : {}) });
  const applicationAck = t.acknowledgment === 'enhanced';
  return { send: (m: Buffer) => s.send(m, { applicationAck }), close: () => s.close() };
}

/** PEM files read once when the connection is made; a missing file fails loudly at connect. */
function tlsOptions(t: NonNullable<Destination['target']['tls']>): ConnectionOptions {
  return {
    ...(t.ca ? { ca: readFileSync(t.ca) } : {}),
    ...(t.cert ? { cert: readFileSync(t.cert) } : {}),
    ...(t.key ? { key: readFileSync(t.key) } : {}),
    ...(t.servername ? { servername: t.servername } : {}),
  };
}

function hasResourceType(input: unknown, types: readonly string[]): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const r = input as { resourceType?: unknown; entry?: unknown };
  if (typeof r.resourceType === 'string' && types.includes(r.resourceType)) return true;
  if (!Array.isArray(r.entry)) return false;
  return r.entry.some((e: unknown) => {
    const res = (e as { resource?: { resourceType?: unknown } } | null)?.resource;
    return typeof res?.resourceType === 'string' && types.includes(res.resourceType);
  });
}
