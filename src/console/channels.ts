/**
 * The channel overview: per channel, what the console can actually know. Traffic, ACK codes and
 * the dead-letter queue come from the index, transform lag from Kafka (the transform consumer
 * group's committed offsets against the raw topic's end), so they hold in a console running on
 * its own. Listener state and open connections live only inside the engine process: they are
 * filled in when the console runs there (`hl7-engine start --console`), and otherwise null with
 * the reason in `unknown`, never guessed.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { ChannelConfig } from '../channel/index.js';
import type { Readiness } from '../ops/index.js';
import { transformGroupId } from '../transform/index.js';
import type { ConsoleQueries } from './queries.js';

/** The engine the console runs beside, when it does. */
export interface EngineView {
  readonly registry: Registry;
  readiness(): Promise<Readiness>;
}

export interface ChannelOverview {
  readonly name: string;
  readonly topics: ChannelConfig['topics'];
  readonly slaMinutes: number;
  readonly mapping: string | null;
  readonly listener: 'listening' | 'not-listening' | null;
  readonly connections: number | null;
  /** Messages answered in the last RATE_WINDOW_S seconds, per second (from the index). */
  readonly messagesPerSecond: number;
  /** Messages answered in the last ACK_WINDOW_S seconds, by ACK code (from the index). */
  readonly ackCodes: Record<string, number>;
  readonly transformLag: number | null;
  readonly deadLetters: { readonly waiting: number; readonly overdue: number; readonly oldestAgeSeconds: number | null };
  /** For each field that is null: why the console cannot know it. */
  readonly unknown: Record<string, string>;
}

export const RATE_WINDOW_S = 60;
export const ACK_WINDOW_S = 3600;
const KAFKA_TIMEOUT_MS = 5000;
const NOT_EMBEDDED = 'known only inside the engine process: run the console with hl7-engine start --console';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function gaugeByChannel(registry: Registry, name: string): Promise<Map<string, number> | null> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return null;
  const out = new Map<string, number>();
  for (const v of (await metric.get()).values) {
    const ch = v.labels['channel'];
    if (typeof ch === 'string') out.set(ch, (out.get(ch) ?? 0) + v.value);
  }
  return out;
}

export class ChannelOverviews {
  private admin: Admin | null = null;
  private connecting: Promise<Admin> | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly channels: readonly ChannelConfig[],
    private readonly queries: ConsoleQueries,
    private readonly engine: EngineView | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async overview(): Promise<ChannelOverview[]> {
    const now = this.now().getTime();
    const readiness = this.engine ? await this.engine.readiness().catch(() => null) : null;
    const connections = this.engine ? await gaugeByChannel(this.engine.registry, 'hl7_connections') : null;
    const queue = new Map(this.queries.queueFigures().filter((q) => q.direction === 'inbound').map((q) => [q.channel, q]));
    // All channels' lags at once: with Kafka down, the answer takes one timeout, not one per channel.
    const lags = await Promise.all(this.channels.map((c) => withTimeout(this.lagOf(c), KAFKA_TIMEOUT_MS).then((n) => ({ n }), (err: unknown) => ({ err }))));
    const out: ChannelOverview[] = [];
    for (const [i, c] of this.channels.entries()) {
      const unknown: Record<string, string> = {};
      let listener: ChannelOverview['listener'] = null;
      const bound = readiness?.checks[`listener:${c.name}`];
      if (!this.engine) unknown['listener'] = NOT_EMBEDDED;
      else if (bound === undefined) unknown['listener'] = 'the engine in this process does not serve this channel (role transform, or removed by a reload)';
      else listener = bound ? 'listening' : 'not-listening';
      let conns: number | null = null;
      if (!this.engine) unknown['connections'] = NOT_EMBEDDED;
      else if (bound === undefined) unknown['connections'] = unknown['listener']!;
      else conns = connections?.get(c.name) ?? 0;
      const recent = this.queries.answeredSince(c.name, new Date(now - RATE_WINDOW_S * 1000).toISOString());
      const acks = this.queries.answeredSince(c.name, new Date(now - ACK_WINDOW_S * 1000).toISOString());
      const l = lags[i]!;
      const lag = 'n' in l ? l.n : null;
      if ('err' in l) unknown['transformLag'] = `Kafka did not give the transform group's offsets: ${l.err instanceof Error ? l.err.message : String(l.err)}`;
      const q = queue.get(c.name);
      const waiting = q ? [...q.waitingByCategory.values()].reduce((a, b) => a + b, 0) : 0;
      if (waiting === 0) unknown['deadLetters.oldestAgeSeconds'] = 'no dead letter is waiting';
      out.push({
        name: c.name,
        topics: c.topics,
        slaMinutes: c.review.slaMinutes,
        mapping: c.mapping ?? null,
        listener,
        connections: conns,
        messagesPerSecond: Math.round(([...recent.values()].reduce((a, b) => a + b, 0) / RATE_WINDOW_S) * 1000) / 1000,
        ackCodes: Object.fromEntries([...acks].sort(([a], [b]) => a.localeCompare(b))),
        transformLag: lag,
        deadLetters: { waiting, overdue: q?.overdue ?? 0, oldestAgeSeconds: waiting > 0 ? (q?.oldestAgeSeconds ?? null) : null },
        unknown,
      });
    }
    return out;
  }

  /**
   * Raw records the transform group has not committed yet. A partition the group never committed
   * counts from its earliest offset still held, as the transform starts from the beginning.
   */
  private async lagOf(c: ChannelConfig): Promise<number> {
    const admin = await this.connected();
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(c.topics.raw),
      admin.fetchOffsets({ groupId: transformGroupId(c.name), topics: [c.topics.raw] }),
    ]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let lag = 0n;
    for (const p of ends) {
      const high = BigInt(p.high);
      const from = done.get(p.partition);
      const start = from === undefined || from < 0n ? BigInt(p.low) : from;
      if (high > start) lag += high - start;
    }
    return Number(lag);
  }

  private connected(): Promise<Admin> {
    if (this.admin) return Promise.resolve(this.admin);
    this.connecting ??= (async () => {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
      } catch (err) {
        this.connecting = null;
        throw err;
      }
      this.admin = admin;
      return admin;
    })();
    return this.connecting;
  }

  async close(): Promise<void> {
    const a = this.admin ?? (await this.connecting?.catch(() => null)) ?? null;
    this.admin = null;
    this.connecting = null;
    await a?.disconnect().catch(() => undefined);
  }
}
