/**
 * Conversion off the event loop that answers MLLP: a fixed number of worker threads, each holding
 * the compiled mapping sets it was asked for, doing parse + convert + validate. The caller (the
 * transform worker) keeps everything about order and delivery: it submits a batch, gets one
 * promise per record, and publishes and commits in offset order as before. Conversion is a pure
 * function of the raw record and the mapping set's bytes, so which thread converts a record, or
 * converting it twice, cannot change its contents.
 *
 * Records go to a thread by a hash of their Kafka key, so one patient's records are converted by
 * one thread in offset order while it lives. A thread that dies (crash, out of memory, terminated)
 * is replaced at once and the records it held are sent again, in order, to its replacement; a
 * record that was in hand when two threads died, and every record while no thread can start, is
 * converted in the caller's thread (`null` result) rather than waited on forever. A thread that
 * cannot start is retried with backoff and said loudly: an error log line per failure,
 * hl7_transform_threads_running below hl7_transform_threads_configured, and `running` at 0
 * fails readiness.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../ops/logger.js';
import type { EngineMetrics } from '../ops/metrics.js';
import { backoffDelay } from '../kafka/retry.js';
import type { ConverterSpec } from './mapping-converter.js';
import { resultFromWire, type FromThread, type PoolItem, type PoolResult, type ThreadChannel, type ToThread } from './pool-protocol.js';

export interface ConversionPoolOptions {
  /** Number of conversion threads (at least 1; 0 means no pool: convert in the caller's thread). */
  readonly threads: number;
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Backoff between attempts to start a thread that failed to start. Default 0.5 s doubling to 30 s. */
  readonly restartBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Records per message to a thread: fewer messages, but a thread's answer waits on all of them. Default 32. */
  readonly chunk?: number;
  /**
   * Nice value of each conversion thread (Linux, per thread; default 10): the main event loop and
   * the broker get a core first, a backlog converts on what is left. 0 keeps normal priority.
   */
  readonly nice?: number;
  /** The thread's script (tests point it elsewhere to see a thread that cannot start). Default pool-thread.js. */
  readonly threadFile?: URL;
}

/** A record in a thread's hands more often than this when the thread died is converted by the caller. */
const MAX_ATTEMPTS = 2;

interface Request {
  readonly message: Extract<ToThread, { type: 'convert' }>;
  readonly resolve: (results: readonly PoolResult[]) => void;
  attempts: number;
}

interface Slot {
  readonly index: number;
  thread: Worker | null;
  running: boolean;
  /** Sent and not answered, in the order sent. */
  readonly inFlight: Map<number, Request>;
  /** Start failures since the thread last ran. */
  failures: number;
  retry: NodeJS.Timeout | null;
}

