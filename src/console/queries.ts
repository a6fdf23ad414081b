/**
 * What the console asks the index: message search, a message's lineage, the reconciliation
 * queue and one dead letter's state and history. Answers carry metadata only.
 */
import type { ChannelConfig } from '../channel/index.js';
import type { RecordRef } from '../records/index.js';
import { DEAD_LETTER_KINDS, step, UNDECIDED, type DeadLetterStatus } from './dead-letter-state.js';
import { MESSAGE_ROWS, type IndexStore, type Row } from './index-store.js';

export type { DeadLetterStatus } from './dead-letter-state.js';

export const OUTCOMES = ['stored', 'duplicate', 'dead-lettered', 'converted'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface SearchFilter {
  readonly channel?: string;
  readonly controlId?: string;
  /** "ADT" or "ADT^A01". */
  readonly messageType?: string;
  readonly trigger?: string;
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  /** ISO times on the receive time, [since, until). */
  readonly since?: string;
  readonly until?: string;
  readonly ackCode?: string;
  readonly outcome?: Outcome;
  readonly repair?: string;
  readonly patientKey?: string;
  readonly limit?: number;
  /** The next page: the messages after this one in the search's order (see pageCursor). */
  readonly after?: PageCursor;
}

/**
 * Where a page ended: the last message's receive time and record. Keyset paging: the next page
 * is read from the index at this point on, so a page far back costs what the first page costs
 * (an offset would read and skip every message before it), and messages arriving meanwhile
 * neither repeat nor skip rows.
 */
export interface PageCursor {
  readonly receivedAt: string | null;
  readonly ref: RecordRef;
}

/** An opaque URL-safe cursor: the head of a sort key and the record a page ended on. */
function encodeCursor(head: string | number | null, ref: RecordRef): string {
  return Buffer.from(JSON.stringify([head, ref.topic, ref.partition, ref.offset]), 'utf8').toString('base64url');
}

/** The head and record encodeCursor wrote (the head still to be checked by the caller), or null. */
function decodeCursor(text: string): { head: unknown; ref: RecordRef } | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 4) return null;
  const [head, topic, partition, offset] = v as unknown[];
  if (typeof topic !== 'string' || topic === '' || !Number.isSafeInteger(partition) || (partition as number) < 0) return null;
  if (typeof offset !== 'string' || !/^\d{1,16}$/.test(offset)) return null;
  return { head, ref: { topic, partition: partition as number, offset } };
}

/** The cursor of the page that follows `last`, as an opaque URL-safe string. */
export function pageCursor(last: MessageView): string {
  return encodeCursor(last.receivedAt, last.ref);
}

/** The cursor pageCursor wrote, or null for anything else. */
export function parsePageCursor(text: string): PageCursor | null {
  const c = decodeCursor(text);
  if (!c) return null;
  const at = c.head;
  if (!(at === null || (typeof at === 'string' && !Number.isNaN(Date.parse(at))))) return null;
  return { receivedAt: at as string | null, ref: c.ref };
}

export interface MessageView {
  readonly ref: RecordRef;
  readonly kind: 'raw' | 'dlq';
  readonly channel: string;
  readonly receivedAt: string | null;
  readonly controlId: string | null;
  readonly messageType: string | null;
  readonly sendingApplication: string | null;
  readonly sendingFacility: string | null;
  readonly ackCode: string | null;
  readonly outcome: Outcome;
  readonly charset: string | null;
  readonly charsetSource: string | null;
  readonly repairs: string[];
  readonly patientKey: string | null;
  readonly rawSha256: string | null;
  readonly rawLength: number | null;
  readonly failure: { readonly category: string; readonly stage: string; readonly message: string } | null;
  /** A raw record an operator stored by edit-and-resubmit: the dead letter it replaces. */
  readonly resubmitOf: RecordRef | null;
}

export interface HistoryEntry {
  readonly at: string;
  readonly kind: string;
  readonly operator: string;
  readonly reason: string | null;
  readonly auditId: string;
  readonly action?: string;
  readonly assignee?: string;
  readonly outcome?: string;
  readonly replayId?: string;
  /** resubmit completed: where the new raw record is. */
  readonly newRecord?: RecordRef;
}

