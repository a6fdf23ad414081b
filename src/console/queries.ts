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

/** The cursor of the page that follows `last`, as an opaque URL-safe string. */
export function pageCursor(last: MessageView): string {
  return Buffer.from(JSON.stringify([last.receivedAt, last.ref.topic, last.ref.partition, last.ref.offset]), 'utf8').toString('base64url');
}

/** The cursor pageCursor wrote, or null for anything else. */
export function parsePageCursor(text: string): PageCursor | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 4) return null;
  const [at, topic, partition, offset] = v as unknown[];
  if (!(at === null || (typeof at === 'string' && !Number.isNaN(Date.parse(at))))) return null;
  if (typeof topic !== 'string' || topic === '' || !Number.isSafeInteger(partition) || (partition as number) < 0) return null;
  if (typeof offset !== 'string' || !/^\d{1,16}$/.test(offset)) return null;
  return { receivedAt: at as string | null, ref: { topic, partition: partition as number, offset } };
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

/** One waiting dead letter as the queue lists it. */
interface QueueItem {
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

/** A write-back destination whose dead letters the console shows (its name is the queue's). */
export interface QueueDestination {
  readonly name: string;
}

/** Outbound queues have no review settings of their own: the channels' default SLA applies. */
const DESTINATION_SLA_MINUTES = 240;

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
    const sla = outbound ? DESTINATION_SLA_MINUTES : this.slaMinutes(String(row.channel));
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
    return this.channels.find((c) => c.name === channel)?.review.slaMinutes ?? 240;
  }

  /**
   * Dead letters by the state the indexer keeps (dead-letter-state.ts): the waiting ones through
   * the partial index on waiting rows, so the queue reads what waits and not every dead letter
   * ever written. Oldest first. Each carries its history, read through dead_letter_audits.
   */
  deadLetters(f: { channel?: string; category?: string; status?: DeadLetterStatus | 'all' }): DeadLetterView[] {
    const want = f.status ?? 'waiting';
    const where: string[] = [];
    const args: Record<string, string> = {};
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
    const states = `dead_letters s${want === 'waiting' && f.channel ? ' INDEXED BY dead_letters_waiting' : ''}`;
    const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.db
      .prepare(`SELECT r.*, s.next_topic, s.next_part, s.next_off, s.resub_topic, s.resub_part, s.resub_off
        FROM ${states} JOIN records r ON r.topic = s.topic AND r.part = s.part AND r.off = s.off ${cond} ORDER BY s.at, s.topic, s.part, s.off`)
      .all(args) as Array<Row & Record<'next_topic' | 'next_part' | 'next_off' | 'resub_topic' | 'resub_part' | 'resub_off', string | number | null>>;
    if (rows.length === 0) return [];
    // Histories of the same rows, in audit order; each audit body parsed once (a replay's record
    // is the history of every dead letter it resolved).
    const histories = new Map<string, AuditBody[]>();
    const parsed = new Map<number, AuditBody>();
    const links = this.db
      .prepare(`SELECT m.topic, m.part, m.off, a.off AS audit, a.body
        FROM ${states} JOIN dead_letter_audits m ON m.topic = s.topic AND m.part = s.part AND m.off = s.off JOIN audit a ON a.off = m.audit_off ${cond} ORDER BY a.off`)
      .all(args) as Array<{ topic: string; part: number; off: number; audit: number; body: string }>;
    for (const l of links) {
      let body = parsed.get(l.audit);
      if (!body) parsed.set(l.audit, (body = JSON.parse(l.body) as AuditBody));
      const k = `${l.topic}\0${l.part}\0${l.off}`;
      const list = histories.get(k);
      if (list) list.push(body);
      else histories.set(k, [body]);
    }
    return rows
      .map((r) =>
        this.deadLetterOf(r, {
          audits: histories.get(`${r.topic}\0${r.part}\0${r.off}`) ?? [],
          next: refOf(r.next_topic, r.next_part, r.next_off),
          resubmitted: refOf(r.resub_topic, r.resub_part, r.resub_off),
        }),
      )
      .filter((d) => want === 'all' || d.status === want);
  }

  /**
   * The waiting dead letters of one queue group: a channel's category, and within it one cause
   * (as /api/queue shows it) when given. Oldest first.
   */
  groupMembers(channel: string, category: string, cause?: string): DeadLetterView[] {
    return this.deadLetters({ channel, category }).filter((d) => cause === undefined || d.cause === cause);
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
   * What the queue shows of each waiting dead letter of one channel or destination, oldest first:
   * one read of dead_letters through its partial index on waiting rows, no history, no record row.
   */
  private waiting(name: string, slaMinutes: number): QueueItem[] {
    const rows = this.db
      .prepare(`SELECT topic, part, off, category, stage, cause, control_id, message_type, attempts, first_at, at, assignee, escalated
        FROM dead_letters INDEXED BY dead_letters_waiting WHERE status = 'waiting' AND channel = ? ORDER BY at, topic, part, off`)
      .all(name) as Array<Record<'topic' | 'category' | 'stage' | 'cause' | 'at', string> & Record<'control_id' | 'message_type' | 'first_at' | 'assignee', string | null> & Record<'part' | 'off' | 'escalated', number> & { attempts: number | null }>;
    const now = this.now().getTime();
    return rows.map((r) => {
      const ageSeconds = Math.max(0, Math.floor((now - Date.parse(r.first_at ?? r.at)) / 1000));
      return {
        ref: { topic: r.topic, partition: r.part, offset: String(r.off) },
        category: String(r.category), stage: String(r.stage), cause: String(r.cause),
        controlId: r.control_id, messageType: r.message_type, attempts: Number(r.attempts ?? 1), ageSeconds, overdue: ageSeconds > slaMinutes * 60,
        assignee: r.assignee, escalated: r.escalated === 1,
      };
    });
  }

  /** Per channel: waiting dead letters by category, how many are overdue, the oldest's age. */
  queueFigures(): Array<{ channel: string; waitingByCategory: Map<string, number>; overdue: number; oldestAgeSeconds: number }> {
    return this.channels.map((c) => {
      const waiting = this.waiting(c.name, c.review.slaMinutes);
      const byCategory = new Map<string, number>();
      for (const d of waiting) byCategory.set(d.category, (byCategory.get(d.category) ?? 0) + 1);
      return { channel: c.name, waitingByCategory: byCategory, overdue: waiting.filter((d) => d.overdue).length, oldestAgeSeconds: waiting.reduce((m, d) => Math.max(m, d.ageSeconds), 0) };
    });
  }

  /**
   * Waiting dead letters by channel, then category and cause, with ages and what is overdue; then
   * the write-back destinations' (direction outbound, `destination` naming the queue), the same way.
   */
  queue(): unknown {
    return [
      ...this.channels.map((c) => ({ channel: c.name, direction: 'inbound', ...this.queueOf(c.name, c.review.slaMinutes) })),
      ...this.destinations.map((d) => ({ channel: d.name, destination: d.name, direction: 'outbound', ...this.queueOf(d.name, DESTINATION_SLA_MINUTES) })),
    ];
  }

  private queueOf(name: string, slaMinutes: number) {
    const waiting = this.waiting(name, slaMinutes);
    const groups = new Map<string, QueueItem[]>();
    for (const d of waiting) {
      const k = `${d.category}\0${d.stage}\0${d.cause}`;
      const list = groups.get(k);
      if (list) list.push(d);
      else groups.set(k, [d]);
    }
    const oldest = (list: readonly QueueItem[]): number => list.reduce((m, d) => Math.max(m, d.ageSeconds), 0);
    return {
      slaMinutes,
      waiting: waiting.length,
      overdue: waiting.filter((d) => d.overdue).length,
      oldestAgeSeconds: oldest(waiting),
      groups: [...groups.values()]
        .map((items) => ({
          category: items[0]!.category,
          stage: items[0]!.stage,
          cause: items[0]!.cause,
          count: items.length,
          overdue: items.filter((d) => d.overdue).length,
          oldestAgeSeconds: oldest(items),
          deadLetters: items.map(({ category: _c, stage: _s, cause: _k, ...d }) => d),
        }))
        .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category)),
    };
  }
}
