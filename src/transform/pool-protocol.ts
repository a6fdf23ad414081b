/**
 * The messages between the transform's thread and its conversion threads (pool.ts,
 * pool-thread.ts). Plain data only: what crosses a thread boundary is copied.
 */
import type { KafkaMessage } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import type { OutRecord } from '../kafka/index.js';
import type { RecordRef } from '../records/index.js';
import type { ConverterSpec } from './mapping-converter.js';
import type { ConvertedRecord } from './transform-record.js';

/** One raw record as a thread gets it: key and headers already text, the value's bytes copied. */
export interface PoolItem {
  readonly key: string | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: RecordRef;
}

/**
 * What a conversion thread needs of a Kafka message: key and headers as text, and a copy of
 * the value's bytes. The copy is the point: the client hands out each value as a view into the
 * whole fetch response (megabytes), and posting a view to a thread clones its entire backing
 * buffer, so a view here cost milliseconds per record on both threads (measured: 7.5 ms per post
 * of a 1.5 kB view of a 16 MiB buffer, 0.26 ms for the copy) and held the drain at ~100/s.
 */
export function poolItem(m: KafkaMessage, topic: string, partition: number): PoolItem {
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) headers[name] = first.toString();
  }
  return { key: m.key === null ? null : m.key.toString(), value: m.value === null ? null : new Uint8Array(m.value), headers, at: { topic, partition, offset: m.offset } };
}

export type ThreadChannel = Pick<ChannelConfig, 'name' | 'topics'>;

export type ToThread =
  /** Compile a set ahead of its first record (hot reload), so the first batch does not wait on it. */
  | { readonly type: 'prepare'; readonly id: number; readonly specId: number; readonly spec: ConverterSpec }
  | { readonly type: 'convert'; readonly id: number; readonly specId: number; readonly spec: ConverterSpec; readonly channel: ThreadChannel; readonly items: readonly PoolItem[] };

/** A converted record, or null: this thread could not build the set, convert it in the engine's thread. */
export type PoolResult = ConvertedRecord | null;

type WithBytes<T> = T extends { readonly record: OutRecord } ? Omit<T, 'record'> & { readonly record: Omit<OutRecord, 'value'> & { readonly value: Uint8Array } } : never;

/** A converted record on its way back from a thread: its value as UTF-8 bytes (see resultsToWire). */
export type WireResult = WithBytes<ConvertedRecord> | null;

/**
 * A thread's results ready to post, with the buffers to transfer. Each value (a Bundle or dead
 * letter, several kB of JSON) goes back as UTF-8 bytes in a buffer of its own that is moved, not
 * copied: as a string it was cloned onto the engine's heap, lived there until Kafka acknowledged
 * it, and was encoded to bytes again on the event loop that answers MLLP, and under a backlog that
 * garbage was the main thread's largest added cost (BENCHMARKS.md, "Fairness").
 */
export function resultsToWire(results: readonly PoolResult[]): { readonly results: WireResult[]; readonly transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const encoder = new TextEncoder();
  const wire = results.map((r): WireResult => {
    if (r === null) return null;
    // TextEncoder gives each value its own buffer; a Buffer could share a pooled slab, and moving
    // that would take its neighbours with it.
    const bytes = typeof r.record.value === 'string' ? encoder.encode(r.record.value) : new Uint8Array(r.record.value);
    transfer.push(bytes.buffer as ArrayBuffer);
    return { ...r, record: { ...r.record, value: bytes } } as WireResult;
  });
  return { results: wire, transfer };
}

/** A thread's result as the worker publishes it: the moved bytes viewed as a Buffer, no copy. */
export function resultFromWire(r: WireResult): PoolResult {
  if (r === null) return null;
  const v = r.record.value;
  return { ...r, record: { ...r.record, value: Buffer.from(v.buffer, v.byteOffset, v.byteLength) } } as PoolResult;
}

export type FromThread =
  /** Sent once the thread's modules loaded: from here on it counts as running. */
  | { readonly type: 'ready' }
  /** A `prepare` done (`ok` false: the set could not be built here; its records convert in the engine's thread). */
  | { readonly type: 'prepared'; readonly id: number; readonly ok: boolean }
  | { readonly type: 'done'; readonly id: number; readonly results: readonly WireResult[] };
