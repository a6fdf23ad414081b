/**
 * Ingest: one MLLP frame in, one ACK out, and the frame's bytes in Kafka before any AA.
 *
 *   bytes ─▶ charset (decode + repairs) ─▶ parser ─▶ accept rules ─▶ duplicate memory
 *         ─▶ raw topic (acks=all, group commit) ─▶ AA
 * Anything that cannot be stored as a message goes to the DLQ first and is then answered AR;
 * if Kafka cannot take it either, the answer is AE so the sender keeps the message and resends.
 */
import type { ChannelConfig } from '../channel/types.js';
import { CHARSET_REJECT } from '../channel/types.js';
import { decodeMessage, encodeText } from '../charset/index.js';
import type { CharsetDecision, Repair } from '../charset/types.js';
import { parseMessage, readDelimiters, splitBatch } from '../hl7/index.js';
import type { Hl7Message } from '../hl7/index.js';
import { DEFAULT_DELIMITERS, type Delimiters, type MshSummary, type ParseError } from '../hl7/types.js';
import {
  ackCodeFor,
  buildAck,
  ERR_APPLICATION_INTERNAL,
  ERR_DATA_TYPE,
  ERR_REQUIRED_FIELD_MISSING,
  ERR_SEGMENT_SEQUENCE,
  newControlId,
  shouldSendAck,
  type AckCode,
  type AckError,
  type AckOutcome,
} from '../hl7/index.js';
import { GroupCommitProducer, PublishTimeoutError, type StoredAt } from '../kafka/producer.js';
import type { FrameContext } from '../mllp/index.js';
import type { EngineMetrics } from '../ops/metrics.js';
import { capForLog, type Logger } from '../ops/logger.js';
import { DedupeMemory, dedupeKey } from './dedupe.js';
import { refusal } from './accept.js';
import {
  ENVELOPE_VERSION,
  envelopeHeaders,
  failureHeaders,
  HEADERS,
  newEnvelopeId,
  recordKey,
  sha256Hex,
  type DlqCategory,
  type DlqRecord,
  type RawEnvelope,
} from '../records/index.js';

export interface IngestResult {
  /** The encoded ACK message (no MLLP envelope), or null when MSH-15 says not to answer. */
  readonly ack: Buffer | null;
  readonly code: AckCode;
  /** What happened, for logs and metrics: never message content. */
  readonly outcome: 'stored' | 'duplicate' | 'dlq' | 'storage-unavailable';
  readonly controlId: string;
  readonly type: string;
  readonly stored?: StoredAt;
}

export interface IngestDeps {
  /** Where raw records and dead letters go: AA only once `publish` resolves (acks=all). */
  readonly producer: Pick<GroupCommitProducer, 'publish'>;
  readonly dedupe: DedupeMemory;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
}

interface Decoded {
  readonly text: string | null;
  readonly decision: CharsetDecision | null;
  readonly repairs: readonly Repair[];
  readonly failure?: string;
}

interface MessageVerdict {
  readonly outcome: AckOutcome;
  readonly error?: AckError;
  readonly result: IngestResult['outcome'];
  readonly stored?: StoredAt;
}

function errorOf(code: number, text: string, location?: AckError['location']): AckError {
  return location ? { code, severity: 'E', text, location } : { code, severity: 'E', text };
}

function parseErrorToAck(e: ParseError): AckError {
  const code = e.code === 'bad-delimiters' ? ERR_DATA_TYPE : e.code === 'missing-field' ? ERR_REQUIRED_FIELD_MISSING : ERR_SEGMENT_SEQUENCE;
  const location = e.segment ? { segment: e.segment, sequence: 1, ...(e.field ? { field: e.field } : {}) } : undefined;
  return errorOf(code, `message cannot be parsed: ${e.message}`, location);
}

/** Reads just MSH from a message whose later segments are broken, so the AR can still name it. */
function headerOnly(text: string): { msh: MshSummary | null; delimiters: Delimiters } {
  const delimiters = readDelimiters(text) ?? DEFAULT_DELIMITERS;
  const end = text.search(/[\r\n]/);
  const first = end < 0 ? text : text.slice(0, end);
  const p = parseMessage(first);
  return { msh: p.ok ? p.message.msh() : null, delimiters };
}

