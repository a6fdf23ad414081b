/**
 * The audit record: one per operator decision, on one engine-wide topic with a single partition
 * (so the trail reads in the order things happened). A replay writes one when it starts and one
 * when it ends; `dlq show --show-phi` writes one before anything is displayed. Audit records carry
 * who, when, why, what and the result, never message content: a control id and a record position
 * say what was touched. docs/dead-letters-and-replay.md shows them in use.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { RecordRef } from './record-ref.js';

export const AUDIT_TOPIC = 'hl7-engine.audit';
export const AUDIT_VERSION = 1;

export type AuditKind = 'replay-started' | 'replay-finished' | 'dlq-phi-shown' | 'dlq-decision' | 'content-shown';

/**
 * A person's decision on one dead letter, or on a whole group of them, other than a replay:
 * resolve and discard take it out of the queue (nothing is deleted: the decision is the record);
 * assign and escalate leave it waiting with a name or a flag on it; resubmit (one dead letter
 * only) stores an operator's corrected text as a new raw record and takes it out of the queue.
 */
export type DecisionAction = 'resolve' | 'discard' | 'assign' | 'escalate' | 'resubmit';

/**
 * What an edit-and-resubmit changed, by hashes only (the text itself is never in an audit
 * record): the dead letter's stored bytes and the edited bytes, which are the new raw record's
 * rawSha256. The record written before anything is produced has no newRecord; the one written
 * after it names where Kafka stored the new raw record.
 */
export interface Resubmission {
  readonly originalSha256: string;
  readonly editedSha256: string;
  readonly editedLength: number;
  readonly newRecord?: RecordRef;
}

/**
 * One decision: on a single dead letter (`target`), or on a group (`targets`, every dead letter
 * it applies to, listed when it was taken, so later arrivals with the same cause are not swept
 * in; `group` says how the operator selected them). Read the targets with decisionTargets().
 */
export interface Decision {
  readonly action: DecisionAction;
  readonly target?: RecordRef;
  readonly targets?: readonly RecordRef[];
  readonly group?: { readonly category: string; readonly cause?: string };
  /** assign: who is to look at it. */
  readonly assignee?: string;
}

/** Every dead letter a decision applies to. */
export function decisionTargets(d: Decision): readonly RecordRef[] {
  return [...(d.target ? [d.target] : []), ...(d.targets ?? [])];
}

/** Offsets [from, to] inclusive on one partition: resolved dead letters, compactly. */
export type OffsetRange = readonly [partition: number, from: string, to: string];

export interface AuditRecord {
  readonly v: typeof AUDIT_VERSION;
  readonly id: string;
  readonly kind: AuditKind;
  readonly operator: string;
  readonly host: string;
  readonly at: string;
  readonly channel: string;
  readonly reason: string | null;
  /** The replay this record belongs to (both of its records share it). */
  readonly replayId?: string;
  /** What was asked for: source, filters, dry run; never message content. */
  readonly selection?: Readonly<Record<string, unknown>>;
  readonly counts?: Readonly<Record<string, number>>;
  readonly outcome?: 'completed' | 'stopped' | 'failed' | 'shown' | 'recorded';
  /** dlq-decision: what was decided about which dead letter. */
  readonly decision?: Decision;
  /** dlq-decision with action resubmit: the hashes of the text before and after the edit. */
  readonly resubmission?: Resubmission;
  /** Dead letters this replay converted or re-stored: they no longer wait. */
  readonly resolved?: readonly OffsetRange[];
  /** Records whose content was displayed (dlq-phi-shown, content-shown). */
  readonly shown?: ReadonlyArray<RecordRef & { readonly controlId: string | null }>;
  readonly error?: string;
}

/** $HL7_OPERATOR, else the OS user: who to ask about a decision. */
export function currentOperator(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['HL7_OPERATOR']?.trim();
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return env['USER'] ?? env['LOGNAME'] ?? 'unknown';
  }
}

export function newAuditRecord(fields: Omit<AuditRecord, 'v' | 'id' | 'host' | 'at' | 'operator'> & { operator?: string; at?: Date }): AuditRecord {
  const { at, operator, ...rest } = fields;
  return {
    v: AUDIT_VERSION,
    id: randomUUID(),
    operator: operator ?? currentOperator(),
    host: hostname(),
    at: (at ?? new Date()).toISOString(),
    ...rest,
  };
}

/** What a replay's started and finished audit records share. */
export interface ReplayAuditBase {
  readonly operator: string;
  readonly at: Date;
  readonly channel: string;
  readonly reason: string | null;
  readonly replayId: string;
  readonly selection: Readonly<Record<string, unknown>>;
}

/** The counts, outcome and resolved dead letters a replay-finished record adds. */
export interface ReplayFinish {
  readonly counts: Readonly<Record<string, number>>;
  readonly outcome: NonNullable<AuditRecord['outcome']>;
  readonly resolved: readonly OffsetRange[];
  /** Left out of the record when undefined. */
  readonly error?: string | undefined;
}

/**
 * A replay writes replay-started before anything is produced and replay-finished at the end,
 * channel and destination replays alike, so terminal, console and alerting read one shape.
 */
export function replayAuditRecord(base: ReplayAuditBase, finish?: ReplayFinish): AuditRecord {
  const { counts, outcome, resolved, error } = finish ?? {};
  return newAuditRecord({
    kind: finish ? 'replay-finished' : 'replay-started',
    ...base,
    ...(finish ? { counts, outcome, resolved, ...(error ? { error } : {}) } : {}),
  });
}

/** Whether a parsed record value is an audit record of this version. */
export function isAuditRecord(x: unknown): x is AuditRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return r['v'] === AUDIT_VERSION && typeof r['kind'] === 'string' && typeof r['channel'] === 'string';
}

/** CloudEvents binary-mode headers of an audit record. */
export function auditHeaders(record: AuditRecord): Record<string, string> {
  return {
    ce_specversion: '1.0',
    ce_id: record.id,
    ce_type: `hl7engine.audit.${record.kind}`,
    ce_source: 'hl7-engine/audit',
    ce_time: record.at,
    'content-type': 'application/json',
  };
}

/** Offsets as inclusive ranges per partition, sorted. */
export function toRanges(refs: Iterable<{ partition: number; offset: string }>): OffsetRange[] {
  const byPartition = new Map<number, bigint[]>();
  for (const r of refs) {
    let list = byPartition.get(r.partition);
    if (!list) byPartition.set(r.partition, (list = []));
    list.push(BigInt(r.offset));
  }
  const out: OffsetRange[] = [];
  for (const [p, list] of [...byPartition].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let from = list[0]!;
    let to = from;
    for (const o of list.slice(1)) {
      if (o === to + 1n || o === to) {
        to = o;
        continue;
      }
      out.push([p, from.toString(), to.toString()]);
      from = to = o;
    }
    out.push([p, from.toString(), to.toString()]);
  }
  return out;
}

export function inRanges(ranges: readonly OffsetRange[], partition: number, offset: string): boolean {
  const o = BigInt(offset);
  return ranges.some(([p, from, to]) => p === partition && BigInt(from) <= o && o <= BigInt(to));
}
