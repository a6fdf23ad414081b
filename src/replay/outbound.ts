/**
 * Replaying a write-back destination's dead letters: each selected one is sent again to the
 * destination's receiver through the delivery path itself (deliver(): the same ACK rules, retry
 * policy and MSH-10; the destination's throttle; its TLS and timeouts), in DLQ order per
 * partition, which is per patient since dead letters keep their source record's key.
 *
 * What is sent: the v2 message stored in the dead letter, byte for byte, so a receiver that did
 * process the first copy (its ACK was lost) recognises the resend by MSH-10. Only when the dead
 * letter holds no message (the mapping could not build one) is the source record read again at
 * its original position and mapped with the current outbound set; MSH-10 derives from that
 * position, so it too is the control id the first attempt would have had. The source record is
 * not produced again to its topic: that would hand it to every other consumer of the topic and
 * give it a new offset, hence a new MSH-10.
 *
 * Audited as inbound replays are: a replay-started record before the first send, a
 * replay-finished one with the counts and the dead letters now delivered (they stop waiting);
 * one that fails again is written to `<destination>.dlq` pointing back to the one it replaces.
 * A dry run sends nothing and writes nothing: it lists what would be sent.
 */
import type { Kafka, Producer } from 'kafkajs';
import { deliver, openConnection, parseJson, buildOutboundMessage, dlqTopicOf, TokenBucket, type Connection, type Destination, type DeliveryOutcome } from '../delivery/index.js';
import { ensureAuditTopic, writeAudit } from '../dlq/audit.js';
import { loadDeadLetters, type InspectedDeadLetter } from '../dlq/inspect.js';
import { readTopicRange, topicBounds } from '../kafka/index.js';
import { MllpSendError } from '../mllp/index.js';
import { encodeOutbound, type OutboundSet } from '../outbound/index.js';
import { AUDIT_TOPIC, replayAuditRecord, toRanges, type OutboundDeadLetter } from '../records/index.js';
import { newReplayId, type ReplayOutcome } from './replay.js';
import { describeSelection, selectsDeadLetter, type ReplaySelection } from './selection.js';

export interface OutboundReplayOptions {
  readonly kafka: Kafka;
  readonly destination: Destination;
  /** Needed only to rebuild messages of `mapping` dead letters; null for pass-through. */
  readonly outbound: OutboundSet | null;
  readonly selection: ReplaySelection;
  readonly reason?: string;
  readonly operator: string;
  readonly replayId?: string;
  readonly limit?: number;
  readonly auditTopic?: string;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** Default: an MLLP connection to the destination's target. */
  readonly connect?: () => Connection;
  /** Waits between attempts (the destination's backoff); tests pass a fast one. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onLine?: (line: string) => void;
}

export interface OutboundReplayCounts {
  read: number;
  selected: number;
  /** The receiver answered AA (or CA). */
  delivered: number;
  /** Back in the DLQ, attempts added. */
  failedAgain: number;
  /** No message stored and none could be built again. */
  skipped: number;
}

export interface OutboundReplayReport {
  readonly replayId: string;
  readonly destination: string;
  readonly selection: ReplaySelection;
  readonly counts: OutboundReplayCounts;
  readonly outcome: ReplayOutcome;
  readonly note: string | null;
}

class Stop extends Error {}

/** The source record a dead letter came from, read at its position; null when it is gone (retention). */
async function sourceValue(kafka: Kafka, src: OutboundDeadLetter['source']): Promise<Buffer | null | undefined> {
  let found: Buffer | null | undefined;
  const off = BigInt(src.offset);
  const bounds = await topicBounds(kafka, src.topic);
  await readTopicRange(kafka, src.topic, {
    from: new Map([[src.partition, off]]),
    // Every other partition ends where it starts: only this one record is read.
    to: new Map([...bounds.high.keys()].map((p) => [p, p === src.partition ? off + 1n : 0n] as const)),
    onRecord: (r) => {
      if (r.offset === src.offset) found = r.value;
      return false;
    },
  });
  return found;
}

