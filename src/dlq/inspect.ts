/**
 * What is waiting in a channel's DLQ. The DLQ topic is append-only, so "waiting" is worked out:
 * a dead letter stops waiting when a replay converted it (the replay's audit record lists it as
 * resolved) or when a replay dead-lettered it again (the new record points back to it and waits
 * in its place, attempts + 1).
 */
import type { Kafka } from 'kafkajs';
import { AUDIT_TOPIC, decisionTargets, inRanges, type OffsetRange } from '../records/index.js';
import { readAudit } from './audit.js';
import { previousOf, readDeadLetter, summarize, type DeadLetter, type DeadLetterSummary } from './dead-letter.js';
import { readTopicRange } from '../kafka/index.js';

export type DeadLetterStatus = 'waiting' | 'resolved' | 'superseded' | 'discarded' | 'resubmitted';

export interface InspectedDeadLetter {
  readonly letter: DeadLetter;
  readonly summary: DeadLetterSummary;
  readonly status: DeadLetterStatus;
}

export interface DlqFilter {
  readonly category?: string;
  /** On the last failure time. */
  readonly since?: Date;
  readonly until?: Date;
  readonly controlIds?: readonly string[];
  /** "partition:offset" positions in the DLQ topic. */
  readonly offsets?: ReadonlyArray<{ readonly partition: number; readonly offset: string }>;
  /** Include resolved and superseded dead letters (default: waiting only). */
  readonly all?: boolean;
}

/**
 * A point in time from the command line: an ISO 8601 date/time, or an age such as 30m, 2h,
 * 7d (that long before `now`).
 */
export function parseTime(value: string, now = new Date()): Date {
  const rel = /^(\d+)\s*([smhdw])$/i.exec(value.trim());
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[rel[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(rel[1]) * unit);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`"${value}" is not a time: use ISO 8601 (2026-03-01T08:00:00Z) or an age like 30m, 2h, 7d`);
  return new Date(t);
}

/** "P:O" → { partition, offset }. */
export function parseOffsetRef(value: string): { partition: number; offset: string } {
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (!m) throw new Error(`"${value}" is not a record position: use PARTITION:OFFSET, e.g. 0:42`);
  return { partition: Number(m[1]), offset: BigInt(m[2]!).toString() };
}

/** Every dead letter of the topic up to its end now, with its status. */
export async function loadDeadLetters(
  kafka: Kafka,
  dlqTopic: string,
  opts: { channel: string; auditTopic?: string },
): Promise<InspectedDeadLetter[]> {
  const letters: DeadLetter[] = [];
  await readTopicRange(kafka, dlqTopic, { onRecord: (r) => void letters.push(readDeadLetter(r)) });
  const audit = await readAudit(kafka, { channel: opts.channel, topic: opts.auditTopic ?? AUDIT_TOPIC });
  const resolved: OffsetRange[] = [];
  for (const a of audit) if (a.kind === 'replay-finished' && a.resolved && a.selection?.['source'] === 'dlq') resolved.push(...a.resolved);
  // A person's resolve or discard decision (from the console) takes a dead letter out too; the
  // last such decision on a dead letter wins.
  // An edit-and-resubmit does too, unless producing its raw record failed (audited as failed).
  const decided = new Map<string, 'resolved' | 'discarded' | 'resubmitted'>();
  for (const a of audit) {
    const d = a.kind === 'dlq-decision' ? a.decision : undefined;
    if (!d || (d.action !== 'resolve' && d.action !== 'discard' && d.action !== 'resubmit')) continue;
    for (const t of decisionTargets(d)) {
      if (t.topic !== dlqTopic) continue;
      const at = `${t.partition}:${t.offset}`;
      if (d.action === 'resubmit' && a.outcome === 'failed') decided.delete(at);
      else decided.set(at, d.action === 'resolve' ? 'resolved' : d.action === 'discard' ? 'discarded' : 'resubmitted');
    }
  }
  const superseded = new Set<string>();
  for (const l of letters) {
    const prev = previousOf(l);
    if (prev && prev.topic === dlqTopic) superseded.add(`${prev.partition}:${prev.offset}`);
  }
  return letters.map((letter) => {
    const { partition, offset } = letter.ref;
    const status: DeadLetterStatus = superseded.has(`${partition}:${offset}`)
      ? 'superseded'
      : inRanges(resolved, partition, offset)
        ? 'resolved'
        : (decided.get(`${partition}:${offset}`) ?? 'waiting');
    return { letter, summary: summarize(letter), status };
  });
}

export function filterDeadLetters(list: readonly InspectedDeadLetter[], f: DlqFilter): InspectedDeadLetter[] {
  const since = f.since?.getTime();
  const until = f.until?.getTime();
  return list.filter(({ summary: s, status }) => {
    if (!f.all && status !== 'waiting') return false;
    if (f.category !== undefined && s.category !== f.category) return false;
    const t = Date.parse(s.lastAt);
    if (since !== undefined && !(t >= since)) return false;
    if (until !== undefined && !(t < until)) return false;
    if (f.controlIds && !f.controlIds.includes(s.controlId)) return false;
    if (f.offsets && !f.offsets.some((o) => o.partition === s.ref.partition && o.offset === s.ref.offset)) return false;
    return true;
  });
}

export interface CauseGroup {
  readonly category: string;
  readonly stage: string;
  readonly cause: string;
  readonly count: number;
  readonly messageTypes: ReadonlyMap<string, number>;
  readonly oldest: string;
  readonly newest: string;
  readonly items: readonly InspectedDeadLetter[];
}

/** Grouped by category, then cause; the biggest groups first. */
export function groupByCause(list: readonly InspectedDeadLetter[]): CauseGroup[] {
  const groups = new Map<string, { category: string; stage: string; cause: string; items: InspectedDeadLetter[] }>();
  for (const d of list) {
    const s = d.summary;
    const k = `${s.category}\0${s.stage}\0${s.cause}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { category: s.category, stage: s.stage, cause: s.cause, items: [] }));
    g.items.push(d);
  }
  return [...groups.values()]
    .map((g) => {
      const types = new Map<string, number>();
      let oldest = '';
      let newest = '';
      for (const d of g.items) {
        const t = d.summary.messageType || '(no MSH-9)';
        types.set(t, (types.get(t) ?? 0) + 1);
        if (!oldest || d.summary.lastAt < oldest) oldest = d.summary.lastAt;
        if (!newest || d.summary.lastAt > newest) newest = d.summary.lastAt;
      }
      return { ...g, count: g.items.length, messageTypes: types, oldest, newest };
    })
    .sort((a, b) => a.category.localeCompare(b.category) || b.count - a.count || a.cause.localeCompare(b.cause));
}
