/**
 * The dead-letter record on `<destination>.dlq`: a record a destination could not deliver, the v2
 * message included (so it can be sent again with the same MSH-10), the source record it came
 * from, and why the receiver or the mapping refused it. Written by delivery, read by `dlq`,
 * `replay` and the console.
 */
import type { ReplayMark } from './dead-letter.js';

export type OutboundDlqCategory = 'rejected' | 'retries-exhausted' | 'unsendable' | 'mapping';

export const OUTBOUND_DLQ_CATEGORIES: readonly OutboundDlqCategory[] = ['rejected', 'retries-exhausted', 'unsendable', 'mapping'];

export interface OutboundDeadLetter {
  readonly destination: string;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly failure: {
    readonly category: OutboundDlqCategory;
    /** Our words, never message content. */
    readonly message: string;
    readonly ackCode: string | null;
    /** The receiver's ERR segments and MSA-3 (its own words, which may quote content), or the mapping issues. */
    readonly detail: string;
    readonly attempts: number;
    readonly at: string;
  };
  readonly controlId: string | null;
  /** The v2 message as sent (null when none could be built). */
  readonly message: string | null;
  /** Set when a replay wrote this dead letter again: the one it replaces stops waiting. */
  readonly replay?: ReplayMark;
}

/** Whether a parsed record value is an outbound dead letter (not an inbound one: no raw bytes). */
export function isOutboundDeadLetter(x: unknown): x is OutboundDeadLetter {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  const f = r['failure'];
  const s = r['source'];
  return (
    typeof r['destination'] === 'string' &&
    typeof s === 'object' && s !== null &&
    typeof f === 'object' && f !== null &&
    typeof (f as Record<string, unknown>)['category'] === 'string' &&
    (typeof r['message'] === 'string' || r['message'] === null)
  );
}
