/**
 * Which messages a replay re-drives. Stored in the checkpoint and the audit records as plain
 * JSON: what the operator asked for, never message content (control ids identify messages,
 * not patients).
 */
import type { DeadLetterStatus } from '../dlq/inspect.js';
import type { DeadLetterSummary } from '../dlq/dead-letter.js';
import type { TopicRecord } from '../kafka/index.js';
import { HEADERS } from '../records/index.js';

export type ReplaySource = 'dlq' | 'raw';

export interface ReplaySelection {
  readonly source: ReplaySource;
  /** DLQ only: one failure category. */
  readonly category?: string;
  /** ISO times; DLQ: the last failure time, raw: when the message was received. */
  readonly since?: string;
  readonly until?: string;
  /** Positions in the source topic. */
  readonly offsets?: ReadonlyArray<{ readonly partition: number; readonly offset: string }>;
  readonly controlIds?: readonly string[];
  /** DLQ only: also dead letters already resolved or superseded by an earlier replay. */
  readonly includeResolved?: boolean;
  readonly dryRun: boolean;
}

function inWindow(sel: ReplaySelection, iso: string): boolean {
  const t = Date.parse(iso);
  if (sel.since !== undefined && !(t >= Date.parse(sel.since))) return false;
  if (sel.until !== undefined && !(t < Date.parse(sel.until))) return false;
  return true;
}

function atOffset(sel: ReplaySelection, partition: number, offset: string): boolean {
  return !sel.offsets || sel.offsets.some((o) => o.partition === partition && o.offset === offset);
}

/** A raw record, judged by its headers (no need to parse the envelope to skip it). */
export function selectsRaw(sel: ReplaySelection, r: TopicRecord): boolean {
  if (!atOffset(sel, r.partition, r.offset)) return false;
  if (sel.controlIds && !sel.controlIds.includes(r.headers[HEADERS.controlId] ?? '')) return false;
  const time = r.headers['ce_time'] ?? new Date(r.timestamp).toISOString();
  return inWindow(sel, time);
}

export function selectsDeadLetter(sel: ReplaySelection, s: DeadLetterSummary, status: DeadLetterStatus): boolean {
  if (!sel.includeResolved && status !== 'waiting') return false;
  if (!atOffset(sel, s.ref.partition, s.ref.offset)) return false;
  if (sel.category !== undefined && s.category !== sel.category) return false;
  if (sel.controlIds && !sel.controlIds.includes(s.controlId)) return false;
  return inWindow(sel, s.lastAt);
}

/** One line for summaries and logs. */
export function describeSelection(sel: ReplaySelection): string {
  const parts: string[] = [`from ${sel.source}`];
  if (sel.category) parts.push(`category ${sel.category}`);
  if (sel.since) parts.push(`since ${sel.since}`);
  if (sel.until) parts.push(`until ${sel.until}`);
  if (sel.offsets) parts.push(`offsets ${sel.offsets.map((o) => `${o.partition}:${o.offset}`).join(',')}`);
  if (sel.controlIds) parts.push(`control ids ${sel.controlIds.join(',')}`);
  if (sel.includeResolved) parts.push('including resolved');
  if (sel.dryRun) parts.push('dry run');
  return parts.join(', ');
}
