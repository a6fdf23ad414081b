/**
 * What the console asks the index: message search, a message's lineage, the reconciliation
 * queue and one dead letter's state and history. Answers carry metadata only.
 */
import type { ChannelConfig } from '../channel/index.js';
import type { RecordRef } from '../records/index.js';
import type { IndexStore, Row } from './index-store.js';

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

export type DeadLetterStatus = 'waiting' | 'resolved' | 'discarded' | 'superseded' | 'resubmitted';

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
  readonly channel: string;
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
  readonly rawRecord: RecordRef | null;
  readonly replayOf: RecordRef | null;
  readonly replacedBy: RecordRef | null;
  /** The raw record an edit-and-resubmit stored in its place (its lineage goes on from there). */
  readonly resubmittedAs: RecordRef | null;
  readonly assignee: string | null;
  readonly escalated: boolean;
  readonly history: readonly HistoryEntry[];
}

const OUTCOME_SQL = `CASE
  WHEN r.kind = 'dlq' THEN 'dead-lettered'
  WHEN EXISTS (SELECT 1 FROM records f WHERE f.kind = 'fhir' AND f.src_topic = r.topic AND f.src_part = r.part AND f.src_off = r.off) THEN 'converted'
  WHEN EXISTS (SELECT 1 FROM records d WHERE d.kind = 'dlq' AND d.src_topic = r.topic AND d.src_part = r.part AND d.src_off = r.off) THEN 'dead-lettered'
  WHEN r.dedupe IS NOT NULL AND EXISTS (SELECT 1 FROM records e WHERE e.kind = 'raw' AND e.channel = r.channel AND e.dedupe = r.dedupe
       AND (e.received_at < r.received_at OR (e.received_at = r.received_at AND (e.part < r.part OR (e.part = r.part AND e.off < r.off))))) THEN 'duplicate'
  ELSE 'stored' END`;

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