export interface DeadLetterView {
  readonly ref: RecordRef;
  /** The channel's name, or for an outbound dead letter the destination's. */
  readonly channel: string;
  /** inbound: a channel's (ingest or transform); outbound: a write-back destination's (its receiver refused it). */
  readonly direction: 'inbound' | 'outbound';
  readonly status: DeadLetterStatus;
  readonly category: string;
  readonly stage: string;
  readonly cause: string;
  readonly message: string;
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
  readonly ageSeconds: number;
  readonly overdue: boolean;
  readonly controlId: string | null;
  readonly messageType: string | null;
  readonly sendingApplication: string | null;
  readonly sendingFacility: string | null;
  /** Inbound: the raw record; outbound: the source record the destination read (a Bundle or a raw record). */
  readonly rawRecord: RecordRef | null;
  readonly replayOf: RecordRef | null;
  readonly replacedBy: RecordRef | null;
  /** The raw record an edit-and-resubmit stored in its place (its lineage goes on from there). */
  readonly resubmittedAs: RecordRef | null;
  readonly assignee: string | null;
  readonly escalated: boolean;
  readonly history: readonly HistoryEntry[];
}

/** Outcomes rare enough to have their own partial index (index-store.ts). */
const RARE_OUTCOME_INDEX: Partial<Record<Outcome, string>> = { duplicate: 'messages_duplicate', 'dead-lettered': 'messages_dead_lettered' };

/**
 * The index a search reads: the most selective filter that has one, as a rule of thumb (a control
 * id or a patient finds a handful of rows; an ACK code or a channel a large share). Each index
 * ends in received_at, so any of them yields rows newest first and the other filters are checked
 * along the way.
 */
function searchIndex(f: SearchFilter): string {
  const set = (v: string | undefined): boolean => v !== undefined && v !== '';
  const [code, trigger] = f.messageType ? f.messageType.split('^') : [];
  if (set(f.controlId)) return 'records_control';
  if (set(f.patientKey)) return 'messages_patient';
  const rare = f.outcome ? RARE_OUTCOME_INDEX[f.outcome] : undefined;
  if (rare) return rare;
  if (set(code) && (set(trigger) || set(f.trigger))) return 'messages_type';
  if (set(f.sendingApplication)) return 'messages_sender';
  if (set(f.sendingFacility)) return 'messages_facility';
  if (set(code)) return 'messages_code';
  if (set(f.repair)) return 'messages_repaired';
  if (set(f.channel)) return 'messages_channel';
  if (set(f.ackCode)) return 'messages_ack';
  return 'messages_received';
}

/** What a dead letter's history reads from an audit record. */
interface AuditBody {
  readonly id: string;
  readonly kind: string;
  readonly operator: string;
  readonly at: string;
  readonly reason: string | null;
  readonly outcome?: string;
  readonly replayId?: string;
  readonly decision?: { readonly action: string; readonly assignee?: string };
  readonly resubmission?: { readonly newRecord?: RecordRef };
}

const refOf = (topic: unknown, part: unknown, off: unknown): RecordRef | null =>
  typeof topic === 'string' && part !== null && off !== null ? { topic, partition: Number(part), offset: String(off) } : null;

function typeOf(row: Row): string | null {
  return row.message_code ? (row.trigger_event ? `${row.message_code}^${row.trigger_event}` : String(row.message_code)) : null;
}

function messageView(row: Row & { outcome: Outcome }): MessageView {
  return {
    ref: refOf(row.topic, row.part, row.off)!,
    kind: row.kind as 'raw' | 'dlq',
    channel: String(row.channel),
    receivedAt: row.received_at as string | null,
    controlId: row.control_id as string | null,
    messageType: typeOf(row),
    sendingApplication: row.sending_app as string | null,
    sendingFacility: row.sending_facility as string | null,
    ackCode: row.ack_code as string | null,
    outcome: row.outcome,
    charset: row.charset as string | null,
    charsetSource: row.charset_source as string | null,
    repairs: typeof row.repairs === 'string' ? row.repairs.split(',').filter(Boolean) : [],
    patientKey: row.patient_key as string | null,
    rawSha256: row.raw_sha256 as string | null,
    rawLength: row.raw_length as number | null,
    failure: row.kind === 'dlq' ? { category: String(row.category), stage: String(row.stage), message: String(row.failure_message) } : null,
    resubmitOf: row.kind === 'raw' ? refOf(row.prev_topic, row.prev_part, row.prev_off) : null,
  };
}