/** Batch members started between two turns of the event loop. */
const BATCH_SLICE = 250;

/** FHS or BHS: which header opens a batch frame (for the ERR location of a refused batch). */
function frameHeaderSegment(frame: Buffer): string {
  const at = frame.indexOf('HS');
  return at > 0 && (frame[at - 1] === 0x46 || frame[at - 1] === 0x42) ? frame.toString('latin1', at - 1, at + 2) : 'BHS';
}

/** What `promise` settles to within `ms`, or 'timeout'. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, ms))));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Ingest {
  private channel: ChannelConfig;
  private deps: IngestDeps;
  /**
   * Raw records handed to Kafka whose fate is not known yet, by dedupe key: each settles with
   * where Kafka stored it, or null once it is certain it will not land. An entry outlives the
   * ACK timeout of its message, so a resend during a late write waits for that write instead of
   * storing a second copy.
   */
  private readonly storing = new Map<string, Promise<StoredAt | null>>();

  constructor(channel: ChannelConfig, deps: IngestDeps) {
    this.channel = channel;
    this.deps = deps;
  }

  /**
   * Hot reload: later frames follow the new settings. `dedupe` replaces the duplicate memory when
   * its window or size changed (a DedupeMemory's limits are fixed when it is made).
   */
  setChannel(channel: ChannelConfig, swap: { readonly dedupe?: DedupeMemory } = {}): void {
    this.channel = channel;
    if (swap.dedupe) this.deps = { ...this.deps, dedupe: swap.dedupe };
  }

  get name(): string {
    return this.channel.name;
  }

  /** When the last frame arrived (ms since the epoch), for the transform to give way to ingest. */
  lastFrameAt = 0;

  async handleFrame(frame: Buffer, meta: FrameContext): Promise<IngestResult> {
    this.lastFrameAt = Date.now();
    const batch = this.splitIfBatch(frame);
    if (batch) return this.handleBatch(frame, batch, meta);
    return this.handleMessage(frame, meta);
  }

  /** A frame larger than the channel allows: keep its head in the DLQ, answer AR. */
  async handleOversize(head: Buffer, receivedBytes: number, meta: FrameContext): Promise<IngestResult> {
    this.deps.metrics.oversizeFrames.inc({ channel: this.channel.name });
    const latin = head.toString('latin1');
    const { msh, delimiters } = headerOnly(latin.startsWith('MSH') ? latin : '');
    const env = this.envelope(head, meta, { text: null, decision: null, repairs: [] }, msh, { truncated: true });
    // The AR goes out as soon as the limit is crossed, so the frame's full size is never known.
    const text = `frame exceeds the channel maximum of ${this.channel.listener.maxFrameBytes} bytes (refused after ${receivedBytes} bytes; connection closed)`;
    const verdict = await this.deadLetter(env, 'frame', text, { receivedBytes, maxFrameBytes: this.channel.listener.maxFrameBytes, keptBytes: head.length });
    return this.answer(verdict.outcome === 'error' ? verdict : { ...verdict, error: errorOf(ERR_APPLICATION_INTERNAL, text) }, msh, delimiters, 'utf-8');
  }

  private splitIfBatch(frame: Buffer): string[] | null {
    // Byte-level split through latin1 (one char per byte), so each message keeps its exact bytes.
    let i = 0;
    if (frame[0] === 0xef && frame[1] === 0xbb && frame[2] === 0xbf) return null;
    if ((frame[0] === 0xff && frame[1] === 0xfe) || (frame[0] === 0xfe && frame[1] === 0xff)) return null;
    while (i < frame.length && (frame[i] === 0x20 || frame[i] === 0x0d || frame[i] === 0x0a || frame[i] === 0x09)) i++;
    const head = frame.toString('latin1', i, i + 3);
    if (head !== 'FHS' && head !== 'BHS') return null;
    const split = splitBatch(frame.toString('latin1'));
    return split.messages.length > 0 ? split.messages : null;
  }

  /**
   * A batch: every member is checked and handed to the group-commit producer before the first
   * one is awaited, so the members share produce requests (a 10,000-message batch is a handful of
   * requests, not 10,000 round trips). Members start in slices with a turn of the event loop
   * between them, so parsing a large batch never holds up other connections for long. Records of
   * one key keep the members' order (the producer's queue is FIFO). One answer for the frame: the
   * worst outcome wins, so AA means every member is stored.
   */
  private async handleBatch(frame: Buffer, messages: string[], meta: FrameContext): Promise<IngestResult> {
    const max = this.channel.batch.maxMessages;
    if (messages.length > max) return this.refuseBatch(frame, messages, max, meta);
    const pending: Array<Promise<IngestResult>> = [];
    for (let i = 0; i < messages.length; i++) {
      if (i > 0 && i % BATCH_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      pending.push(this.handleMessage(Buffer.from(messages[i]!, 'latin1'), meta, { index: i + 1, count: messages.length }));
    }
    const results = await Promise.all(pending);
    const rank: Record<IngestResult['outcome'], number> = { stored: 0, duplicate: 0, dlq: 1, 'storage-unavailable': 2 };
    let worst = results[0]!;
    for (const r of results) if (rank[r.outcome] > rank[worst.outcome]) worst = r;
    return worst;
  }

  /**
   * A batch over `batch.maxMessages`: the whole frame goes to the DLQ as `rejected` and the
   * sender gets AR, before any member is stored (storing some would leave the sender unable to
   * tell which). The ACK answers the first member's MSH, as a batch ACK does for its members.
   */
  private async refuseBatch(frame: Buffer, messages: string[], max: number, meta: FrameContext): Promise<IngestResult> {
    const decoded = this.decode(frame);
    const { msh, delimiters } = headerOnly(messages[0] ?? '');
    const env = this.envelope(frame, meta, decoded, msh, {});
    const text = `batch of ${messages.length} messages exceeds the channel maximum of ${max} (batch.maxMessages); nothing was stored, send it in smaller batches`;
    const v = await this.deadLetter(env, 'rejected', text, { batchMessages: messages.length, maxMessages: max });
    // Table 0357 has no code for a batch that is too large; 207 with the reason in ERR and MSA-3.
    const error = errorOf(ERR_APPLICATION_INTERNAL, text, { segment: frameHeaderSegment(frame), sequence: 1 });
    return this.answer(v.outcome === 'error' ? v : { ...v, error }, msh, delimiters, decoded.decision?.charset ?? 'utf-8');
  }

  private decode(bytes: Buffer): Decoded {
    const r = decodeMessage(bytes, { fallback: this.channel.charset.fallback });
    const m = this.deps.metrics;
    const channel = this.channel.name;
    if (!r.ok) {
      m.charsetDecisions.inc({ channel, source: r.decision.source, charset: r.decision.charset });
      return { text: null, decision: r.decision, repairs: [], failure: r.message };
    }
    m.charsetDecisions.inc({ channel, source: r.decision.source, charset: r.decision.charset });
    for (const rep of r.repairs) m.charsetRepairs.inc({ channel, kind: rep.kind }, 1);
    return { text: r.text, decision: r.decision, repairs: r.repairs };
  }

  private async handleMessage(bytes: Buffer, meta: FrameContext, batch?: { index: number; count: number }): Promise<IngestResult> {
    const decoded = this.decode(bytes);
    const ackCharset = decoded.decision?.charset ?? 'utf-8';
    if (decoded.text === null) {
      const { msh, delimiters } = headerOnly(bytes.toString('latin1'));
      const env = this.envelope(bytes, meta, decoded, msh, batch ? { batch } : {});
      const text = `bytes cannot be decoded: ${decoded.failure ?? 'unknown charset'}`;
      const v = await this.deadLetter(env, 'charset', text, { fallback: this.channel.charset.fallback === CHARSET_REJECT ? 'reject' : this.channel.charset.fallback });
      return this.answer(v.outcome === 'error' ? v : { ...v, error: errorOf(ERR_DATA_TYPE, text) }, msh, delimiters, 'utf-8');
    }

    const parsed = parseMessage(decoded.text);
    if (!parsed.ok) {
      const { msh, delimiters } = headerOnly(decoded.text);
      const env = this.envelope(bytes, meta, decoded, msh, batch ? { batch } : {});
      const v = await this.deadLetter(env, 'parse', `message cannot be parsed: ${parsed.error.message}`, {
        code: parsed.error.code,
        segmentIndex: parsed.error.segmentIndex ?? null,
        segment: parsed.error.segment ?? null,
        field: parsed.error.field ?? null,
      });
      return this.answer(v.outcome === 'error' ? v : { ...v, error: parseErrorToAck(parsed.error) }, msh, delimiters, ackCharset);
    }

    const message = parsed.message;
    const msh = message.msh();
    const env = this.envelope(bytes, meta, decoded, msh, batch ? { batch } : {}, message);
    const refusal = this.refusal(msh, message.delimiters);
    if (refusal) {
      const v = await this.deadLetter(env, 'rejected', refusal.text, { errCode: refusal.code, messageType: msh.messageType ? `${msh.messageCode}^${msh.triggerEvent}` : '' });
      return this.answer(v.outcome === 'error' ? v : { ...v, error: refusal }, msh, message.delimiters, ackCharset);
    }

    this.deps.metrics.messagesReceived.inc({ channel: this.channel.name, type: this.typeLabel(msh) });
    const sender = `${msh.sendingApplication}|${msh.sendingFacility}`;
    const dkey = dedupeKey(this.channel.name, sender, msh.controlId, env.rawSha256);
    const dedupeOn = this.channel.dedupe.windowSeconds > 0;
    // A resend of a copy Kafka has not confirmed yet (the sender gave up waiting and came back,
    // maybe on another connection) shares that copy's fate instead of being stored a second
    // time, within its own ACK timeout. When that copy will never land, the resend is stored.
    const deadline = Date.now() + this.channel.ack.timeoutMs;
    for (let storing = dedupeOn ? this.storing.get(dkey) : undefined; storing; storing = this.storing.get(dkey)) {
      const landed = await settledWithin(storing, deadline - Date.now());
      if (landed === 'timeout') return this.answer(this.storageUnavailable(new PublishTimeoutError(this.channel.ack.timeoutMs)), msh, message.delimiters, ackCharset);
      if (landed !== null) return this.duplicate(msh, message.delimiters, ackCharset);
      if (this.storing.get(dkey) === storing) break; // settled null and not yet removed
    }
    if (dedupeOn && this.deps.dedupe.has(dkey)) return this.duplicate(msh, message.delimiters, ackCharset);
    const key = recordKey(msh, message.get('PID-3[1].1') || undefined, message.get('PID-3[1].4.1') || undefined);
    // Remember the message whenever Kafka confirms it, even after we gave up waiting and
    // answered AE: the sender's resend is then recognised instead of stored twice.
    let settle: (at: StoredAt | null) => void = () => undefined;
    const landing = new Promise<StoredAt | null>((resolve) => (settle = resolve));
    const publish = this.deps.producer.publish(
      { topic: this.channel.topics.raw, key, value: JSON.stringify(env), headers: envelopeHeaders(env, { [HEADERS.dedupe]: dkey }) },
      this.channel.ack.timeoutMs,
      (at) => {
        this.deps.dedupe.remember(dkey);
        settle(at);
      },
      () => settle(null),
    );
    if (dedupeOn) {
      this.storing.set(dkey, landing);
      // Settled after remember(), so the key is always in one of the two places once stored.
      void landing.then(() => {
        if (this.storing.get(dkey) === landing) this.storing.delete(dkey);
      });
    }
    try {
      const stored = await publish;
      return this.answer({ outcome: 'accepted', result: 'stored', stored }, msh, message.delimiters, ackCharset);
    } catch (err) {
      return this.answer(this.storageUnavailable(err), msh, message.delimiters, ackCharset);
    }
  }

  private duplicate(msh: MshSummary, delimiters: Delimiters, charset: string): IngestResult {
    this.deps.metrics.duplicates.inc({ channel: this.channel.name });
    return this.answer({ outcome: 'accepted', result: 'duplicate' }, msh, delimiters, charset);
  }

  private storageUnavailable(err: unknown): MessageVerdict {
    const why = err instanceof PublishTimeoutError ? err.message : 'Kafka refused or failed the write';
    this.deps.logger.warn({ channel: this.channel.name, err: err instanceof Error ? err.name : 'unknown', reason: why }, 'storage unavailable; answering with an error so the sender resends');
    return { outcome: 'error', result: 'storage-unavailable', error: { code: ERR_APPLICATION_INTERNAL, severity: 'E', text: `message not stored, please resend: ${why}` } };
  }

  /** Why the channel refuses this message, as an ERR; null when it accepts it. */
  private refusal(msh: MshSummary, delimiters: Delimiters): AckError | null {
    return refusal(this.channel, msh, delimiters);
  }

  /** Bounded label: the channel's own accepted types are few; anything else is "other". */
  private typeLabel(msh: MshSummary): string {
    const t = `${msh.messageCode}^${msh.triggerEvent}`;
    return /^[A-Z0-9]{3}\^[A-Z0-9]{0,3}$/.test(t) ? t : 'other';
  }

  private envelope(
    bytes: Buffer,
    meta: FrameContext,
    decoded: Decoded,
    msh: MshSummary | null,
    extra: { batch?: { index: number; count: number }; truncated?: boolean },
    _message?: Hl7Message,
  ): RawEnvelope {
    return {
      v: ENVELOPE_VERSION,
      id: newEnvelopeId(),
      channel: this.channel.name,
      listener: meta.listener,
      remoteAddress: meta.remoteAddress,
      receivedAt: meta.receivedAt.toISOString(),
      raw: bytes.toString('base64'),
      rawSha256: sha256Hex(bytes),
      rawLength: bytes.length,
      text: decoded.text,
      charset: {
        source: decoded.decision?.source ?? null,
        charset: decoded.decision?.charset ?? null,
        declared: decoded.decision?.declared ?? '',
        repairs: decoded.repairs,
      },
      msh,
      ...(extra.batch ? { batch: extra.batch } : {}),
      ...(extra.truncated ? { truncated: true } : {}),
    };
  }

  /** Stores a failure in the DLQ. AR if it is stored; AE if even the DLQ cannot take it. */
  private async deadLetter(
    env: RawEnvelope,
    category: DlqCategory,
    message: string,
    detail: Record<string, string | number | boolean | null>,
  ): Promise<MessageVerdict> {
    const now = new Date().toISOString();
    const record: DlqRecord = { ...env, failure: { category, stage: 'ingest', message, detail, attempts: 1, firstAt: now, lastAt: now } };
    try {
      await this.deps.producer.publish(
        {
          topic: this.channel.topics.dlq,
          key: recordKey(env.msh, undefined, undefined),
          value: JSON.stringify(record),
          headers: envelopeHeaders(env, failureHeaders(category, 'ingest')),
        },
        this.channel.ack.timeoutMs,
      );
      this.deps.metrics.dlq.inc({ channel: this.channel.name, category });
      this.deps.logger.info({ channel: this.channel.name, category, controlId: capForLog(env.msh?.controlId), reason: capForLog(message, 256) }, 'frame dead-lettered');
      return { outcome: 'rejected', result: 'dlq' };
    } catch (err) {
      return this.storageUnavailable(err);
    }
  }

  private answer(v: MessageVerdict, msh: MshSummary | null, delimiters: Delimiters, charset: string): IngestResult {
    const mode = this.channel.ack.mode;
    const enhanced = ackCodeFor('accepted', mode, msh) === 'CA';
    // Storage trouble is answered CR in enhanced mode (AE in original mode), so the sender keeps
    // the message and resends it: the ACK contract table in the README.
    const outcome = v.outcome;
    const code: AckCode = v.result === 'storage-unavailable' && enhanced ? 'CR' : ackCodeFor(outcome, mode, msh);
    const send = shouldSendAck(v.outcome, mode, msh);
    const text = buildAck({
      inbound: msh,
      delimiters,
      outcome,
      code,
      mode,
      ...(v.error ? { error: v.error } : {}),
      text: v.error?.text ?? (v.result === 'duplicate' ? 'duplicate of a stored message' : 'stored'),
      controlId: newControlId(),
      now: new Date(),
      sendingApplication: this.channel.ack.application,
      sendingFacility: this.channel.ack.facility,
    });
    const controlId = msh?.controlId ?? '';
    const type = msh ? this.typeLabel(msh) : 'unknown';
    return {
      ack: send ? encodeText(text, charset) : null,
      code,
      outcome: v.result,
      controlId,
      type,
      ...(v.stored ? { stored: v.stored } : {}),
    };
  }
}
