/**
 * Applying a new set of channels to a running engine (hot reload): what changed per channel, and
 * the least that must restart for it. ConfigReloader (reload.ts) drives it through Engine.apply.
 */
import type { ChannelConfig } from '../channel/index.js';
import type { ChannelConverter, Runtime, RunningChannel } from './runtime.js';

/** What apply() did to one channel; `what` names the parts that changed (never values). */
export interface ChannelChange {
  readonly channel: string;
  readonly action: 'added' | 'removed' | 'updated' | 'unchanged';
  readonly what: readonly string[];
}

/** A channel apply() could not change; it keeps running as before (or, if new, is not started). */
export interface ChannelApplyFailure {
  readonly channel: string;
  readonly reason: string;
}

export interface ApplyReport {
  readonly changes: readonly ChannelChange[];
  readonly failures: readonly ChannelApplyFailure[];
}

/** What the reloader needs of an engine: a way to apply a validated set of channels. */
export interface ConfigTarget {
  apply(next: readonly ChannelConfig[], graceMs?: number): Promise<ApplyReport>;
}

/** Listener settings that only a new socket server can change (the allow-list is checked per connection). */
function listenerIdentity(c: ChannelConfig): string {
  const { host, port, tls, allowedAddresses: _allow, ...limits } = c.listener;
  return JSON.stringify({ host, port, tls, limits });
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Switches `rt` to `next`. Every mapping set loads first: one that does not throws
 * (MappingLoadError) and nothing changes. See Engine.apply for what happens per channel.
 */
export async function applyChannels(rt: Runtime, next: readonly ChannelConfig[], graceMs: number): Promise<ApplyReport> {
  const producer = rt.runsIngest ? rt.ingestProducer : await rt.transformPublisher();
  if (!producer) throw new Error('the engine has not started; start() it before applying a configuration');
  const converters = rt.transformConverters(next);
  const changes: ChannelChange[] = [];
  const failures: ChannelApplyFailure[] = [];
  const fail = (channel: string, err: unknown): void => {
    failures.push({ channel, reason: err instanceof Error ? err.message : String(err) });
  };
  const wanted = new Set(next.map((c) => c.name));

  // Topics first: if Kafka cannot create them, nothing has changed yet.
  await rt.ensureChannelTopics(next, producer);

  // Removed channels go first: their ports may be what a changed or added channel binds.
  for (const r of [...rt.running]) {
    if (wanted.has(r.channel.name)) continue;
    await rt.stopWorker(r.channel.name);
    await r.listener.close(graceMs);
    rt.running.splice(rt.running.indexOf(r), 1);
    rt.forgetAllowList(r.channel.name);
    changes.push({ channel: r.channel.name, action: 'removed', what: [] });
  }

  // A transform-only process has workers without listeners: a removed channel's worker stops here.
  for (const name of [...rt.transformWorkers.keys()]) {
    if (wanted.has(name)) continue;
    await rt.stopWorker(name);
    if (!rt.runsIngest) changes.push({ channel: name, action: 'removed', what: [] });
  }

  for (const channel of rt.runsIngest ? next : []) {
    const current = rt.running.find((r) => r.channel.name === channel.name);
    try {
      if (current) {
        const what = await updateChannel(rt, current, channel, graceMs);
        changes.push({ channel: channel.name, action: what.length > 0 ? 'updated' : 'unchanged', what });
      } else {
        rt.running.push(await rt.openChannel(channel, producer));
        changes.push({ channel: channel.name, action: 'added', what: [] });
      }
    } catch (err) {
      fail(channel.name, err);
    }
  }

  for (const channel of next) {
    if (failures.some((f) => f.channel === channel.name)) continue;
    try {
      const what = await updateTransform(rt, channel, converters.find((c) => c.channel.name === channel.name) ?? null);
      if (what) {
        const i = changes.findIndex((c) => c.channel === channel.name);
        const was = changes[i];
        if (was && was.action !== 'added') changes[i] = { channel: channel.name, action: 'updated', what: [...was.what, what] };
        // A transform-only process listed nothing for the channel above.
        if (!was) changes.push(what === 'transform started' ? { channel: channel.name, action: 'added', what: [] } : { channel: channel.name, action: 'updated', what: [what] });
      }
    } catch (err) {
      fail(channel.name, err);
    }
  }
  rt.opts = { ...rt.opts, channels: next };
  return { changes, failures };
}

/** Applies a kept channel's new settings; returns the names of the parts that changed. */
async function updateChannel(rt: Runtime, r: RunningChannel, channel: ChannelConfig, graceMs: number): Promise<string[]> {
  const old = r.channel;
  const what: string[] = [];
  for (const part of ['accept', 'charset', 'ack', 'topics', 'dedupe'] as const) if (!same(old[part], channel[part])) what.push(part);
  if (!same(old.listener.allowedAddresses, channel.listener.allowedAddresses)) what.push('allowedAddresses');
  const rebind = listenerIdentity(old) !== listenerIdentity(channel);
  if (rebind) what.push('listener');
  // Rebuilt from Kafka before anything changes, so a failure here leaves the channel as it was.
  const dedupe = same(old.dedupe, channel.dedupe) ? undefined : await rt.dedupeMemory(channel);

  let listener = r.listener;
  if (rebind) {
    listener = rt.newListener(channel, r.ingest);
    if (channel.listener.port !== 0 && channel.listener.port === old.listener.port) {
      // One port cannot be bound twice: drain the old listener, then bind. If the new one
      // cannot bind, the old settings come back so the channel is not left without a listener.
      await r.listener.close(graceMs);
      try {
        await rt.bind(channel, listener);
      } catch (err) {
        const back = rt.newListener(old, r.ingest);
        await rt.bind(old, back);
        rt.running[rt.running.indexOf(r)] = { ...r, listener: back };
        throw err;
      }
    } else {
      await rt.bind(channel, listener);
    }
  }
  // Everything the next frame reads: from here on, frames follow the new settings.
  r.ingest.setChannel(channel, dedupe ? { dedupe } : {});
  rt.setAllowList(channel);
  rt.running[rt.running.indexOf(r)] = { channel, listener, ingest: r.ingest };
  if (rebind && listener !== r.listener) await r.listener.close(graceMs);
  return what;
}

/** Starts, stops, restarts or re-points a channel's transform worker; returns what changed, if anything. */
async function updateTransform(rt: Runtime, channel: ChannelConfig, converter: ChannelConverter | null): Promise<string | null> {
  const running = rt.transformWorkers.get(channel.name);
  if (!converter) {
    if (!running) return null;
    await rt.stopWorker(channel.name);
    return 'transform stopped';
  }
  const producer = await rt.transformPublisher();
  if (!running) {
    await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
    await rt.startWorker(converter, producer);
    return 'transform started';
  }
  if (!same(running.channel.topics, channel.topics)) {
    // The group's offsets belong to the raw topic it consumed; a worker on other topics is a
    // new member: the old one leaves (its writes committed) before the new one joins.
    await rt.stopWorker(channel.name);
    await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
    await rt.startWorker(converter, producer);
    return 'transform restarted';
  }
  if (running.key === converter.key) return null;
  // Records Kafka holds now keep the old mapping; anything stored after this point gets the new.
  const from = await rt.endOffsets(channel.topics.raw);
  running.worker.setConverter(converter.convert, from);
  rt.transformWorkers.set(channel.name, { ...running, key: converter.key });
  rt.opts.logger.info({ channel: channel.name, from: Object.fromEntries(from) }, 'mapping switched: raw records from these offsets use the new mapping set');
  return 'mapping';
}
