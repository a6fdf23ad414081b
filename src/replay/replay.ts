/**
 * A replay: an explicit, audited operation that re-drives selected messages (dead letters, or
 * raw history after a mapping change) through the channel's current configuration and mapping
 * set. Reads stop at the end offsets captured when the replay first started; progress is
 * checkpointed after Kafka acknowledged it; every run writes a started and a finished audit
 * record. A dry run reads and converts but writes nothing at all: no Bundle, no dead letter, no
 * checkpoint, no audit record.
 */
import { randomBytes } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import { AUDIT_TOPIC, HEADERS, replayAuditRecord, toRanges, type OffsetRange } from '../records/index.js';
import { ensureAuditTopic, writeAudit } from '../dlq/audit.js';
import { loadDeadLetters, type InspectedDeadLetter } from '../dlq/inspect.js';
import { readTopicRange, topicBounds, type TopicRecord } from '../kafka/index.js';
import { GroupCommitProducer, type OutRecord, type StoredAt } from '../kafka/producer.js';
import { CircuitBreaker, classifyKafkaError, kafkaErrorCode, retry, type BackoffPolicy } from '../kafka/retry.js';
import type { MessageConverter } from '../transform/index.js';
import { loadCheckpoint, saveCheckpoint, CHECKPOINT_VERSION, type Checkpoint, type ReplayCounts } from './checkpoint.js';
import { diffBundles, formatDiff } from './diff.js';
import { redriveDeadLetter, redriveRaw, type Redrive, type RedriveTarget } from './redrive.js';
import { describeSelection, selectsDeadLetter, selectsRaw, type ReplaySelection } from './selection.js';

export interface ReplayOptions {
  readonly kafka: Kafka;
  readonly channel: ChannelConfig;
  readonly convert: MessageConverter;
  readonly checkpointDir: string;
  readonly operator: string;
  /** A new replay: what to re-drive and why. */
  readonly selection?: ReplaySelection;
  readonly reason?: string;
  /** Default: a new id (rp-<time>-<random>). */
  readonly replayId?: string;
  /** Continue the replay with this id from its checkpoint (selection and reason come from it). */
  readonly resume?: string;
  /** Re-drive at most this many selected messages in this run, then stop resumably. */
  readonly limit?: number;
  readonly auditTopic?: string;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  readonly publishTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
  /** Attempts per write before the replay stops (resumably). Default 8. */
  readonly maxWriteAttempts?: number;
  /** One line per message: dry-run diffs, failures again, skips. */
  readonly onLine?: (line: string) => void;
}

export type ReplayOutcome = 'completed' | 'stopped' | 'failed';

export interface ReplayReport {
  readonly replayId: string;
  readonly channel: string;
  readonly selection: ReplaySelection;
  /** This run. */
  readonly counts: ReplayCounts;
  /** Every run of this replay id so far (equal to counts unless resumed). */
  readonly total: ReplayCounts;
  readonly outcome: ReplayOutcome;
  /** Why it stopped or failed; null when completed. */
  readonly note: string | null;
  readonly checkpoint: string | null;
}

export function newReplayId(now = new Date()): string {
  return `rp-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`;
}

function emptyCounts(): ReplayCounts {
  return { read: 0, selected: 0, converted: 0, storedRaw: 0, failedAgain: 0, skipped: 0 };
}

interface Pending {
  readonly name: string;
  readonly partition: number;
  readonly offset: string;
  readonly redrive: Redrive;
  done: Promise<StoredAt> | null;
}

/** The Bundle the fhir topic holds for each raw record (the last one written), for dry-run diffs. */
async function bundlesByRawRecord(kafka: Kafka, fhirTopic: string): Promise<Map<string, Bundle>> {
  const out = new Map<string, Bundle>();
  await readTopicRange(kafka, fhirTopic, {
    onRecord: (r) => {
      const h = r.headers;
      const k = `${h[HEADERS.rawTopic] ?? ''}/${h[HEADERS.rawPartition] ?? ''}/${h[HEADERS.rawOffset] ?? ''}`;
      if (r.value) out.set(k, JSON.parse(r.value.toString('utf8')) as Bundle);
    },
  });
  return out;
}

function label(source: string, partition: number, offset: string, type: string, controlId: string): string {
  return `${source} ${partition}:${offset} ${type || '-'} ${controlId || '-'}`;
}

class StopReplay extends Error {}