/** FNV-1a over the key's UTF-16 units: cheap, and stable for the life of the process. */
function keyHash(key: string | null): number {
  if (key === null) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class ConversionPool {
  private readonly opts: ConversionPoolOptions;
  private readonly slots: Slot[];
  private readonly specIds = new Map<string, number>();
  private nextRequest = 1;
  private readonly preparing = new Map<number, () => void>();
  private closed = false;
  private threadRecords = 0;

  constructor(opts: ConversionPoolOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RangeError(`a conversion pool needs at least one thread (got ${opts.threads})`);
    this.opts = opts;
    this.slots = Array.from({ length: opts.threads }, (_, index) => ({ index, thread: null, running: false, inFlight: new Map(), failures: 0, retry: null }));
    opts.metrics.transformThreadsConfigured.set(opts.threads);
    opts.metrics.transformThreadsRunning.set(0);
    for (const slot of this.slots) this.spawn(slot);
  }

  /** Threads started and not dead. */
  get running(): number {
    return this.slots.filter((s) => s.running).length;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Records converted by the threads since the pool started (tests and benches read it). */
  get convertedInThreads(): number {
    return this.threadRecords;
  }

  /** Records sent to a thread and not answered yet. */
  get inFlight(): number {
    let n = 0;
    for (const slot of this.slots) for (const r of slot.inFlight.values()) n += r.message.items.length;
    return n;
  }

  /** Resolves once every thread has started, or rejects after `timeoutMs` naming how many did. */
  async whenRunning(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.running < this.slots.length) {
      if (this.closed) throw new Error('conversion pool closed');
      if (Date.now() > until) throw new Error(`only ${this.running} of ${this.slots.length} conversion threads started within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Compiles a mapping set in every thread now (start, hot reload) instead of on its first record.
   * Resolves once each thread that runs has it, or after `timeoutMs` (a thread slower than that
   * compiles on; its first records wait for it).
   */
  prepare(spec: ConverterSpec, timeoutMs = 60_000): Promise<void> {
    const specId = this.specId(spec);
    const waits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (!slot.thread) continue;
      const id = this.nextRequest++;
      waits.push(new Promise<void>((resolve) => this.preparing.set(id, resolve)));
      slot.thread.postMessage({ type: 'prepare', id, specId, spec } satisfies ToThread);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    return Promise.race([Promise.all(waits).then(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Converts `items` (one spec and channel for all) in the threads: one promise per item, each
   * the converted record or null when the caller must convert it itself.
   */
  submit(spec: ConverterSpec, channel: ThreadChannel, items: readonly PoolItem[]): Promise<PoolResult>[] {
    if (this.closed) return items.map(() => Promise.resolve(null));
    const specId = this.specId(spec);
    const bySlot = new Map<Slot, number[]>();
    items.forEach((item, i) => {
      const slot = this.slots[keyHash(item.key) % this.slots.length]!;
      const list = bySlot.get(slot);
      if (list) list.push(i);
      else bySlot.set(slot, [i]);
    });
    const out: Promise<PoolResult>[] = new Array(items.length);
    const chunk = this.opts.chunk ?? 32;
    for (const [slot, indexes] of bySlot) {
      for (let from = 0; from < indexes.length; from += chunk) {
        const part = indexes.slice(from, from + chunk);
        const answered = new Promise<readonly PoolResult[]>((resolve) => {
          const message = { type: 'convert', id: this.nextRequest++, specId, spec, channel, items: part.map((i) => items[i]!) } as const;
          this.send(slot, { message, resolve, attempts: 0 });
        });
        part.forEach((i, j) => {
          out[i] = answered.then((results) => results[j] ?? null);
        });
      }
    }
    return out;
  }

  /** Terminates the threads; records not yet answered come back null (the caller converts them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const threads: Worker[] = [];
    for (const slot of this.slots) {
      if (slot.retry) clearTimeout(slot.retry);
      slot.retry = null;
      this.giveBack(slot);
      if (slot.thread) threads.push(slot.thread);
      slot.thread = null;
      slot.running = false;
    }
    this.opts.metrics.transformThreadsRunning.set(0);
    await Promise.all(threads.map((t) => t.terminate()));
  }

  /** For fault tests: ends one running thread as a crash would. */
  async killThread(index: number): Promise<void> {
    await this.slots[index]?.thread?.terminate();
  }

  private specId(spec: ConverterSpec): number {
    const key = JSON.stringify([spec.dir, spec.site, spec.validate, spec.fingerprint]);
    let id = this.specIds.get(key);
    if (id === undefined) {
      id = this.specIds.size + 1;
      this.specIds.set(key, id);
    }
    return id;
  }

  private send(slot: Slot, request: Request): void {
    if (this.closed || !slot.thread) {
      request.resolve([]);
      return;
    }
    slot.inFlight.set(request.message.id, request);
    slot.thread.postMessage(request.message);
  }

  /** Answers every request a slot holds with nulls, so the caller converts them. */
  private giveBack(slot: Slot): void {
    const held = [...slot.inFlight.values()];
    slot.inFlight.clear();
    for (const r of held) r.resolve([]);
  }

  private spawn(slot: Slot): void {
    const { logger, metrics } = this.opts;
    let thread: Worker;
    try {
      thread = new Worker(this.opts.threadFile ?? new URL('./pool-thread.js', import.meta.url), { workerData: { nice: this.opts.nice ?? 10 } });
    } catch (err) {
      this.startFailed(slot, err);
      return;
    }
    slot.thread = thread;
    thread.on('message', (reply: FromThread) => {
      if (slot.thread !== thread) return;
      if (reply.type === 'prepared') {
        const done = this.preparing.get(reply.id);
        this.preparing.delete(reply.id);
        done?.();
        return;
      }
      if (reply.type === 'ready') {
        slot.running = true;
        slot.failures = 0;
        metrics.transformThreadsRunning.set(this.running);
        return;
      }
      const request = slot.inFlight.get(reply.id);
      if (!request) return;
      slot.inFlight.delete(reply.id);
      this.threadRecords += reply.results.filter((r) => r !== null).length;
      request.resolve(reply.results.map(resultFromWire));
    });
    thread.on('error', (err) => {
      // Followed by 'exit'; the name only: a message could quote record content.
      logger.error({ thread: slot.index, err: err.name }, 'conversion thread failed');
    });
    thread.on('exit', (code) => {
      if (this.closed || slot.thread !== thread) return;
      const wasRunning = slot.running;
      slot.thread = null;
      slot.running = false;
      metrics.transformThreadsRunning.set(this.running);
      const held = [...slot.inFlight.values()];
      slot.inFlight.clear();
      if (!wasRunning) {
        for (const r of held) r.resolve([]);
        this.startFailed(slot, new Error(`exit code ${code} before it started`));
        return;
      }
      metrics.transformThreadRestarts.inc({ reason: 'exit' });
      logger.error({ thread: slot.index, code, recordsInHand: held.reduce((n, r) => n + r.message.items.length, 0) }, 'conversion thread died; a new one converts the records it held');
      this.spawn(slot);
      for (const r of held) {
        r.attempts++;
        if (r.attempts >= MAX_ATTEMPTS) r.resolve([]);
        else this.send(slot, r);
      }
    });
  }

  private startFailed(slot: Slot, err: unknown): void {
    const { logger, metrics } = this.opts;
    slot.thread = null;
    slot.running = false;
    slot.failures++;
    metrics.transformThreadRestarts.inc({ reason: 'start-failed' });
    const backoff = this.opts.restartBackoff ?? { initialMs: 500, maxMs: 30_000 };
    const delay = backoffDelay(backoff, slot.failures);
    logger.error(
      { thread: slot.index, err: err instanceof Error ? err.message : String(err), attempt: slot.failures, retryInMs: delay, running: this.running, configured: this.slots.length },
      'conversion thread could not start; its records are converted on the main event loop until one does',
    );
    slot.retry = setTimeout(() => {
      slot.retry = null;
      if (!this.closed) this.spawn(slot);
    }, delay);
    slot.retry.unref();
  }
}