/** One waiting dead letter as a queue group's page lists it (no history, no record row). */
export interface QueueMember {
  readonly ref: RecordRef;
  readonly category: string;
  readonly stage: string;
  readonly cause: string;
  readonly controlId: string | null;
  readonly messageType: string | null;
  readonly attempts: number;
  readonly ageSeconds: number;
  readonly overdue: boolean;
  readonly assignee: string | null;
  readonly escalated: boolean;
}

/** A queue group: its dead letters share queue, category, stage and cause. */
export interface QueueGroupKey {
  /** The channel's or the destination's name. */
  readonly queue: string;
  readonly category: string;
  readonly stage: string;
  readonly cause: string;
}

/** What the queue shows of one group: counts and ages, not its members (they come a page at a time). */
export interface QueueGroup {
  readonly category: string;
  readonly stage: string;
  readonly cause: string;
  readonly count: number;
  readonly overdue: number;
  readonly oldestAgeSeconds: number;
}

/** One channel's or destination's queue. */
export interface QueueEntry {
  readonly channel: string;
  readonly direction: 'inbound' | 'outbound';
  /** Outbound only: the destination the queue belongs to (the same name as `channel`). */
  readonly destination?: string;
  readonly slaMinutes: number;
  readonly waiting: number;
  readonly overdue: number;
  readonly oldestAgeSeconds: number;
  /** Largest first. */
  readonly groups: readonly QueueGroup[];
}

/** Where a page of a group's members ended: the last one's waiting-since time and record. */
export interface MemberCursor {
  readonly sinceMs: number;
  readonly ref: RecordRef;
}

/** The cursor of the page of members that follows `last`, as an opaque URL-safe string. */
export function memberCursor(last: { readonly sinceMs: number; readonly ref: RecordRef }): string {
  return encodeCursor(last.sinceMs, last.ref);
}

/** The cursor memberCursor wrote, or null for anything else. */
export function parseMemberCursor(text: string): MemberCursor | null {
  const c = decodeCursor(text);
  if (!c) return null;
  const since = c.head;
  if (!Number.isSafeInteger(since) || (since as number) < 0) return null;
  return { sinceMs: since as number, ref: c.ref };
}

/** A write-back destination whose dead letters the console shows (its name is the queue's). */
export interface QueueDestination {
  readonly name: string;
  /** From the destination file (review.slaMinutes); DEFAULT_SLA_MINUTES when absent. */
  readonly review?: { readonly slaMinutes: number };
}

/** The SLA of a queue that names none (the channels' and destinations' default). */
export const DEFAULT_SLA_MINUTES = 240;

export class ConsoleQueries {
  constructor(
    private readonly store: IndexStore,
    private readonly channels: readonly ChannelConfig[],
    private readonly now: () => Date = () => new Date(),
    private readonly destinations: readonly QueueDestination[] = [],
  ) {}

  /** Statements come from the store's cache (see IndexStore.prepare). */
  private get db(): Pick<IndexStore, 'prepare'> {
    return this.store;
  }