export class ConsoleQueries {
  constructor(
    private readonly store: IndexStore,
    private readonly channels: readonly ChannelConfig[],
    private readonly now: () => Date = () => new Date(),
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
    eq('outcome', 'outcome', f.outcome);
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
      where.push("repairs LIKE '%,' || @repair || ',%'");
      args['repair'] = f.repair;
    }
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const sql = `SELECT * FROM (SELECT r.*, ${OUTCOME_SQL} AS outcome FROM records r
        WHERE r.kind = 'raw' OR (r.kind = 'dlq' AND r.src_topic IS NULL AND r.prev_topic IS NULL)) m
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY received_at DESC, topic, part, off LIMIT ${limit}`;
    return (this.db.prepare(sql).all(args) as Array<Row & { outcome: Outcome }>).map(messageView);
  }

  private row(ref: RecordRef): Row | undefined {
    return this.db.prepare('SELECT * FROM records WHERE topic = ? AND part = ? AND off = ?').get(ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
  }

  /** A message and where it went: Bundles, dead letters (with their replays), newest last. */
  message(ref: RecordRef): { message: MessageView; bundles: unknown[]; deadLetters: DeadLetterView[] } | null {
    const row = this.db.prepare(`SELECT r.*, ${OUTCOME_SQL} AS outcome FROM records r WHERE r.topic = ? AND r.part = ? AND r.off = ? AND r.kind IN ('raw', 'dlq')`)
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
        cur = this.db.prepare('SELECT * FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ?').get('dlq', ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
      }
    }
    return { message: messageView(row), bundles, deadLetters: chain };
  }

  /** What kind of record sits at `ref`, for the content view's audit record. */
  recordKind(ref: RecordRef): { kind: 'raw' | 'fhir' | 'dlq'; channel: string; controlId: string | null } | null {
    const row = this.row(ref);
    return row ? { kind: row.kind as 'raw' | 'fhir' | 'dlq', channel: String(row.channel), controlId: row.control_id as string | null } : null;
  }

  deadLetter(ref: RecordRef): DeadLetterView | null {
    const row = this.row(ref);
    return row && row.kind === 'dlq' ? this.deadLetterOf(row) : null;
  }

  private deadLetterOf(row: Row): DeadLetterView {
    const ref = refOf(row.topic, row.part, row.off)!;
    const audits = this.db
      .prepare(`SELECT DISTINCT a.* FROM audit a JOIN audit_targets t ON t.audit_off = a.off
        WHERE t.topic = ? AND t.part = ? AND t.from_off <= ? AND ? <= t.to_off ORDER BY a.off`)
      .all(ref.topic, ref.partition, Number(ref.offset), Number(ref.offset)) as Array<{ body: string }>;
    let status: DeadLetterStatus = 'waiting';
    let assignee: string | null = null;
    let escalated = false;
    const history: HistoryEntry[] = [];
    for (const { body } of audits) {
      const a = JSON.parse(body) as {
        id: string; kind: string; operator: string; at: string; reason: string | null; outcome?: string; replayId?: string;
        decision?: { action: string; assignee?: string }; resubmission?: { newRecord?: RecordRef };
      };
      const entry: HistoryEntry = {
        at: a.at, kind: a.kind, operator: a.operator, reason: a.reason, auditId: a.id,
        ...(a.decision ? { action: a.decision.action } : {}),
        ...(a.decision?.assignee ? { assignee: a.decision.assignee } : {}),
        ...(a.outcome ? { outcome: a.outcome } : {}),
        ...(a.replayId ? { replayId: a.replayId } : {}),
        ...(a.resubmission?.newRecord ? { newRecord: a.resubmission.newRecord } : {}),
      };
      history.push(entry);
      if (a.kind === 'replay-finished') status = 'resolved';
      if (a.kind === 'dlq-decision' && a.decision) {
        if (a.decision.action === 'resolve') status = 'resolved';
        if (a.decision.action === 'discard') status = 'discarded';
        if (a.decision.action === 'assign') assignee = a.decision.assignee ?? null;
        if (a.decision.action === 'escalate') escalated = true;
        // Recorded before the raw record is produced; a failed produce puts it back in the queue.
        if (a.decision.action === 'resubmit') status = a.outcome === 'failed' ? 'waiting' : 'resubmitted';
      }
    }
    const next = this.db.prepare('SELECT topic, part, off FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ?').get('dlq', ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
    if (next) status = 'superseded';
    const resubmitted = this.db.prepare('SELECT topic, part, off FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ?').get('raw', ref.topic, ref.partition, Number(ref.offset)) as Row | undefined;
    const firstAt = String(row.first_at ?? row.at);
    const ageSeconds = Math.max(0, Math.floor((this.now().getTime() - Date.parse(firstAt)) / 1000));
    const sla = this.slaMinutes(String(row.channel));
    return {
      ref,
      channel: String(row.channel),
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
      replacedBy: next ? refOf(next.topic, next.part, next.off) : null,
      resubmittedAs: resubmitted ? refOf(resubmitted.topic, resubmitted.part, resubmitted.off) : null,
      assignee,
      escalated,
      history,
    };
  }

  slaMinutes(channel: string): number {
    return this.channels.find((c) => c.name === channel)?.review.slaMinutes ?? 240;
  }

  deadLetters(f: { channel?: string; category?: string; status?: DeadLetterStatus | 'all' }): DeadLetterView[] {
    const rows = this.db.prepare(`SELECT * FROM records WHERE kind = 'dlq' ${f.channel ? 'AND channel = @channel' : ''} ${f.category ? 'AND category = @category' : ''} ORDER BY at, topic, part, off`)
      .all({ ...(f.channel ? { channel: f.channel } : {}), ...(f.category ? { category: f.category } : {}) }) as Row[];
    const want = f.status ?? 'waiting';
    return rows.map((r) => this.deadLetterOf(r)).filter((d) => want === 'all' || d.status === want);
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

  /** Per channel: waiting dead letters by category, how many are overdue, the oldest's age. */
  queueFigures(): Array<{ channel: string; waitingByCategory: Map<string, number>; overdue: number; oldestAgeSeconds: number }> {
    return this.channels.map((c) => {
      const waiting = this.deadLetters({ channel: c.name });
      const byCategory = new Map<string, number>();
      for (const d of waiting) byCategory.set(d.category, (byCategory.get(d.category) ?? 0) + 1);
      return { channel: c.name, waitingByCategory: byCategory, overdue: waiting.filter((d) => d.overdue).length, oldestAgeSeconds: waiting.reduce((m, d) => Math.max(m, d.ageSeconds), 0) };
    });
  }

  /** Waiting dead letters by channel, then category and cause, with ages and what is overdue. */
  queue(): unknown {
    return this.channels.map((c) => {
      const waiting = this.deadLetters({ channel: c.name });
      const groups = new Map<string, DeadLetterView[]>();
      for (const d of waiting) {
        const k = `${d.category}\0${d.stage}\0${d.cause}`;
        groups.set(k, [...(groups.get(k) ?? []), d]);
      }
      const oldest = (list: readonly DeadLetterView[]): number => list.reduce((m, d) => Math.max(m, d.ageSeconds), 0);
      return {
        channel: c.name,
        slaMinutes: c.review.slaMinutes,
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
            deadLetters: items.map((d) => ({ ref: d.ref, controlId: d.controlId, messageType: d.messageType, attempts: d.attempts, ageSeconds: d.ageSeconds, overdue: d.overdue, assignee: d.assignee, escalated: d.escalated })),
          }))
          .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category)),
      };
    });
  }
}
