/**
 * `hl7-engine start` (role all) runs the conversion in a child process of its own: the same
 * command with `--role transform`, at a lower CPU priority. A backlog (a replay, a morning burst)
 * then costs the process that answers MLLP nothing on its event loop and nothing in its garbage
 * collector, and the kernel serves the ACK path first when the cores are busy. In one process,
 * conversion threads alone left the main loop with the Bundles' produce requests, their promises
 * and their GC, and ACK p99 under a backlog stayed 2-5× the idle figure (BENCHMARKS.md,
 * "Fairness").
 *
 * The parent (TransformChild) restarts the child with backoff whenever it exits, and says so
 * loudly meanwhile (log, hl7_transform_process_up, readiness check `transform-process`). Nothing is
 * lost while it is down: raw records wait in Kafka and the next child's consumers re-read the
 * uncommitted tail. The child answers the parent's questions over the IPC channel (readiness, its
 * metrics), so /readyz and /metrics of the parent cover both; it stops when told, on
 * SIGINT/SIGTERM, or when the parent is gone (the IPC channel closes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { AggregatorRegistry, Counter, Gauge, type Registry } from 'prom-client';
import { backoffDelay } from '../kafka/retry.js';
import type { EngineMetrics, Logger, Readiness } from '../ops/index.js';

/** The environment variable that tells `start --role transform` it runs under a parent. */
export const TRANSFORM_CHILD_ENV = 'HL7_ENGINE_TRANSFORM_CHILD';

export type ChildQuestion = 'ready' | 'metrics';

/** Parent → child. */
export type ToChild = { readonly type: 'ask'; readonly id: number; readonly what: ChildQuestion } | { readonly type: 'stop' };

/** Child → parent. `metrics` is the child registry's getMetricsAsJSON(). */
export type FromChild =
  | { readonly type: 'started' }
  | { readonly type: 'answer'; readonly id: number; readonly ready?: Readiness; readonly metrics?: unknown[] };

export interface TransformChildOptions {
  /** The CLI script the child runs (this engine's own `cli.js`). */
  readonly script: string;
  /** Arguments after the script: `start --role transform --channels …`. */
  readonly args: readonly string[];
  /** The child's environment (KAFKA_BROKERS must name the parent's brokers). */
  readonly env: NodeJS.ProcessEnv;
  /** Nice value of the child process (Linux/macOS; 0 = the parent's priority). */
  readonly nice: number;
  readonly logger: Logger;
  readonly metrics: EngineMetrics;
  /** Delay before restart n: doubles from `initialMs` up to `maxMs`, with jitter. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long the child may take to answer a question before it counts as not answering. */
  readonly askTimeoutMs?: number;
  /** How long a stopping child may take (it finishes the records in hand) before SIGKILL. */
  readonly stopTimeoutMs?: number;
}

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

export class TransformChild {
  private readonly opts: TransformChildOptions;
  private child: ChildProcess | null = null;
  private started = false;
  private stopping = false;
  private failures = 0;
  private restarts = 0;
  private timer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, (m: FromChild | null) => void>();
  private exited: Promise<void> = Promise.resolve();
  // Registered here, not with the engine's other metrics: only a process that runs a transform
  // child has them (with --transform-inline a constant 0 would read as "down").
  private readonly upGauge: Gauge;
  private readonly restartCounter: Counter;

  constructor(opts: TransformChildOptions) {
    this.opts = opts;
    const registers = [opts.metrics.registry];
    this.upGauge = new Gauge({
      name: 'hl7_transform_process_up',
      help: '1 while the transform process that `hl7-engine start` runs beside the listeners is running; 0 while it is started again after an exit',
      registers,
    });
    this.restartCounter = new Counter({ name: 'hl7_transform_process_restarts_total', help: 'Transform processes started again after the previous one exited', registers });
    this.upGauge.set(0);
  }

