/**
 * The engine's lifecycle: start in dependency order (mapping sets, Kafka, topics, duplicate
 * memory, listeners, transform workers), stop in reverse with in-flight ACKs finished first, and
 * apply a new set of channels while running (apply.ts). What it runs is held in runtime.ts;
 * readiness is in operations.ts.
 */
import type { ChannelConfig } from '../channel/index.js';
import { GroupCommitProducer } from '../kafka/index.js';
import type { Readiness } from '../ops/index.js';
import { applyChannels, type ApplyReport, type ConfigTarget } from './apply.js';
import { EngineReadiness } from './operations.js';
import { Runtime, type EngineOptions, type RunningChannel } from './runtime.js';

export class Engine implements ConfigTarget {
  private readonly runtime: Runtime;
  private readonly operations: EngineReadiness;
  /** apply() calls run one at a time, and stop() waits for the one under way. */
  private applying: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(opts: EngineOptions) {
    this.runtime = new Runtime(opts);
    this.operations = new EngineReadiness(this.runtime.kafka, opts.metrics);
  }

  get channels(): readonly RunningChannel[] {
    return this.runtime.running;
  }

  async start(): Promise<void> {
    const rt = this.runtime;
    const { metrics, channels } = rt.opts;
    // Mapping sets load before anything listens: a broken mapping refuses the start, with every
    // error's file:line:col, instead of dead-lettering each message later.
    const converters = rt.transformConverters(channels);
    if (!rt.runsIngest) {
      // Conversion only: the topics exist (whichever process starts first creates them), no listener.
      await rt.ensureChannelTopics(channels, await rt.transformPublisher());
      await rt.startTransform(converters);
      return;
    }
    const producer = new GroupCommitProducer(rt.kafka, {
      onBatch: (records, seconds, ok) => {
        metrics.publishSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
        metrics.publishBatchRecords.observe(records);
      },
    });
    rt.ingestProducer = producer;
    await rt.ensureChannelTopics(channels, producer);
    await producer.connect();
    for (const channel of channels) rt.running.push(await rt.openChannel(channel, producer));
    await rt.startTransform(converters);
  }

  /**
   * Switches the running engine to `next` without a restart. Every mapping set loads first: one
   * that does not throws (MappingLoadError) and nothing changes. Then, per channel:
   *  - removed: its listener drains (in-flight ACKs are answered) and closes, its worker stops;
   *  - added: topics, duplicate memory, listener and transform worker start;
   *  - same listener (host, port, TLS, limits): the listener and its connections stay; accept
   *    rules, charset, ACK, topics, duplicate settings and the allow-list apply from the next frame
   *    or connection;
   *  - other port: the new listener binds first, then the old one drains and closes; same port
   *    with other settings: the old one drains and closes first, so new connections are refused
   *    until the new one binds (a moment; open connections are closed once their ACKs are out);
   *  - mapping set or site changed (or any file in the set): raw records stored from now on are
   *    converted with the new set, those already stored with the old one.
   * A channel that cannot be changed (e.g. its new port is taken) keeps running as it was and is
   * listed in `failures`. Calls are serialised.
   */
  apply(next: readonly ChannelConfig[], graceMs = 10_000): Promise<ApplyReport> {
    const run = this.applying.then(() => {
      if (this.stopped) throw new Error('the engine is stopped; a configuration can no longer be applied');
      return applyChannels(this.runtime, next, graceMs);
    });
    this.applying = run.catch(() => undefined);
    return run;
  }

  /**
   * Ready when every channel's listener is bound, every transform consumer consumes (a check
   * `transform:<channel>` that is false while it restarts), and Kafka answers in time.
   */
  readiness(): Promise<Readiness> {
    const transforms = new Map([...this.runtime.transformWorkers].map(([name, w]) => [name, w.worker.up]));
    const listening = this.runtime.runsIngest ? this.runtime.opts.channels : [];
    const threads = this.runtime.hasPool ? !this.runtime.threadsDown : undefined;
    return this.operations.check(listening, new Set(this.runtime.running.map((r) => r.channel.name)), transforms, threads);
  }

  async stop(graceMs = 10_000): Promise<void> {
    const rt = this.runtime;
    this.stopped = true;
    await this.applying;
    await this.operations.close();
    await Promise.all([...rt.running.map((r) => r.listener.close(graceMs)), rt.stopTransform()]);
    rt.running.length = 0;
    // Stopping twice disconnects once.
    const producer = rt.ingestProducer;
    rt.ingestProducer = null;
    if (producer) await producer.disconnect();
  }
}
