/** The console's own metrics, registered where the engine's are (or in a registry of their own). */
import { Counter, Gauge, Registry } from 'prom-client';

/** What the queue gauges read at each scrape. */
export interface QueueFigures {
  /** The channel's name, or for an outbound queue the destination's. */
  readonly channel: string;
  /** inbound: a channel's dead letters; outbound: a write-back destination's. */
  readonly direction: 'inbound' | 'outbound';
  readonly waitingByCategory: ReadonlyMap<string, number>;
  readonly overdue: number;
  readonly oldestAgeSeconds: number;
}

export class ConsoleMetrics {
  readonly loginFailures: Counter<'reason'>;
  private source: (() => readonly QueueFigures[]) | null = null;

  constructor(readonly registry: Registry = new Registry()) {
    this.loginFailures = new Counter({
      name: 'hl7_console_login_failures_total',
      help: 'Console logins refused: bad-credentials (wrong name or password) or throttled (too many recent failures).',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Read from the index at scrape time, so the figures are as fresh as the index.
    const figures = (): readonly QueueFigures[] => this.source?.() ?? [];
    new Gauge({
      name: 'hl7_console_dlq_waiting',
      help: 'Dead letters waiting for a decision, by queue (direction inbound: channel; outbound: channel = the destination) and failure category (from the console index).',
      labelNames: ['direction', 'channel', 'category'],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of figures()) for (const [category, n] of f.waitingByCategory) this.set({ direction: f.direction, channel: f.channel, category }, n);
      },
    });
    new Gauge({
      name: 'hl7_console_dlq_overdue',
      help: 'Waiting dead letters older than their queue review.slaMinutes (the channel file, or for direction outbound the destination file).',
      labelNames: ['direction', 'channel'],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of figures()) this.set({ direction: f.direction, channel: f.channel }, f.overdue);
      },
    });
    new Gauge({
      name: 'hl7_console_dlq_oldest_age_seconds',
      help: 'Age of the oldest waiting dead letter per queue (direction inbound: channel; outbound: destination), 0 when none waits.',
      labelNames: ['direction', 'channel'],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of figures()) this.set({ direction: f.direction, channel: f.channel }, f.oldestAgeSeconds);
      },
    });
  }

  /** Where the queue gauges read from (the console's queries). */
  readQueueFrom(source: () => readonly QueueFigures[]): void {
    this.source = source;
  }
}