export async function replayOutbound(opts: OutboundReplayOptions): Promise<OutboundReplayReport> {
  const now = opts.now ?? (() => new Date());
  const { kafka, destination: d, selection: sel } = opts;
  if (sel.source !== 'dlq') throw new Error(`a destination replays its dead letters only (--from dlq), not ${sel.source}`);
  if (!sel.dryRun && !opts.reason?.trim()) throw new Error('a replay needs a reason (it is written to the audit topic)');
  const auditTopic = opts.auditTopic ?? AUDIT_TOPIC;
  const replayId = opts.replayId ?? newReplayId(now());
  const dlqTopic = dlqTopicOf(d);
  const counts: OutboundReplayCounts = { read: 0, selected: 0, delivered: 0, failedAgain: 0, skipped: 0 };
  const line = (t: string): void => opts.onLine?.(t);
  const delivered: Array<{ partition: number; offset: string }> = [];

  const audit = async (kind: 'replay-started' | 'replay-finished', outcome?: ReplayOutcome, error?: string): Promise<void> => {
    const base = {
      operator: opts.operator,
      at: now(),
      channel: d.name,
      reason: opts.reason ?? null,
      replayId,
      selection: { ...sel, destination: d.name, target: `${d.target.host}:${d.target.port}`, limit: opts.limit ?? null },
    };
    const finish = kind === 'replay-finished' ? { counts: { ...counts }, outcome: outcome ?? 'completed', resolved: toRanges(delivered), error } : undefined;
    await writeAudit(kafka, replayAuditRecord(base, finish), auditTopic);
  };

  const letters = await loadDeadLetters(kafka, dlqTopic, { channel: d.name, auditTopic });
  const ordered = letters
    .filter((l) => l.letter.outbound !== undefined)
    .sort((a, b) => a.summary.ref.partition - b.summary.ref.partition || (BigInt(a.summary.ref.offset) < BigInt(b.summary.ref.offset) ? -1 : 1));
  counts.read = ordered.length;
  let chosen = ordered.filter((l) => selectsDeadLetter(sel, l.summary, l.status));
  let limited = false;
  if (opts.limit !== undefined && chosen.length > opts.limit) {
    chosen = chosen.slice(0, opts.limit);
    limited = true;
  }
  counts.selected = chosen.length;

  const messageOf = async (l: InspectedDeadLetter): Promise<{ text: string; rebuilt: boolean } | { text: null; why: string }> => {
    const o = l.letter.outbound!;
    if (o.message !== null) return { text: o.message, rebuilt: false };
    if (d.mapping.passThrough) return { text: null, why: 'a pass-through record without bytes' };
    const value = await sourceValue(kafka, o.source);
    if (value === undefined) return { text: null, why: `the source record ${o.source.topic} ${o.source.partition}:${o.source.offset} is no longer in Kafka` };
    const built = buildOutboundMessage(d, opts.outbound, parseJson(value), o.source);
    return built.text === null ? { text: null, why: `the current mapping still builds no message (${built.detail.split('\n')[0] ?? ''})` } : { text: built.text, rebuilt: true };
  };
  const name = (l: InspectedDeadLetter): string => `dlq ${l.summary.ref.partition}:${l.summary.ref.offset} ${l.summary.messageType || '-'} ${l.summary.controlId || '-'}`;

  if (sel.dryRun) {
    for (const l of chosen) {
      const m = await messageOf(l);
      if (m.text === null) {
        counts.skipped++;
        line(`${name(l)}: would skip: ${m.why}`);
      } else {
        line(`${name(l)}: would send ${m.rebuilt ? 'a message built again from the source record' : 'the stored message'} (${Buffer.byteLength(m.text)} bytes) to ${d.target.host}:${d.target.port}`);
      }
    }
    return { replayId, destination: d.name, selection: sel, counts, outcome: limited ? 'stopped' : 'completed', note: limited ? `only the first ${opts.limit} (--limit)` : null };
  }

  await ensureAuditTopic(kafka, auditTopic);
  // No audit record, no replay: the started record goes out before anything is sent.
  await audit('replay-started');
  const throttle = d.throttle === null ? null : new TokenBucket(d.throttle);
  const stopWaiters = new Set<() => void>();
  const sleep =
    opts.sleep ??
    ((ms: number): Promise<void> =>
      new Promise((resolve, reject) => {
        if (opts.signal?.aborted) return reject(new Stop('interrupted'));
        const t = setTimeout(() => {
          stopWaiters.delete(wake);
          resolve();
        }, ms);
        const wake = (): void => {
          clearTimeout(t);
          reject(new Stop('interrupted'));
        };
        stopWaiters.add(wake);
      }));
  const onAbort = (): void => {
    for (const w of stopWaiters) w();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const conn = (opts.connect ?? (() => openConnection(d)))();
  let producer: Producer | null = null;
  let outcome: ReplayOutcome = limited ? 'stopped' : 'completed';
  let note: string | null = limited ? `stopped after ${opts.limit} dead letter(s) (--limit); run it again for the rest` : null;
  try {
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (const l of chosen) {
      if (opts.signal?.aborted) throw new Stop('interrupted');
      const o = l.letter.outbound!;
      const m = await messageOf(l);
      if (m.text === null) {
        counts.skipped++;
        line(`${name(l)}: skipped: ${m.why}`);
        continue;
      }
      let r: DeliveryOutcome;
      try {
        r = await deliver(encodeOutbound(m.text, d.mapping.charset), async (b) => {
          await throttle?.take(sleep);
          return conn.send(b);
        }, d.retry, { sleep });
      } catch (err) {
        if (err instanceof MllpSendError && err.code === 'closed') throw new Stop('interrupted');
        throw err;
      }
      if (r.kind === 'delivered') {
        counts.delivered++;
        delivered.push({ partition: l.summary.ref.partition, offset: l.summary.ref.offset });
        line(`${name(l)}: delivered (${r.ackCode}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''})`);
        continue;
      }
      const again: OutboundDeadLetter = {
        destination: d.name,
        source: o.source,
        failure: {
          category: r.reason,
          message: r.reason === 'rejected' ? `the receiver rejected the message (${r.ackCode ?? ''})` : r.reason === 'unsendable' ? 'the message has no MSH-10' : `no AA after ${r.attempts} attempts`,
          ackCode: r.ackCode,
          detail: r.detail,
          attempts: o.failure.attempts + r.attempts,
          at: now().toISOString(),
        },
        controlId: o.controlId,
        message: m.text,
        replay: { id: replayId, previous: l.summary.ref },
      };
      await producer.send({
        topic: dlqTopic,
        acks: -1,
        messages: [{ key: l.letter.key, value: JSON.stringify(again), headers: { dlq_category: again.failure.category, dlq_stage: 'delivery' } }],
      });
      counts.failedAgain++;
      line(`${name(l)}: failed again, back in ${dlqTopic}: ${again.failure.category}: ${again.failure.message}`);
    }
  } catch (err) {
    const stopped = err instanceof Stop || opts.signal?.aborted === true;
    outcome = stopped ? 'stopped' : 'failed';
    note = stopped ? 'interrupted; run it again for the dead letters still waiting' : err instanceof Error ? err.message : String(err);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await conn.close().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
  }
  try {
    await audit('replay-finished', outcome, outcome === 'failed' ? (note ?? undefined) : undefined);
  } catch (err) {
    outcome = 'failed';
    note = `${note ? `${note}; ` : ''}the finished audit record could not be written (${err instanceof Error ? err.message : String(err)}); the dead letters delivered still show as waiting`;
  }
  return { replayId, destination: d.name, selection: sel, counts, outcome, note };
}

export function outboundSummary(r: OutboundReplayReport): string {
  const c = r.counts;
  const what = r.selection.dryRun ? 'dry run, nothing sent or written' : `replay ${r.replayId}`;
  return [
    `${what}: destination ${r.destination}, ${describeSelection(r.selection)}`,
    `  read ${c.read}, selected ${c.selected}: ${r.selection.dryRun ? `${c.selected - c.skipped} would be sent` : `${c.delivered} delivered (AA), ${c.failedAgain} failed again (back in the DLQ)`}, ${c.skipped} skipped`,
    `  outcome: ${r.outcome}${r.note ? ` (${r.note})` : ''}`,
    ...(r.selection.dryRun ? [] : [`  audit: ${AUDIT_TOPIC}`]),
  ].join('\n') + '\n';
}