  /** True while a child runs and has reported its engine started. */
  get up(): boolean {
    return this.started;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /**
   * Starts the first child and resolves once it reports started or once it exited (its restart is
   * then scheduled): never rejects, because ingest must run whatever the conversion does.
   */
  start(): Promise<void> {
    return new Promise<void>((resolve) => this.spawn(resolve));
  }

  private spawn(settled?: () => void): void {
    const { logger } = this.opts;
    const child = fork(this.opts.script, [...this.opts.args], {
      env: { ...this.opts.env, [TRANSFORM_CHILD_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    if (this.opts.nice !== 0 && child.pid !== undefined) {
      try {
        setPriority(child.pid, this.opts.nice);
      } catch (err) {
        // Not fatal: the child then shares the parent's priority, as threads did before.
        logger.warn({ transformPid: child.pid, nice: this.opts.nice, err: err instanceof Error ? err.message : String(err) }, 'could not lower the transform process priority');
      }
    }
    child.on('message', (m: FromChild) => {
      if (m.type === 'started') {
        this.started = true;
        this.failures = 0;
        this.upGauge.set(1);
        logger.info({ transformPid: child.pid, nice: this.opts.nice, restarts: this.restarts }, 'transform process running');
        settled?.();
      } else if (m.type === 'answer') {
        const reply = this.pending.get(m.id);
        this.pending.delete(m.id);
        reply?.(m);
      }
    });
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        this.child = null;
        this.started = false;
        this.upGauge.set(0);
        for (const reply of this.pending.values()) reply(null);
        this.pending.clear();
        settled?.();
        resolve();
        if (this.stopping) return;
        const attempt = ++this.failures;
        const retryInMs = backoffDelay({ ...(this.opts.backoff ?? DEFAULT_BACKOFF), jitter: 0.5 }, attempt);
        logger.error(
          { transformPid: child.pid, code, signal, attempt, retryInMs },
          'transform process exited; raw messages are still stored and ACKed, and wait in Kafka until a new transform process starts',
        );
        this.timer = setTimeout(() => {
          this.timer = null;
          if (this.stopping) return;
          this.restarts++;
          this.restartCounter.inc();
          this.spawn();
        }, retryInMs);
      }),
    );
    // An IPC write to a child that just died fails with EPIPE: the exit handler above deals with it.
    child.on('error', (err) => logger.warn({ err: err.message }, 'transform process channel error'));
  }

  private ask(what: ChildQuestion): Promise<FromChild | null> {
    const child = this.child;
    if (!child || !this.started || !child.connected) return Promise.resolve(null);
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, this.opts.askTimeoutMs ?? 3_000);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.send({ type: 'ask', id, what } satisfies ToChild, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(null);
      });
    });
  }

  /**
   * This process's readiness with the child's added: `transform-process` (running and answering)
   * and the child's own checks (`transform:<channel>`, `transform-threads`). Kafka is this
   * process's own probe.
   */
  async readiness(own: Readiness): Promise<Readiness> {
    const answer = await this.ask('ready');
    const theirs = answer?.type === 'answer' ? answer.ready : undefined;
    const checks: Record<string, boolean> = { ...own.checks, 'transform-process': theirs !== undefined };
    if (theirs) for (const [name, ok] of Object.entries(theirs.checks)) if (name !== 'kafka') checks[name] = ok;
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /**
   * What /metrics serves: this process's registry merged with the child's, series by series
   * (counters and histograms add up; each metric's `aggregator` says otherwise). While the child
   * does not answer, this process's metrics alone, with hl7_transform_process_up 0.
   */
  metricsSource(registry: Registry): Pick<Registry, 'contentType' | 'metrics'> {
    return {
      contentType: registry.contentType,
      metrics: async () => {
        const answer = await this.ask('metrics');
        const theirs = answer?.type === 'answer' ? answer.metrics : undefined;
        if (!theirs) return registry.metrics();
        return AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), theirs]).metrics();
      },
    };
  }

  /** Passes a reload request (SIGHUP) on: the child watches the same files and reloads its mapping sets. */
  reload(): void {
    this.child?.kill('SIGHUP');
  }

  /** Tells the child to stop (it finishes and commits the records in hand), SIGKILL after the bound. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    if (child) {
      if (child.connected) child.send({ type: 'stop' } satisfies ToChild, () => undefined);
      else child.kill('SIGTERM');
      const bound = setTimeout(() => child.kill('SIGKILL'), this.opts.stopTimeoutMs ?? 30_000);
      await this.exited;
      clearTimeout(bound);
    }
  }
}

/**
 * The child's side: answers the parent's questions and stops when told or when the parent is
 * gone. `stop` must be idempotent (SIGINT from a terminal reaches both processes too).
 */
export function serveParent(opts: { readonly readiness: () => Promise<Readiness>; readonly registry: Registry; readonly stop: (why: string) => void }): void {
  const send = (m: FromChild): void => {
    if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
  };
  process.on('message', (m: ToChild) => {
    if (m.type === 'stop') opts.stop('parent');
    else if (m.type === 'ask') {
      const answer =
        m.what === 'ready'
          ? opts.readiness().then((ready) => ({ type: 'answer', id: m.id, ready }) as const)
          : opts.registry.getMetricsAsJSON().then((metrics) => ({ type: 'answer', id: m.id, metrics }) as const);
      void answer.then(send, () => send({ type: 'answer', id: m.id }));
    }
  });
  // The parent died (kill -9, OOM): finish what is in hand rather than run on unsupervised.
  process.on('disconnect', () => opts.stop('parent-gone'));
}

/** Tells the parent the engine started. */
export function reportStarted(): void {
  process.send?.({ type: 'started' } satisfies FromChild);
}