  /** Messages: raw records, and dead letters of frames that never reached the raw topic. Newest first. */
  search(f: SearchFilter): MessageView[] {
    const where: string[] = [];
    const args: Record<string, string | number> = {};
    const eq = (col: string, name: string, v: string | undefined): void => {
      if (v === undefined || v === '') return;
      where.push(`${col} = @${name}`);
      args[name] = v;
    };
    eq('channel', 'channel', f.channel);
    eq('control_id', 'controlId', f.controlId);
    if (f.messageType) {
      const [code, trigger] = f.messageType.split('^');
      eq('message_code', 'code', code);
      eq('trigger_event', 'mtrigger', trigger);
    }
    eq('trigger_event', 'trigger', f.trigger);
    eq('sending_app', 'app', f.sendingApplication);
    eq('sending_facility', 'facility', f.sendingFacility);
    eq('ack_code', 'ack', f.ackCode);
    eq('patient_key', 'patient', f.patientKey);
    if (f.since) {
      where.push('received_at >= @since');
      args['since'] = f.since;
    }
    if (f.until) {
      where.push('received_at < @until');
      args['until'] = f.until;
    }
    if (f.repair) {
      // The first term matches the partial index of repaired messages; the LIKE picks the kind.
      where.push("repairs IS NOT NULL AND repairs LIKE '%,' || @repair || ',%'");
      args['repair'] = f.repair;
    }
    if (f.outcome) {
      // Kept by the indexer. A rare outcome is written as a literal, the form that lets SQLite
      // read its partial index; the common ones are checked along the scan.
      if (RARE_OUTCOME_INDEX[f.outcome]) where.push(`outcome = '${f.outcome}'`);
      else {
        where.push('outcome = @outcome');
        args['outcome'] = f.outcome;
      }
    }
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    // One flat query on a partial index already ordered by received_at, so the scan stops at the
    // limit. The index is named: left to itself (no statistics in a fresh index) SQLite reads
    // every message through the kind index and sorts them all, seconds at a million records.
    const base = `SELECT r.* FROM records r INDEXED BY ${searchIndex(f)} WHERE ${MESSAGE_ROWS}${where.map((w) => ` AND ${w}`).join('')}`;
    const read = (sql: string, more: Record<string, string | number> = {}): MessageView[] =>
      (this.db.prepare(sql).all({ ...args, ...more }) as Array<Row & { outcome: Outcome }>).map(messageView);
    const at = f.after;
    if (!at) return read(`${base} ORDER BY received_at DESC, topic, part, off LIMIT ${limit}`);
    const key = { cTopic: at.ref.topic, cPart: at.ref.partition, cOff: Number(at.ref.offset) };
    // Messages without a receive time (an unreadable record) sort after all others, by record;
    // they are read apart so that the timed part stays a range of the index.
    const untimed = (n: number, after: boolean): MessageView[] =>
      f.since || f.until ? [] : read(`${base} AND received_at IS NULL${after ? ' AND (topic, part, off) > (@cTopic, @cPart, @cOff)' : ''} ORDER BY topic, part, off LIMIT ${n}`, after ? key : {});
    if (at.receivedAt === null) return untimed(limit, true);
    const timed = read(
      `${base} AND received_at <= @cAt AND (received_at < @cAt OR (topic, part, off) > (@cTopic, @cPart, @cOff)) ORDER BY received_at DESC, topic, part, off LIMIT ${limit}`,
      { ...key, cAt: at.receivedAt },
    );
    return timed.length < limit ? [...timed, ...untimed(limit - timed.length, false)] : timed;
  }

