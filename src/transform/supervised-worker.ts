/**
 * A channel's transform stage as it runs in the engine: a TransformWorker under a Supervisor, so
 * a consumer that kafkajs gave up on (broker outage, fencing, a failed rejoin) is replaced by a
 * new one that re-joins the group and re-reads the uncommitted tail. Says loudly while it is
 * down: hl7_transform_up, hl7_transform_restarts_total, a log line per stop and restart, and
 * `up` for readiness.
 */
import { ConverterEras, TransformWorker, type TransformWorkerOptions } from './worker.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';
import type { MessageConverter } from './types.js';
import { converterSpecOf } from './mapping-converter.js';

export interface SupervisedTransformOptions extends Omit<TransformWorkerOptions, 'events' | 'convert'> {
  readonly convert: MessageConverter;
  /** Restart backoff (default 0.5 s doubling to 30 s, with jitter). */
  readonly restartBackoff?: SupervisorOptions<TransformWorker>['backoff'];
}

export class SupervisedTransform {
  private readonly eras: ConverterEras;
  private readonly supervisor: Supervisor<TransformWorker>;
  private readonly opts: SupervisedTransformOptions;

  constructor(opts: SupervisedTransformOptions) {
    this.opts = opts;
    const { logger, metrics } = opts;
    const channel = opts.channel.name;
    this.eras = new ConverterEras(opts.convert);
    metrics.transformUp.set({ channel }, 0);
    this.supervisor = new Supervisor<TransformWorker>({
      ...(opts.restartBackoff ? { backoff: opts.restartBackoff } : {}),
      startMember: async (events) => {
        const worker = new TransformWorker({ ...opts, convert: this.eras, events });
        try {
          await worker.start();
        } catch (err) {
          // connect or subscribe failed: release what it holds before the next try.
          await worker.abort().catch(() => undefined);
          throw err;
        }
        return worker;
      },
      onUp: (restarts) => {
        metrics.transformUp.set({ channel }, 1);
        if (restarts > 0) logger.info({ channel, restarts }, 'transform consuming again');
      },
      onDown: (why, retryInMs, attempt) => {
        metrics.transformUp.set({ channel }, 0);
        logger.error({ channel, reason: why.reason, err: why.error, attempt, retryInMs }, 'transform stopped consuming; starting a new consumer after a backoff');
      },
      onRestart: (why, attempt) => {
        metrics.transformRestarts.inc({ channel, reason: why.reason });
        logger.warn({ channel, reason: why.reason, attempt }, 'transform restarting: new consumer joining the group');
      },
    });
  }

  /** Starts the first consumer; a failure is retried in the background, never thrown. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  /** Finishes the records in hand, leaves the group; cancels a pending restart. */
  async stop(): Promise<void> {
    await this.supervisor.stop();
    // Stopped on purpose (engine stop, channel removed): no series left to read as "down".
    this.opts.metrics.transformUp.remove({ channel: this.opts.channel.name });
  }

  /** True while a consumer is in the group and consuming. */
  get up(): boolean {
    return this.supervisor.up;
  }

  get restarts(): number {
    return this.supervisor.restartCount;
  }

  /** The worker running now, if any (tests inject faults through it). */
  get worker(): TransformWorker | null {
    return this.supervisor.current;
  }

  /** Hot reload; see TransformWorker.setConverter. Applies to every later consumer too. */
  setConverter(convert: MessageConverter, from: ReadonlyMap<number, string>): void {
    this.eras.add(convert, from);
    const spec = converterSpecOf(convert);
    if (spec) void this.opts.pool?.prepare(spec);
  }

  get currentConverter(): MessageConverter {
    return this.eras.current;
  }
}
