/**
 * What operations ask of a running engine: readiness for /readyz (listeners, transform consumers, Kafka), and hl7_kafka_up set from the
 * same Kafka probe (served by src/ops/http.ts).
 */
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import { KafkaProbe, type EngineMetrics, type Readiness } from '../ops/index.js';

export class EngineReadiness {
  private probe: KafkaProbe | null = null;
  // A probe made after close() would hold an admin connection nobody closes.
  private closed = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly metrics: EngineMetrics,
  ) {}

  /**
   * Ready when every configured channel's listener is bound, every transform consumer is in its
   * group and consuming (`transforms`: channel → up; a channel without a transform is not
   * listed), the conversion threads run when some are configured (`threads`: undefined when
   * none are), and Kafka answers a describeCluster in time.
   */
  async check(configured: readonly ChannelConfig[], bound: ReadonlySet<string>, transforms: ReadonlyMap<string, boolean> = new Map(), threads?: boolean): Promise<Readiness> {
    const checks: Record<string, boolean> = {};
    if (threads !== undefined) checks['transform-threads'] = threads;
    for (const c of configured) checks[`listener:${c.name}`] = bound.has(c.name);
    for (const [name, up] of transforms) checks[`transform:${name}`] = up;
    if (!this.closed) {
      this.probe ??= new KafkaProbe(this.kafka, { onResult: (up) => this.metrics.kafkaUp.set(up ? 1 : 0) });
    }
    checks['kafka'] = this.probe ? await this.probe.check() : false;
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /** From now on Kafka counts as down; the probe's admin connection is closed. */
  async close(): Promise<void> {
    this.closed = true;
    const probe = this.probe;
    this.probe = null;
    await probe?.close();
  }
}