  private row(ref: RecordRef): Row | undefined {
    return this.db.prepare('SELECT * FROM records WHERE topic = ? AND part = ? AND off = ?').get(ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
  }

  /** A message and where it went: Bundles, dead letters (with their replays), newest last. */
  message(ref: RecordRef): { message: MessageView; bundles: unknown[]; deadLetters: DeadLetterView[] } | null {
    const row = this.db.prepare(`SELECT r.* FROM records r WHERE r.topic = ? AND r.part = ? AND r.off = ? AND r.kind IN ('raw', 'dlq')`)
      .get(ref.topic, ref.partition, Number(ref.offset)) as (Row & { outcome: Outcome }) | undefined;
    if (!row) return null;
    const derived = (kind: string): Row[] =>
      this.db.prepare('SELECT * FROM records WHERE kind = ? AND src_topic = ? AND src_part = ? AND src_off = ? ORDER BY at, topic, part, off').all(kind, ref.topic, ref.partition, Number(ref.offset)) as Row[];
    const bundles = derived('fhir').map((b) => ({
      ref: refOf(b.topic, b.part, b.off),
      at: b.at,
      replayId: b.replay_id,
      issueCount: b.issue_count,
      resources: typeof b.resources === 'string' && b.resources ? b.resources.split(' ') : [],
    }));
    const letters = row.kind === 'dlq' ? [row] : derived('dlq');
    const chain: DeadLetterView[] = [];
    for (const l of letters) {
      // Follow each dead letter through the replays that wrote it again.
      for (let cur: Row | undefined = l; cur; ) {
        const ref = refOf(cur.topic, cur.part, cur.off)!;
        chain.push(this.deadLetterOf(cur));
        cur = this.successor(ref);
      }
    }
    return { message: messageView(row), bundles, deadLetters: chain };
  }

  /** What kind of record sits at `ref`, for the content view's audit record. */
  recordKind(ref: RecordRef): { kind: 'raw' | 'fhir' | 'dlq' | 'outbound-dlq'; channel: string; controlId: string | null } | null {
    const row = this.row(ref);
    return row ? { kind: row.kind as 'raw' | 'fhir' | 'dlq' | 'outbound-dlq', channel: String(row.channel), controlId: row.control_id as string | null } : null;
  }

  deadLetter(ref: RecordRef): DeadLetterView | null {
    const row = this.row(ref);
    return row && (DEAD_LETTER_KINDS as readonly unknown[]).includes(row.kind) ? this.deadLetterOf(row) : null;
  }

  /**
   * The dead letter a replay wrote in place of the one at `ref`, if any. By rowid, so when two
   * replays both failed again the answer is the same here and in deadLetters().
   */
  private successor(ref: RecordRef, kind = 'dlq'): Row | undefined {
    return this.db.prepare('SELECT * FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ? ORDER BY rowid LIMIT 1')
      .get(kind, ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
  }

  /**
   * One dead letter's state from its audit records (bodies in audit order), its successor and the
   * raw record a resubmit stored for it; `known` carries all three when deadLetters() read them for
   * many dead letters at once.
   */
  private deadLetterOf(
    row: Row,
    known?: { readonly audits: readonly AuditBody[]; readonly next: RecordRef | null; readonly resubmitted: RecordRef | null },
  ): DeadLetterView {
    const ref = refOf(row.topic, row.part, row.off)!;
    const audits = known
      ? known.audits
      : (this.db
          .prepare(`SELECT DISTINCT a.* FROM audit a JOIN audit_targets t ON t.audit_off = a.off
        WHERE t.topic = ? AND t.part = ? AND t.from_off <= ? AND ? <= t.to_off ORDER BY a.off`)
          .all(ref.topic, ref.partition, Number(ref.offset), Number(ref.offset)) as Array<{ body: string }>).map((r) => JSON.parse(r.body) as AuditBody);
    let state = UNDECIDED;
    const history: HistoryEntry[] = [];
    for (const a of audits) {
      const entry: HistoryEntry = {
        at: a.at, kind: a.kind, operator: a.operator, reason: a.reason, auditId: a.id,
        ...(a.decision ? { action: a.decision.action } : {}),
        ...(a.decision?.assignee ? { assignee: a.decision.assignee } : {}),
        ...(a.outcome ? { outcome: a.outcome } : {}),
        ...(a.replayId ? { replayId: a.replayId } : {}),
        ...(a.resubmission?.newRecord ? { newRecord: a.resubmission.newRecord } : {}),
      };
      history.push(entry);
      // The same fold the indexer keeps in dead_letters (dead-letter-state.ts).
      state = step(state, a);
    }
    const { assignee, escalated } = state;
    let status: DeadLetterStatus = state.decided;
    const nextRow = known ? undefined : this.successor(ref, String(row.kind));
    const next = known ? known.next : nextRow ? refOf(nextRow.topic, nextRow.part, nextRow.off) : null;
    if (next) status = 'superseded';
    const resubmittedRow = known
      ? undefined
      : (this.db.prepare('SELECT topic, part, off FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ? ORDER BY rowid LIMIT 1')
          .get('raw', ref.topic, ref.partition, Number(ref.offset)) as Row | undefined);
    const resubmittedAs = known ? known.resubmitted : resubmittedRow ? refOf(resubmittedRow.topic, resubmittedRow.part, resubmittedRow.off) : null;
    const firstAt = String(row.first_at ?? row.at);
    const ageSeconds = Math.max(0, Math.floor((this.now().getTime() - Date.parse(firstAt)) / 1000));
    const outbound = row.kind === 'outbound-dlq';
    const sla = outbound ? this.destinationSlaMinutes(String(row.channel)) : this.slaMinutes(String(row.channel));
    return {
      ref,
      channel: String(row.channel),
      direction: outbound ? 'outbound' : 'inbound',
      status,
      category: String(row.category),
      stage: String(row.stage),
      cause: String(row.cause),
      message: String(row.failure_message),
      attempts: Number(row.attempts ?? 1),
      firstAt,
      lastAt: String(row.at),
      ageSeconds,
      overdue: status === 'waiting' && ageSeconds > sla * 60,
      controlId: row.control_id as string | null,
      messageType: typeOf(row),
      sendingApplication: row.sending_app as string | null,
      sendingFacility: row.sending_facility as string | null,
      rawRecord: refOf(row.src_topic, row.src_part, row.src_off),
      replayOf: refOf(row.prev_topic, row.prev_part, row.prev_off),
      replacedBy: next,
      resubmittedAs,
      assignee,
      escalated,
      history,
    };
  }

  slaMinutes(channel: string): number {
    return this.channels.find((c) => c.name === channel)?.review.slaMinutes ?? DEFAULT_SLA_MINUTES;
  }

  private destinationSlaMinutes(destination: string): number {
    return this.destinations.find((d) => d.name === destination)?.review?.slaMinutes ?? DEFAULT_SLA_MINUTES;
  }

  /**
   * Dead letters by the state the indexer keeps (dead-letter-state.ts): the waiting ones through
   * the partial index on waiting rows, so the list reads what waits and not every dead letter
   * ever written. Oldest first, a page at a time when `limit` is given: `after` is the cursor of
   * the last row of the previous page (deadLetterCursor), a keyset read, so a page costs the same
   * wherever it starts. Each carries its history, read through dead_letter_audits.
   */
  deadLetters(f: { channel?: string; category?: string; status?: DeadLetterStatus | 'all' }): DeadLetterView[] {
    return this.deadLetterPage(f).deadLetters;
  }

  /**
   * One page of deadLetters(): `next` is the cursor after the last row read when the page was full
   * (null otherwise: nothing more to read). A page can be shorter than its limit when a row's status changed between the index
   * and the view, so the next page starts from the last row read, not the last row returned.
   */
  deadLetterPage(f: { channel?: string; category?: string; status?: DeadLetterStatus | 'all'; limit?: number; after?: PageCursor }): { deadLetters: DeadLetterView[]; next: string | null } {
    const want = f.status ?? 'waiting';
    const where: string[] = [];
    const args: Record<string, string | number> = {};
    // Written out for waiting rows: SQLite uses a partial index only for the literal condition.
    if (want === 'waiting') where.push("s.status = 'waiting'");
    else if (want !== 'all') {
      where.push('s.status = @status');
      args['status'] = want;
    }
    if (f.channel) {
      where.push('s.channel = @channel');
      args['channel'] = f.channel;
    }
    if (f.category) {
      where.push('s.category = @category');
      args['category'] = f.category;
    }
    if (f.after) {
      where.push('(s.at, s.topic, s.part, s.off) > (@cAt, @cTopic, @cPart, @cOff)');
      Object.assign(args, { cAt: f.after.receivedAt ?? '', cTopic: f.after.ref.topic, cPart: f.after.ref.partition, cOff: Number(f.after.ref.offset) });
    }
    const states = `dead_letters s${want === 'waiting' && f.channel ? ' INDEXED BY dead_letters_waiting' : ''}`;
    const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const n = f.limit === undefined ? null : Math.min(Math.max(Math.trunc(f.limit), 1), 1000);
    const limit = n === null ? '' : ` LIMIT ${n}`;
    const rows = this.db
      .prepare(`SELECT r.*, s.at AS state_at, s.next_topic, s.next_part, s.next_off, s.resub_topic, s.resub_part, s.resub_off
        FROM ${states} JOIN records r ON r.topic = s.topic AND r.part = s.part AND r.off = s.off ${cond} ORDER BY s.at, s.topic, s.part, s.off${limit}`)
      .all(args) as Array<Row & Record<'next_topic' | 'next_part' | 'next_off' | 'resub_topic' | 'resub_part' | 'resub_off', string | number | null> & { state_at: string }>;
    if (rows.length === 0) return { deadLetters: [], next: null };
    // Histories of these rows, in audit order; each audit body parsed once (a replay's record is
    // the history of every dead letter it resolved).
    const history = this.db.prepare(`SELECT a.off AS audit, a.body FROM dead_letter_audits m JOIN audit a ON a.off = m.audit_off
      WHERE m.topic = ? AND m.part = ? AND m.off = ? ORDER BY a.off`);
    const parsed = new Map<number, AuditBody>();
    const audits = (r: Row): AuditBody[] =>
      (history.all(r['topic'], r['part'], r['off']) as Array<{ audit: number; body: string }>).map((l) => {
        let body = parsed.get(l.audit);
        if (!body) parsed.set(l.audit, (body = JSON.parse(l.body) as AuditBody));
        return body;
      });
    const deadLetters: DeadLetterView[] = [];
    for (const r of rows) {
      const d = this.deadLetterOf(r, {
        audits: audits(r),
        next: refOf(r.next_topic, r.next_part, r.next_off),
        resubmitted: refOf(r.resub_topic, r.resub_part, r.resub_off),
      });
      if (want === 'all' || d.status === want) deadLetters.push(d);
    }
    const last = rows[rows.length - 1]!;
    const ref = { topic: String(last['topic']), partition: Number(last['part']), offset: String(last['off']) };
    return { deadLetters, next: n !== null && rows.length >= n ? encodeCursor(last.state_at, ref) : null };
  }

  /**
   * How many dead letters wait in a queue's category, or in one cause of it: the kept group
   * counts, so a group decision learns it is too large without reading its members.
   */
  groupSize(queue: string, category: string, cause?: string): number {
    const row = this.db
      .prepare(`SELECT COALESCE(SUM(waiting), 0) AS n FROM dead_letter_groups WHERE channel = ? AND category = ?${cause === undefined ? '' : ' AND cause = ?'}`)
      .get(queue, category, ...(cause === undefined ? [] : [cause])) as { n: number };
    return row.n;
  }

  /**
   * The waiting dead letters of a queue's category, and within it one cause (as /api/queue shows
   * it) when given, oldest first: what a group decision or group replay acts on. Read through the
   * group index; the server checks groupSize first, so this reads at most a group's bound.
   */
  groupMembers(queue: string, category: string, cause?: string): DeadLetterView[] {
    const rows = this.db
      .prepare(`SELECT topic, part, off FROM dead_letters INDEXED BY dead_letters_group
        WHERE status = 'waiting' AND channel = ? AND category = ?${cause === undefined ? '' : ' AND cause = ?'} ORDER BY since_ms, topic, part, off`)
      .all(queue, category, ...(cause === undefined ? [] : [cause])) as Array<{ topic: string; part: number; off: number }>;
    return rows.flatMap((r) => {
      const d = this.deadLetter({ topic: r.topic, partition: r.part, offset: String(r.off) });
      return d ? [d] : [];
    });
  }

  /**
   * Messages the channel answered (raw records, and frames refused at ingest) received since a
   * time, by ACK code, from the index: so it holds in a console running apart from the engine.
   */
  answeredSince(channel: string, since: string): Map<string, number> {
    const rows = this.db
      .prepare(`SELECT ack_code AS code, COUNT(*) AS n FROM records WHERE channel = @channel AND ack_code IS NOT NULL AND received_at >= @since GROUP BY ack_code`)
      .all({ channel, since }) as Array<{ code: string; n: number }>;
    return new Map(rows.map((r) => [r.code, r.n]));
  }

  /**
   * One queue's groups from the counts the indexer keeps (dead_letter_groups), each group's oldest
   * from the first entry of its range in dead_letters_group, and what is overdue as the count less
   * the members still within the SLA: those are the entries after the cut-off, i.e. what arrived
   * in the last SLA period, whatever the backlog behind them. So the cost follows the number of
   * groups and the recent arrivals, not how many wait.
   */
  private queueOf(name: string, slaMinutes: number): Omit<QueueEntry, 'channel' | 'direction' | 'destination'> {
    const now = this.now().getTime();
    // Overdue when the age in whole seconds passes the SLA: waiting since at most this instant.
    const cutoff = now - (slaMinutes * 60 + 1) * 1000;
    const counts = this.db.prepare('SELECT category, cause, stage, waiting FROM dead_letter_groups WHERE channel = ? AND waiting > 0').all(name) as Array<Record<'category' | 'cause' | 'stage', string> & { waiting: number }>;
    const inGroup = "status = 'waiting' AND channel = @channel AND category = @category AND cause = @cause AND stage = @stage";
    const oldestOf = this.db.prepare(`SELECT MIN(since_ms) AS t FROM dead_letters INDEXED BY dead_letters_group WHERE ${inGroup}`);
    const recentOf = this.db.prepare(`SELECT COUNT(*) AS n FROM dead_letters INDEXED BY dead_letters_group WHERE ${inGroup} AND since_ms > @cutoff`);
    const groups = counts
      .map((g): QueueGroup => {
        const key = { channel: name, category: g.category, cause: g.cause, stage: g.stage };
        const oldest = (oldestOf.get(key) as { t: number | null }).t;
        const recent = (recentOf.get({ ...key, cutoff }) as { n: number }).n;
        return {
          category: g.category,
          stage: g.stage,
          cause: g.cause,
          count: g.waiting,
          overdue: Math.max(0, g.waiting - recent),
          oldestAgeSeconds: oldest === null ? 0 : ageOf(now, oldest),
        };
      })
      .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category) || a.cause.localeCompare(b.cause) || a.stage.localeCompare(b.stage));
    return {
      slaMinutes,
      waiting: groups.reduce((n, g) => n + g.count, 0),
      overdue: groups.reduce((n, g) => n + g.overdue, 0),
      oldestAgeSeconds: groups.reduce((m, g) => Math.max(m, g.oldestAgeSeconds), 0),
      groups,
    };
  }

