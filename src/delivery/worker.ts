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
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { Counter, Histogram, type Registry } from 'prom-client';
import { MllpSender, MllpSendError } from '../mllp/index.js';
import { encodeOutbound, generateMessage, type OutboundSet } from '../outbound/index.js';
import { deliver, type AttemptResult, type DeliveryOutcome, type SendFn } from './deliver.js';
import type { Destination } from './destination.js';

export interface DeliveryMetrics {
  readonly attempts: Counter<'destination' | 'result'>;
  readonly outcomes: Counter<'destination' | 'outcome'>;
  readonly latency: Histogram<'destination'>;
}

/** hl7_outbound_* metrics, labelled by destination and ACK code / outcome only (no PHI). */
export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  return {
    attempts: new Counter({ name: 'hl7_outbound_attempts_total', help: 'Send attempts by result (ACK code, timeout, connection)', labelNames: ['destination', 'result'], registers: [registry] }),
    outcomes: new Counter({ name: 'hl7_outbound_records_total', help: 'Records finished by outcome (delivered, dead-letter reason, skipped)', labelNames: ['destination', 'outcome'], registers: [registry] }),
    latency: new Histogram({ name: 'hl7_outbound_delivery_seconds', help: 'From first send to AA, retries included', labelNames: ['destination'], registers: [registry] }),
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
}

/** What is written to `<destination>.dlq` (the v2 message included, so it can be sent again). */
export interface OutboundDeadLetter {
  readonly destination: string;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly failure: {
    readonly category: 'rejected' | 'retries-exhausted' | 'unsendable' | 'mapping';
    readonly message: string;
    readonly ackCode: string | null;
    /** The receiver's ERR segments and MSA-3 (its own words), or the mapping issues. */
    readonly detail: string;
    readonly attempts: number;
    readonly at: string;
  };
  readonly controlId: string | null;
  /** The v2 message as sent (null when none could be built). */
  readonly message: string | null;
}

export function dlqTopicOf(d: Destination): string {
  return `${d.name}.dlq`;
}

class Stopped extends Error {}

export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions;
  #consumer: Consumer | null = null;
  #producer: Producer | null = null;
  readonly #connections = new Map<number, Connection>();
  #stopping = false;
  readonly #wakers = new Set<() => void>();

  constructor(opts: DeliveryWorkerOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    const d = this.#o.destination;
    this.#producer = this.#o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.#producer.connect();
    this.#consumer = this.#o.kafka.consumer({ groupId: this.#o.groupId ?? `hl7-engine-deliver-${d.name}` });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [d.source.topic], fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.#o.connections ?? 1,
      eachMessage: async ({ topic, partition, message }) => {
        if (this.#stopping) throw new Stopped('stopping');
        await this.#handle(topic, partition, message.offset, message.key, message.value);
        await this.#consumer?.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
  }

  /** Stops taking records; a record in flight is abandoned uncommitted and sent again after restart. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const wake of this.#wakers) wake();
    await Promise.all([...this.#connections.values()].map((c) => c.close()));
    await this.#consumer?.disconnect();
    await this.#producer?.disconnect();
  }

  #connection(partition: number): Connection {
    let c = this.#connections.get(partition);
    if (c === undefined) {
      const t = this.#o.destination.target;
      c =
        this.#o.connect?.() ??
        (() => {
          const s = new MllpSender({ host: t.host, port: t.port, ackTimeoutMs: t.ackTimeoutMs, retries: 0, backoffMs: 0, ...(t.tls ? { tls: tlsOptions(t.tls) } : {}) });
          return { send: (m: Buffer) => s.send(m), close: () => s.close() };
        })();
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
      let input: unknown = null;
      try {
        input = JSON.parse(value?.toString('utf8') ?? 'null');
      } catch {
        input = null;
      }
      if (d.source.resourceTypes !== null && !hasResourceType(input, d.source.resourceTypes)) {
        m?.outcomes.inc({ destination: d.name, outcome: 'skipped' });
        return;
      }
      const set = this.#o.outbound;
      if (set === null) throw new Error(`destination ${d.name} has no outbound mapping set`);
      const r = generateMessage(input, set, {
        sourceKey: `${topic}/${partition}/${offset}`,
        ...(d.mapping.message ? { mapping: d.mapping.message } : {}),
        ...(d.mapping.sendingApplication ? { sendingApplication: d.mapping.sendingApplication } : {}),
        ...(d.mapping.sendingFacility ? { sendingFacility: d.mapping.sendingFacility } : {}),
        ...(d.mapping.receivingApplication ? { receivingApplication: d.mapping.receivingApplication } : {}),
        ...(d.mapping.receivingFacility ? { receivingFacility: d.mapping.receivingFacility } : {}),
        charset: d.mapping.charset,
      });
      message = r.text;
      controlId = r.controlId;
      if (message === null) {
        const detail = r.issues.map((i) => `${i.code}: ${i.message}`).join('\n');
        await this.#deadLetter(key, { destination: d.name, source, failure: { category: 'mapping', message: 'no v2 message could be built from this record', ackCode: null, detail, attempts: 0, at: new Date().toISOString() }, controlId: null, message: null });
        m?.outcomes.inc({ destination: d.name, outcome: 'mapping' });
        return;
      }
    }
    const bytes = message === null ? Buffer.alloc(0) : encodeOutbound(message, d.mapping.charset);
    const conn = this.#connection(partition);
    const started = process.hrtime.bigint();
    let outcome: DeliveryOutcome;
    try {
      outcome = await deliver(bytes, conn.send, d.retry, {
        sleep: this.#sleep,
        onAttempt: (result: AttemptResult) => m?.attempts.inc({ destination: d.name, result }),
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
  }
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
