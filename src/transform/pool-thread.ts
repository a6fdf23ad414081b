/**
 * A conversion thread of the pool (pool.ts): parses, converts and validates raw records with the
 * compiled mapping sets it was asked for, and sends back the records to publish. It holds no
 * Kafka connection and decides nothing about order or commits; the engine's thread does.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { converterFromSpec } from './mapping-converter.js';
import { convertedRecord, transformRecord } from './transform-record.js';
import type { MessageConverter } from './types.js';
import type { ConverterSpec } from './mapping-converter.js';
import { resultsToWire, type FromThread, type PoolItem, type PoolResult, type ThreadChannel, type ToThread } from './pool-protocol.js';

const port = parentPort;
if (!port) throw new Error('pool-thread.js runs only as a worker thread of the transform pool');

// Linux keeps a nice value per thread, so this lowers only this thread: when the event loop that
// answers MLLP (or the broker beside it) wants a core, the scheduler gives it first, and a
// backlog takes what is left. Applied after the first set is compiled, so a starting engine is
// not held back by a busy machine. Raising one's own nice value needs no privilege; where the
// call is refused or means the whole process (not Linux), conversion runs at normal priority.
const nice = (workerData as { nice?: unknown } | null)?.nice;
let niced = false;
function lowerPriority(): void {
  if (niced) return;
  niced = true;
  if (typeof nice === 'number' && nice > 0 && process.platform === 'linux') {
    try {
      setPriority(nice);
    } catch {
      /* normal priority */
    }
  }
}

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
    const ok = !(converterFor(m.specId, m.spec) instanceof Error);
    lowerPriority();
    port.postMessage({ type: 'prepared', id: m.id, ok } satisfies FromThread);
    return;
  }
  lowerPriority();
  const convert = converterFor(m.specId, m.spec);
  const { results, transfer } = resultsToWire(m.items.map((item) => convertOne(item, convert, m.channel)));
  port.postMessage({ type: 'done', id: m.id, results } satisfies FromThread, transfer);
});
port.postMessage({ type: 'ready' } satisfies FromThread);