  /**
   * The reconciliation queue: per channel (direction inbound), then per write-back destination
   * (direction outbound, `destination` naming it), the waiting dead letters by category, stage
   * and cause with counts, ages and what is overdue. Members: groupPage().
   */
  queue(): QueueEntry[] {
    return [
      ...this.channels.map((c): QueueEntry => ({ channel: c.name, direction: 'inbound', ...this.queueOf(c.name, c.review.slaMinutes) })),
      ...this.destinations.map((d): QueueEntry => ({ channel: d.name, destination: d.name, direction: 'outbound', ...this.queueOf(d.name, this.destinationSlaMinutes(d.name)) })),
    ];
  }

  /** Per queue (channel or destination): waiting dead letters by category, how many are overdue, the oldest's age. */
  queueFigures(): Array<{ channel: string; direction: 'inbound' | 'outbound'; waitingByCategory: Map<string, number>; overdue: number; oldestAgeSeconds: number }> {
    return this.queue().map((q) => {
      const byCategory = new Map<string, number>();
      for (const g of q.groups) byCategory.set(g.category, (byCategory.get(g.category) ?? 0) + g.count);
      return { channel: q.channel, direction: q.direction, waitingByCategory: byCategory, overdue: q.overdue, oldestAgeSeconds: q.oldestAgeSeconds };
    });
  }

