/**
 * Edit-and-resubmit: an operator's corrected text of a dead letter becomes a NEW raw record on
 * `<channel>.raw`, linked to the dead letter by headers; the dead letter stays as it was (the
 * DLQ topic is append-only) and leaves the queue by the audit record that decided it.
 *
 * The edited bytes pass what MLLP input passes before it is stored (the frame size bound, one
 * message not a batch, charset decoding, parsing, the channel's accept rules and MSH bounds), so
 * a bad edit is refused with the reason and nothing is written. The audit record (who, when,
 * why, which dead letter, hashes of the old and new bytes, never the text) is stored before the
 * raw record is produced; a second one says where the raw record landed, or that producing it
 * failed, which puts the dead letter back in the queue.
 */
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import { decodeMessage, encodeText, hl7CharsetToIconv, readMsh18 } from '../charset/index.js';
import { parseMessage } from '../hl7/index.js';
import { refusal } from '../ingest/accept.js';
import { dedupeKey } from '../ingest/index.js';
import type { OutRecord } from '../kafka/index.js';
import {
  ENVELOPE_VERSION,
  envelopeHeaders,
  HEADERS,
  newAuditRecord,
  newEnvelopeId,
  recordKey,
  sha256Hex,
  type AuditRecord,
  type RawEnvelope,
  type RecordRef,
} from '../records/index.js';
import { writeAudit } from './audit.js';
import type { DeadLetter } from './dead-letter.js';

/** The edit cannot be stored: what is wrong with it, for the operator (HTTP 422, exit 1). */
export class EditRefused extends Error {}

/** How the envelope of a resubmitted message says where it came from (instead of host:port). */
export const RESUBMIT_LISTENER = 'resubmit';

/**
 * Text from an editor (a textarea, a file) as HL7: any line break is the segment separator CR,
 * and blank lines at the end are dropped (editors add one).
 */
export function editedMessageText(text: string): string {
  return text.split(/\r\n|\n|\r/).join('\r').replace(/\r+$/, '');
}

/** The dead letter's decoded text as the editor starts from it ('' when it never decoded). */
export function originalText(letter: DeadLetter): string {
  return letter.record?.text ?? '';
}

/**
 * The change as segment lines: "-" removed, "+" added, and runs of unchanged segments collapsed
 * to a count, so a one-field fix reads as two lines. Longest common subsequence on segments
 * (messages have tens to hundreds of them, so the quadratic table stays small; past 2000
 * segments on either side it falls back to replacing everything).
 */
export function segmentDiff(before: string, after: string): string[] {
  const a = before === '' ? [] : before.split(/\r\n|\n|\r/).filter((l) => l !== '');
  const b = after === '' ? [] : after.split(/\r\n|\n|\r/).filter((l) => l !== '');
  const ops: Array<[' ' | '-' | '+', string]> = [];
  if (a.length > 2000 || b.length > 2000) {
    for (const l of a) ops.push(['-', l]);
    for (const l of b) ops.push(['+', l]);
  } else {
    const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) {
        ops.push([' ', a[i]!]);
        i++;
        j++;
      } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) ops.push(['+', b[j++]!]);
      else ops.push(['-', a[i++]!]);
    }
  }
  const out: string[] = [];
  let same = 0;
  const flush = (): void => {
    if (same > 0) out.push(`  (${same} segment${same === 1 ? '' : 's'} unchanged)`);
    same = 0;
  };
  for (const [op, line] of ops) {
    if (op === ' ') same++;
    else {
      flush();
      out.push(`${op} ${line}`);
    }
  }
  flush();
  return out;
}

export interface ResubmitPlan {
  /** The new raw record, without the audit id header (added once the audit record exists). */
  readonly envelope: RawEnvelope;
  readonly key: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly originalSha256: string;
  readonly editedSha256: string;
  readonly editedLength: number;
  readonly controlId: string;
  readonly diff: readonly string[];
}

/**
 * Checks an edit the way ingest checks a frame and builds the raw record it becomes; throws
 * EditRefused naming what is wrong. Pure: nothing is written.
 */
