/**
 * Readiness for /readyz: the engine is ready when every listener is bound and Kafka answers.
 * The Kafka half is a probe cheap enough to run on every scrape: one shared admin client, a
 * describeCluster bounded by a timeout, the answer cached for a few seconds.
 */
import type { Admin, Kafka } from 'kafkajs';

export interface Readiness {
  readonly ready: boolean;
  /** One entry per thing checked (e.g. `listener:adt`, `kafka`), true when it is fine. */
  readonly checks: Record<string, boolean>;
}

export type ReadinessCheck = () => Promise<Readiness>;

export interface KafkaProbeOptions {
  /** How long one describeCluster may take before Kafka counts as unreachable. */
  readonly timeoutMs?: number;
  /** How long an answer is reused, so scrapes and probes never hammer the brokers. */
  readonly cacheMs?: number;
  /** Told every fresh answer (the engine sets hl7_kafka_up from it). */
  readonly onResult?: (up: boolean) => void;
}

export class KafkaProbe {
  private readonly admin: Admin;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly onResult: ((up: boolean) => void) | undefined;
  private connected = false;
  private last: { up: boolean; at: number } | null = null;
  private pending: Promise<boolean> | null = null;
  // A timed-out describeCluster keeps running inside kafkajs (it retries); while it does, later
  // checks answer "down" at once instead of piling more requests onto a struggling cluster.
  private stuck = false;

  constructor(kafka: Kafka, opts: KafkaProbeOptions = {}) {
    this.admin = kafka.admin();
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.cacheMs = opts.cacheMs ?? 5000;
    this.onResult = opts.onResult;
  }

  /** True when Kafka answered a describeCluster within the timeout (possibly a few seconds ago). */
  check(): Promise<boolean> {
    if (this.last && Date.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.up);
    if (this.pending) return this.pending;
    if (this.stuck) return Promise.resolve(this.record(false));
    this.pending = this.probe().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
    this.connected = false;
  }

  private async probe(): Promise<boolean> {
    this.stuck = true;
    const attempt = (async () => {
      if (!this.connected) {
        await this.admin.connect();
        this.connected = true;
      }
      await this.admin.describeCluster();
    })();
    const settled = attempt.then(
      () => true,
      () => {
        // Start from a fresh connection next time rather than reuse a broken one.
        void this.close();
        return false;
      },
    );
    void settled.finally(() => {
      this.stuck = false;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
      timer.unref();
    });
    const up = await Promise.race([settled, timedOut]);
    clearTimeout(timer);
    return this.record(up);
  }

  private record(up: boolean): boolean {
    this.last = { up, at: Date.now() };
    this.onResult?.(up);
    return up;
  }
}
