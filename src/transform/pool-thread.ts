/**
 * A conversion thread of the pool (pool.ts): parses, converts and validates raw records with the
 * compiled mapping sets it was asked for, and sends back the records to publish. It holds no
 * Kafka connection and decides nothing about order or commits; the engine's thread does.
 */
import { parentPort } from 'node:worker_threads';
import { converterFromSpec } from './mapping-converter.js';
import { convertedRecord, transformRecord } from './transform-record.js';
import type { MessageConverter } from './types.js';
import type { ConverterSpec } from './mapping-converter.js';
import type { FromThread, PoolItem, PoolResult, ThreadChannel, ToThread } from './pool-protocol.js';

const port = parentPort;
if (!port) throw new Error('pool-thread.js runs only as a worker thread of the transform pool');

/** Compiled sets by spec id; an Error when the set could not be built here (see converterFromSpec). */
const converters = new Map<number, MessageConverter | Error>();

function converterFor(id: number, spec: ConverterSpec): MessageConverter | Error {
  let c = converters.get(id);
  if (c === undefined) {
    try {
      c = converterFromSpec(spec);
    } catch (err) {
      c = err instanceof Error ? err : new Error(String(err));
    }
    converters.set(id, c);
  }
  return c;
}

function convertOne(item: PoolItem, convert: MessageConverter | Error, channel: ThreadChannel): PoolResult {
  if (convert instanceof Error) return null;
  const started = process.hrtime.bigint();
  const value = item.value === null ? null : Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength);
  const outcome = transformRecord({ key: item.key, value, headers: item.headers }, item.at, { channel, convert });
  return convertedRecord(outcome, Number(process.hrtime.bigint() - started) / 1e9);
}

port.on('message', (m: ToThread) => {
  if (m.type === 'prepare') {
    converterFor(m.specId, m.spec);
    return;
  }
  const convert = converterFor(m.specId, m.spec);
  const results = m.items.map((item) => convertOne(item, convert, m.channel));
  port.postMessage({ type: 'done', id: m.id, results } satisfies FromThread);
});
port.postMessage({ type: 'ready' } satisfies FromThread);
