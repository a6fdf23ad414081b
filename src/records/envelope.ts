/**
 * The raw envelope: what ingest stores on `<channel>.raw` for every accepted message, and what
 * every dead letter carries. The raw bytes always travel with the record, so a wrong charset
 * guess or a broken mapping can be replayed later. The asyncapi document (docs/asyncapi.yaml)
 * describes it for consumers.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CharsetDecision, Repair } from '../charset/types.js';
import type { MshSummary } from '../hl7/types.js';

export const ENVELOPE_VERSION = 1;

export interface RawEnvelope {
  readonly v: typeof ENVELOPE_VERSION;
  readonly id: string;
  readonly channel: string;
  /** host:port of the listener that received the frame. */
  readonly listener: string;
  readonly remoteAddress: string;
  readonly receivedAt: string;
  /** The frame's bytes (between VT and FS), base64; byte-identical to what the sender sent. */
  readonly raw: string;
  readonly rawSha256: string;
  readonly rawLength: number;
  /** Text after decoding and repairs; null when the bytes could not be decoded. */
  readonly text: string | null;
  readonly charset: {
    readonly source: CharsetDecision['source'] | null;
    readonly charset: string | null;
    readonly declared: string;
    readonly repairs: readonly Repair[];
  };
  readonly msh: MshSummary | null;
  /** Set when the frame was an FHS/BHS batch: this message's place in it. */
  readonly batch?: { readonly index: number; readonly count: number };
  /** True when the raw bytes are only the head of a frame too large to keep. */
  readonly truncated?: boolean;
}

/** Whether a parsed record value is an envelope of this version. */
export function isRawEnvelope(x: unknown): x is RawEnvelope {
  if (typeof x !== 'object' || x === null) return false;
  const e = x as Record<string, unknown>;
  return (
    e['v'] === ENVELOPE_VERSION &&
    typeof e['id'] === 'string' &&
    typeof e['raw'] === 'string' &&
    (typeof e['text'] === 'string' || e['text'] === null) &&
    typeof e['msh'] === 'object' &&
    typeof e['charset'] === 'object' &&
    e['charset'] !== null
  );
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function newEnvelopeId(): string {
  return randomUUID();
}

/** MSH-9.1^MSH-9.2, or '' when the envelope has no MSH summary. */
export function messageTypeOf(envelope: RawEnvelope): string {
  const msh = envelope.msh;
  if (!msh || !msh.messageCode) return '';
  return msh.triggerEvent ? `${msh.messageCode}^${msh.triggerEvent}` : msh.messageCode;
}