export async function replay(opts: ReplayOptions): Promise<ReplayReport> {
  const now = opts.now ?? (() => new Date());
  const { kafka, channel } = opts;
  const auditTopic = opts.auditTopic ?? AUDIT_TOPIC;
  let cp: Checkpoint;
  if (opts.resume) {
    cp = loadCheckpoint(opts.checkpointDir, opts.resume);
    if (cp.channel !== channel.name) throw new Error(`replay ${cp.replayId} belongs to channel ${cp.channel}, not ${channel.name}`);
  } else {
    if (!opts.selection) throw new Error('a new replay needs a selection');
    if (!opts.selection.dryRun && !opts.reason?.trim()) throw new Error('a replay needs a reason (it is written to the audit topic)');
    const source = opts.selection.source === 'dlq' ? channel.topics.dlq : channel.topics.raw;
    const bounds = await topicBounds(kafka, source);
    cp = {
      v: CHECKPOINT_VERSION,
      replayId: opts.replayId ?? newReplayId(now()),
      channel: channel.name,
      selection: opts.selection,
      reason: opts.reason ?? '',
      operator: opts.operator,
      startedAt: now().toISOString(),
      ends: Object.fromEntries([...bounds.high].map(([p, o]) => [String(p), o.toString()])),
      next: Object.fromEntries([...bounds.low].map(([p, o]) => [String(p), o.toString()])),
      counts: emptyCounts(),
      resolved: [],
      done: false,
    };
  }
  const sel = cp.selection;
  const dryRun = sel.dryRun;
  const runCounts = emptyCounts();
  const report = (outcome: ReplayOutcome, note: string | null): ReplayReport => ({
    replayId: cp.replayId,
    channel: channel.name,
    selection: sel,
    counts: runCounts,
    total: cp.counts,
    outcome,
    note,
    checkpoint: dryRun ? null : opts.checkpointDir,
  });
  if (cp.done) return report('completed', 'this replay had already completed; nothing to do');

  const resolvedNow: Array<{ partition: number; offset: string }> = [];
  const audit = async (kind: 'replay-started' | 'replay-finished', outcome?: ReplayOutcome, error?: string): Promise<void> => {
    const base = {
      operator: opts.operator,
      at: now(),
      channel: channel.name,
      reason: cp.reason,
      replayId: cp.replayId,
      selection: { ...sel, resumed: opts.resume !== undefined, limit: opts.limit ?? null },
    };
    const finish = kind === 'replay-finished' ? { counts: { ...runCounts }, outcome: outcome ?? 'completed', resolved: cp.resolved, error } : undefined;
    await writeAudit(kafka, replayAuditRecord(base, finish), auditTopic);
  };

  if (!dryRun) {
    saveCheckpoint(opts.checkpointDir, cp);
    await ensureAuditTopic(kafka, auditTopic);
    // No audit record, no replay: the started record goes out before anything is written.
    await audit('replay-started');
  }

  const target: RedriveTarget = { channel, convert: opts.convert, replayId: cp.replayId, now };
  const existing = dryRun ? await bundlesByRawRecord(kafka, channel.topics.fhir) : null;
  const producer = dryRun ? null : new GroupCommitProducer(kafka);
  if (producer) {
    await producer.connect();
    await producer.learnTopics([channel.topics.fhir, channel.topics.dlq, channel.topics.raw]);
  }
  const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 5000 });
  const write = (record: OutRecord): Promise<StoredAt> =>
    retry(() => producer!.publish(record, opts.publishTimeoutMs ?? 30_000), {
      breaker,
      backoff: opts.backoff ?? { initialMs: 200, maxMs: 5000 },
      maxAttempts: opts.maxWriteAttempts ?? 8,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });

  const seen = new Map<number, bigint>();
  let pending: Pending[] = [];
  let limited = false;
  const line = (text: string): void => opts.onLine?.(text);

  const count = (r: Redrive, c: ReplayCounts): void => {
    if (r.kind === 'bundle') c.converted++;
    else if (r.kind === 'raw') c.storedRaw++;
    else if (r.kind === 'dlq') c.failedAgain++;
    else c.skipped++;
  };
  const both = (f: (c: ReplayCounts) => void): void => {
    f(runCounts);
    f(cp.counts);
  };

  /** Waits for every write in hand, in order, then moves the checkpoint past what was read. */
  const flush = async (): Promise<void> => {
    for (const p of pending) {
      let r = p.redrive;
      if (p.done) {
        try {
          await p.done;
        } catch (err) {
          if (r.kind !== 'bundle' || classifyKafkaError(err) !== 'record-rejected') throw err;
          // The Bundle itself is refused (too large): it becomes a `publish` dead letter.
          const instead = r.refused(kafkaErrorCode(err));
          if (instead.kind !== 'skipped') await write(instead.record);
          r = instead;
        }
      }
      both((c) => count(r, c));
      if (r.kind === 'bundle' || r.kind === 'raw') resolvedNow.push({ partition: p.partition, offset: p.offset });
      if (r.kind === 'dlq') line(`${p.name}: failed again, back in ${channel.topics.dlq}: ${r.category}: ${r.message}`);
    }
    pending = [];
    for (const [p, o] of seen) cp.next[String(p)] = (o + 1n).toString();
    if (resolvedNow.length > 0) cp.resolved = mergeRanges(cp.resolved, toRanges(resolvedNow.splice(0)));
    if (!dryRun) saveCheckpoint(opts.checkpointDir, cp);
  };

  const handle = async (partition: number, offset: string, chosen: boolean, redrive: () => Redrive, name: string, rawRef: string): Promise<boolean> => {
    if (opts.signal?.aborted) throw new StopReplay('interrupted');
    if (chosen && opts.limit !== undefined && runCounts.selected >= opts.limit) {
      // Not read, not seen: the resumed run starts at this record.
      limited = true;
      return false;
    }
    both((c) => c.read++);
    if (chosen) {
      both((c) => c.selected++);
      const r = redrive();
      if (dryRun) {
        both((c) => count(r, c));
        if (r.kind === 'bundle') line(`${name}: would write Bundle: ${formatDiff(diffBundles(existing?.get(rawRef) ?? null, r.bundle))}`);
        else if (r.kind === 'raw') line(`${name}: would store it again in ${channel.topics.raw} (the channel accepts it now)`);
        else if (r.kind === 'dlq') line(`${name}: would fail again: ${r.category}: ${r.message}`);
        else line(`${name}: would skip: ${r.reason}`);
      } else {
        if (r.kind === 'skipped') line(`${name}: skipped: ${r.reason}`);
        pending.push({ name, partition, offset, redrive: r, done: r.kind === 'skipped' ? null : write(r.record) });
      }
    }
    seen.set(partition, BigInt(offset));
    if (pending.length >= 200) await flush();
    return true;
  };

  let outcome: ReplayOutcome = 'completed';
  let note: string | null = null;
  try {
    if (sel.source === 'raw') {
      const from = new Map(Object.entries(cp.next).map(([p, o]) => [Number(p), BigInt(o)]));
      const to = new Map(Object.entries(cp.ends).map(([p, o]) => [Number(p), BigInt(o)]));
      await readTopicRange(kafka, channel.topics.raw, {
        from,
        to,
        onRecord: (r: TopicRecord) =>
          handle(
            r.partition,
            r.offset,
            selectsRaw(sel, r),
            () => redriveRaw(r, target),
            label('raw', r.partition, r.offset, r.headers[HEADERS.messageType] ?? r.headers['ce_type']?.replace(/^hl7v2\./, '') ?? '', r.headers[HEADERS.controlId] ?? ''),
            `${r.topic}/${r.partition}/${r.offset}`,
          ),
      });
    } else {
      const letters = await loadDeadLetters(kafka, channel.topics.dlq, { channel: channel.name, auditTopic });
      const inRange = (d: InspectedDeadLetter): boolean => {
        const o = BigInt(d.summary.ref.offset);
        const p = String(d.summary.ref.partition);
        return o >= BigInt(cp.next[p] ?? '0') && o < BigInt(cp.ends[p] ?? '0');
      };
      const ordered = letters.filter(inRange).sort((a, b) => a.summary.ref.partition - b.summary.ref.partition || (BigInt(a.summary.ref.offset) < BigInt(b.summary.ref.offset) ? -1 : 1));
      for (const d of ordered) {
        const s = d.summary;
        const raw = s.rawRecord;
        const go = await handle(
          s.ref.partition,
          s.ref.offset,
          selectsDeadLetter(sel, s, d.status),
          () => redriveDeadLetter(d.letter, target),
          label('dlq', s.ref.partition, s.ref.offset, s.messageType, s.controlId),
          raw ? `${raw.topic}/${raw.partition}/${raw.offset}` : '',
        );
        if (!go) break;
      }
    }
    await flush();
    if (limited) {
      outcome = 'stopped';
      note = `stopped after ${opts.limit} message(s) (--limit); resume with --resume ${cp.replayId}`;
    } else if (!dryRun) {
      cp.done = true;
      saveCheckpoint(opts.checkpointDir, cp);
    }
  } catch (err) {
    const stopped = err instanceof StopReplay || opts.signal?.aborted === true;
    outcome = stopped ? 'stopped' : 'failed';
    note = stopped
      ? `interrupted; resume with --resume ${cp.replayId}`
      : `${err instanceof Error ? err.message : String(err)}; nothing after the last acknowledged message was checkpointed, resume with --resume ${cp.replayId}`;
    if (stopped) {
      // Whatever is already in flight is finished, so the checkpoint moves as far as it safely can.
      try {
        await flush();
      } catch {
        /* the checkpoint stays where it was */
      }
    }
  } finally {
    await producer?.disconnect().catch(() => undefined);
  }
  if (!dryRun) {
    try {
      await audit('replay-finished', outcome, outcome === 'failed' ? (note ?? undefined) : undefined);
    } catch (err) {
      outcome = 'failed';
      note = `${note ? `${note}; ` : ''}the finished audit record could not be written (${err instanceof Error ? err.message : String(err)})`;
    }
  }
  return report(outcome, note);
}

/** Ranges of two runs together, merged where they overlap or touch. */
function mergeRanges(a: readonly OffsetRange[], b: readonly OffsetRange[]): OffsetRange[] {
  const all = [...a, ...b].map(([p, f, t]) => ({ p, f: BigInt(f), t: BigInt(t) }));
  all.sort((x, y) => x.p - y.p || (x.f < y.f ? -1 : x.f > y.f ? 1 : 0));
  const out: Array<{ p: number; f: bigint; t: bigint }> = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && last.p === r.p && r.f <= last.t + 1n) {
      if (r.t > last.t) last.t = r.t;
    } else out.push({ ...r });
  }
  return out.map((r) => [r.p, r.f.toString(), r.t.toString()] as const);
}

export { describeSelection };