  /**
   * One page of a queue group's waiting members, oldest first (waiting since, then record), from
   * `after` on: a keyset read of the group's range in dead_letters_group, so a page costs the
   * same wherever it starts and members decided meanwhile neither repeat nor shift the pages.
   * `next` is the cursor of the following page when this one is full.
   */
  groupPage(key: QueueGroupKey, opts: { readonly limit?: number; readonly after?: MemberCursor; readonly slaMinutes: number }): { members: QueueMember[]; next: string | null } {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
    const args: Record<string, string | number> = { channel: key.queue, category: key.category, cause: key.cause, stage: key.stage };
    let from = '';
    if (opts.after) {
      from = ' AND (since_ms, topic, part, off) > (@cSince, @cTopic, @cPart, @cOff)';
      Object.assign(args, { cSince: opts.after.sinceMs, cTopic: opts.after.ref.topic, cPart: opts.after.ref.partition, cOff: Number(opts.after.ref.offset) });
    }
    const rows = this.db
      .prepare(`SELECT topic, part, off, category, stage, cause, control_id, message_type, attempts, since_ms, assignee, escalated
        FROM dead_letters INDEXED BY dead_letters_group
        WHERE status = 'waiting' AND channel = @channel AND category = @category AND cause = @cause AND stage = @stage${from}
        ORDER BY since_ms, topic, part, off LIMIT ${limit}`)
      .all(args) as Array<Record<'topic' | 'category' | 'stage' | 'cause', string> & Record<'control_id' | 'message_type' | 'assignee', string | null> & Record<'part' | 'off' | 'since_ms' | 'escalated', number> & { attempts: number | null }>;
    const now = this.now().getTime();
    const members = rows.map((r): QueueMember => {
      const ageSeconds = ageOf(now, r.since_ms);
      return {
        ref: { topic: r.topic, partition: r.part, offset: String(r.off) },
        category: r.category, stage: r.stage, cause: r.cause,
        controlId: r.control_id, messageType: r.message_type, attempts: Number(r.attempts ?? 1), ageSeconds, overdue: ageSeconds > opts.slaMinutes * 60,
        assignee: r.assignee, escalated: r.escalated === 1,
      };
    });
    const last = rows[rows.length - 1];
    const next = rows.length === limit && last ? memberCursor({ sinceMs: last.since_ms, ref: { topic: last.topic, partition: last.part, offset: String(last.off) } }) : null;
    return { members, next };
  }

  /** The SLA of a queue by name and direction. */
  queueSlaMinutes(queue: string, direction: 'inbound' | 'outbound'): number {
    return direction === 'outbound' ? this.destinationSlaMinutes(queue) : this.slaMinutes(queue);
  }
}

/** Whole seconds from `since` (epoch ms) to `now`, never negative. */
function ageOf(now: number, since: number): number {
  return Math.max(0, Math.floor((now - since) / 1000));
}