export function planResubmit(channel: ChannelConfig, letter: DeadLetter, edited: string, now: Date): ResubmitPlan {
  const d = letter.record;
  if (!d) throw new EditRefused(`the dead letter cannot be read (${letter.unreadable ?? 'unknown'}), so there is nothing to correct`);
  const text = editedMessageText(edited);
  if (text.trim() === '') throw new EditRefused('the edited message is empty');
  if (/^\s*(FHS|BHS)/.test(text)) throw new EditRefused('the edit is a batch (FHS/BHS); resubmit one message at a time');
  if (!text.startsWith('MSH')) throw new EditRefused('the edited message does not start with MSH');
  // The bytes are encoded as the message says (MSH-18), else as the dead letter was decoded, so
  // a Latin-1 sender's message stays Latin-1; what the charset cannot hold is refused below.
  const declared = readMsh18(Buffer.from(text, 'utf8'));
  const charset = (declared ? hl7CharsetToIconv(declared) : null) ?? d.charset.charset ?? 'utf-8';
  let bytes: Buffer;
  try {
    bytes = encodeText(text, charset);
  } catch (err) {
    throw new EditRefused(`the edit cannot be encoded: ${err instanceof Error ? err.message : String(err)}`);
  }
  const editedSha256 = sha256Hex(bytes);
  // Line endings and a trailing separator are not a change: the segments are what is compared.
  if (editedSha256 === d.rawSha256 || (d.text !== null && editedMessageText(d.text) === text)) throw new EditRefused('the edit changes nothing; to run the same bytes again (say after a channel or mapping fix) use replay');
  const max = channel.listener.maxFrameBytes;
  if (bytes.length > max) throw new EditRefused(`the edited message is ${bytes.length} bytes; channel ${channel.name} takes at most ${max} (listener.maxFrameBytes)`);
  const decoded = decodeMessage(bytes, { fallback: channel.charset.fallback });
  if (!decoded.ok) throw new EditRefused(`bytes cannot be decoded: ${decoded.message}`);
  if (decoded.text !== text) {
    throw new EditRefused(`the edited text does not survive encoding in ${decoded.decision.charset}: it has characters that charset cannot hold (or that ingest would repair); fix MSH-18 or the characters`);
  }
  const parsed = parseMessage(decoded.text);
  if (!parsed.ok) throw new EditRefused(`message cannot be parsed: ${parsed.error.message}`);
  const m = parsed.message;
  const msh = m.msh();
  const refused = refusal(channel, msh, m.delimiters);
  if (refused) throw new EditRefused(`channel ${channel.name} would refuse it: ${refused.text}`);
  const envelope: RawEnvelope = {
    v: ENVELOPE_VERSION,
    id: newEnvelopeId(),
    channel: channel.name,
    listener: RESUBMIT_LISTENER,
    remoteAddress: d.remoteAddress,
    receivedAt: now.toISOString(),
    raw: bytes.toString('base64'),
    rawSha256: editedSha256,
    rawLength: bytes.length,
    text: decoded.text,
    charset: { source: decoded.decision.source, charset: decoded.decision.charset, declared: decoded.decision.declared, repairs: decoded.repairs },
    msh,
  };
  const dkey = dedupeKey(channel.name, `${msh.sendingApplication}|${msh.sendingFacility}`, msh.controlId, editedSha256);
  return {
    envelope,
    key: recordKey(msh, m.get('PID-3[1].1') || undefined, m.get('PID-3[1].4.1') || undefined),
    headers: envelopeHeaders(envelope, {
      [HEADERS.dedupe]: dkey,
      [HEADERS.resubmitOfTopic]: letter.ref.topic,
      [HEADERS.resubmitOfPartition]: String(letter.ref.partition),
      [HEADERS.resubmitOfOffset]: letter.ref.offset,
    }),
    originalSha256: d.rawSha256,
    editedSha256,
    editedLength: bytes.length,
    controlId: msh.controlId,
    diff: segmentDiff(originalText(letter), decoded.text),
  };
}

export interface ResubmitResult {
  /** Written before anything was produced. */
  readonly decision: AuditRecord;
  /** Written after: where the new raw record is (outcome completed). */
  readonly finished: AuditRecord;
  readonly newRecord: RecordRef;
}

/** Producing the raw record failed after the decision was recorded; the failure is audited too. */
export class ResubmitFailed extends Error {
  constructor(
    message: string,
    readonly decision: AuditRecord,
  ) {
    super(message);
  }
}

/**
 * The audit record first (acks=all), then the raw record (idempotent, acks=all), then the audit
 * record of the result. If the first write fails nothing is produced.
 */
export async function resubmit(
  kafka: Kafka,
  channel: ChannelConfig,
  letter: DeadLetter,
  plan: ResubmitPlan,
  who: { operator: string; reason: string; auditTopic?: string },
): Promise<ResubmitResult> {
  const hashes = { originalSha256: plan.originalSha256, editedSha256: plan.editedSha256, editedLength: plan.editedLength };
  const audit = (fields: { outcome: 'recorded' | 'completed' | 'failed'; newRecord?: RecordRef; error?: string }): AuditRecord =>
    newAuditRecord({
      kind: 'dlq-decision',
      channel: channel.name,
      reason: who.reason,
      operator: who.operator,
      outcome: fields.outcome,
      decision: { action: 'resubmit', target: letter.ref },
      resubmission: { ...hashes, ...(fields.newRecord ? { newRecord: fields.newRecord } : {}) },
      ...(fields.error ? { error: fields.error } : {}),
    });
  const decision = audit({ outcome: 'recorded' });
  await writeAudit(kafka, decision, who.auditTopic);
  const record: OutRecord = {
    topic: channel.topics.raw,
    key: plan.key,
    value: JSON.stringify(plan.envelope),
    headers: { ...plan.headers, [HEADERS.resubmitAudit]: decision.id },
  };
  let newRecord: RecordRef;
  try {
    newRecord = await produceOne(kafka, record);
  } catch (err) {
    const error = `the raw record could not be stored in ${channel.topics.raw}: ${err instanceof Error ? err.message : String(err)}`;
    // Best effort: the dead letter goes back to waiting only if this second record is stored.
    await writeAudit(kafka, audit({ outcome: 'failed', error }), who.auditTopic).catch(() => undefined);
    throw new ResubmitFailed(error, decision);
  }
  const finished = audit({ outcome: 'completed', newRecord });
  await writeAudit(kafka, finished, who.auditTopic);
  return { decision, finished, newRecord };
}

async function produceOne(kafka: Kafka, r: OutRecord): Promise<RecordRef> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const [meta] = await producer.send({ topic: r.topic, acks: -1, messages: [{ key: r.key, value: r.value, headers: { ...r.headers } }] });
    if (!meta || meta.baseOffset === undefined) throw new Error('Kafka did not say where it stored the record');
    return { topic: r.topic, partition: meta.partition, offset: String(meta.baseOffset) };
  } finally {
    await producer.disconnect();
  }
}
