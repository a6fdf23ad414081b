/**
 * The dead-letter record on `<channel>.dlq`: the whole raw envelope (bytes included, so it can be
 * replayed once the cause is fixed) plus why the stage gave up.
 */
import type { RawEnvelope } from './envelope.js';
import type { RecordRef } from './record-ref.js';

export type DlqCategory =
  // ingest
  | 'frame'
  | 'charset'
  | 'parse'
  | 'rejected'
  // transform
  | 'unsupported'
  | 'mapping'
  | 'validation'
  | 'publish';

export type FailureStage = 'ingest' | 'transform' | 'replay';

export interface Failure {
  readonly category: DlqCategory;
  readonly stage: FailureStage;
  /** What an analyst reads first; never message content. */
  readonly message: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
}

export interface DlqRecord extends RawEnvelope {
  readonly failure: Failure;
  /** The raw record this failure belongs to, when it was stored (mapping failures). */
  readonly rawRecord?: RecordRef;
}

/**
 * What a replay adds to a dead letter it writes again: which replay, and the dead letter it
 * replaces (so that one stops counting as waiting).
 */
export interface ReplayMark {
  readonly id: string;
  /** Absent when the message came from the raw topic rather than from a dead letter. */
  readonly previous?: RecordRef;
}

/** A DLQ record as written by ingest, transform or replay. */
export type StoredDeadLetter = DlqRecord & { readonly replay?: ReplayMark };

/** Whether a parsed record value is a dead letter this engine can read. */
export function isDeadLetter(x: unknown): x is StoredDeadLetter {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  const f = r['failure'];
  return typeof r['raw'] === 'string' && typeof f === 'object' && f !== null && typeof (f as Record<string, unknown>)['category'] === 'string';
}
