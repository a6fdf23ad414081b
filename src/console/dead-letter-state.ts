/**
 * Each dead letter's state, kept by the indexer as records arrive, so the queue reads only the
 * dead letters that wait instead of judging every dead letter ever written on each request.
 *
 * The state is the fold of the audit records about the dead letter, in audit order (step()),
 * and whether a replay wrote a successor for it. The audit topic and the dead-letter topics are
 * read independently, so either can arrive first:
 * - a dead letter arriving after audit records about it folds all of them (the audit rows and
 *   their targets are already in the index);
 * - an audit record arriving after the dead letters it names is applied to each of them, once
 *   per dead letter (dead_letter_audits remembers which were applied), in audit order because
 *   the audit topic has one partition.
 * Both paths fold the same audits in the same order, so they agree. dead_letter_audits is also
 * each dead letter's history, read without expanding the audit targets' offset ranges again.
 */
import type Database from 'better-sqlite3';
import type { RecordRef } from '../records/index.js';

export type DeadLetterStatus = 'waiting' | 'resolved' | 'discarded' | 'superseded' | 'resubmitted';

/** Which record kinds are dead letters: a channel's (inbound) and a destination's (outbound). */
export const DEAD_LETTER_KINDS = ['dlq', 'outbound-dlq'] as const;

/** What step() reads from an audit record. */
export interface AuditEffect {
  readonly kind: string;
  readonly outcome?: string;
  readonly decision?: { readonly action: string; readonly assignee?: string };
}

export interface DecidedState {
  /** What the audit records decided; a successor (superseded) is kept apart and wins over it. */
  readonly decided: Exclude<DeadLetterStatus, 'superseded'>;
  readonly assignee: string | null;
  readonly escalated: boolean;
}

export const UNDECIDED: DecidedState = { decided: 'waiting', assignee: null, escalated: false };

/** One audit record's effect on a dead letter it names. */
export function step(s: DecidedState, a: AuditEffect): DecidedState {
  if (a.kind === 'replay-finished') return { ...s, decided: 'resolved' };
  if (a.kind !== 'dlq-decision' || !a.decision) return s;
  switch (a.decision.action) {
    case 'resolve':
      return { ...s, decided: 'resolved' };
    case 'discard':
      return { ...s, decided: 'discarded' };
    case 'assign':
      return { ...s, assignee: a.decision.assignee ?? null };
    case 'escalate':
      return { ...s, escalated: true };
    case 'resubmit':
      // Recorded before the raw record is produced; a failed produce puts it back in the queue.
      return { ...s, decided: a.outcome === 'failed' ? 'waiting' : 'resubmitted' };
    default:
      return s;
  }
}

export const DEAD_LETTER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS dead_letters (
    topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, channel TEXT NOT NULL, category TEXT, at TEXT NOT NULL,
    -- What the queue lists of each waiting one, copied from its record so the queue reads this table alone.
    stage TEXT, cause TEXT, control_id TEXT, message_type TEXT, attempts INTEGER, first_at TEXT,
    status TEXT NOT NULL, decided TEXT NOT NULL, assignee TEXT, escalated INTEGER NOT NULL,
    next_topic TEXT, next_part INTEGER, next_off INTEGER, resub_topic TEXT, resub_part INTEGER, resub_off INTEGER,
    PRIMARY KEY (topic, part, off)
  );
  -- The queue: only waiting rows, per channel (or destination) in the order the queue lists them.
  CREATE INDEX IF NOT EXISTS dead_letters_waiting ON dead_letters (channel, at, topic, part, off) WHERE status = 'waiting';
  CREATE TABLE IF NOT EXISTS dead_letter_audits (
    topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, audit_off INTEGER NOT NULL,
    PRIMARY KEY (topic, part, off, audit_off)
  ) WITHOUT ROWID;
`;

export const DEAD_LETTER_TABLES = ['dead_letters', 'dead_letter_audits'];

interface NewRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly kind: string;
  readonly channel: string;
  readonly category: string | null;
  readonly at: string;
  readonly previous: RecordRef | null;
  readonly stage: string | null;
  readonly cause: string | null;
  readonly controlId: string | null;
  readonly messageCode: string | null;
  readonly triggerEvent: string | null;
  readonly attempts: number | null;
  readonly firstAt: string | null;
}

interface StateRow {
  decided: DecidedState['decided'];
  assignee: string | null;
  escalated: number;
  next_topic: string | null;
}

/** Keeps dead_letters and dead_letter_audits in step; called inside the store's batch transaction. */
export class DeadLetterStates {
  private readonly st: Record<string, Database.Statement>;

  constructor(db: Database.Database) {
    const p = (sql: string): Database.Statement => db.prepare(sql);
    this.st = {
      auditsOf: p(`SELECT DISTINCT a.off, a.body FROM audit a JOIN audit_targets t ON t.audit_off = a.off
        WHERE t.topic = ? AND t.part = ? AND t.from_off <= ? AND ? <= t.to_off ORDER BY a.off`),
      forget: p('DELETE FROM dead_letter_audits WHERE topic = ? AND part = ? AND off = ?'),
      link: p('INSERT OR IGNORE INTO dead_letter_audits (topic, part, off, audit_off) VALUES (?, ?, ?, ?)'),
      successor: p(`SELECT topic, part, off FROM records WHERE kind = ? AND prev_topic = ? AND prev_part = ? AND prev_off = ? ORDER BY rowid LIMIT 1`),
      put: p(`INSERT OR REPLACE INTO dead_letters (topic, part, off, channel, category, at, stage, cause, control_id, message_type, attempts, first_at, status, decided, assignee, escalated, next_topic, next_part, next_off, resub_topic, resub_part, resub_off)
        VALUES (@topic, @part, @off, @channel, @category, @at, @stage, @cause, @control_id, @message_type, @attempts, @first_at, @status, @decided, @assignee, @escalated, @next_topic, @next_part, @next_off, @resub_topic, @resub_part, @resub_off)`),
      get: p('SELECT decided, assignee, escalated, next_topic FROM dead_letters WHERE topic = ? AND part = ? AND off = ?'),
      inRange: p('SELECT off, decided, assignee, escalated, next_topic FROM dead_letters WHERE topic = ? AND part = ? AND off BETWEEN ? AND ?'),
      decide: p(`UPDATE dead_letters SET decided = @decided, assignee = @assignee, escalated = @escalated,
        status = CASE WHEN next_topic IS NULL THEN @decided ELSE 'superseded' END WHERE topic = @topic AND part = @part AND off = @off`),
      supersede: p(`UPDATE dead_letters SET next_topic = ?, next_part = ?, next_off = ?, status = 'superseded'
        WHERE topic = ? AND part = ? AND off = ? AND next_topic IS NULL`),
      resubmitted: p('UPDATE dead_letters SET resub_topic = ?, resub_part = ?, resub_off = ? WHERE topic = ? AND part = ? AND off = ? AND resub_topic IS NULL'),
    };
  }

  /** After a batch of records is written: new dead letters get their state; successors and resubmits mark theirs. */
  onRecords(records: readonly NewRecord[]): void {
    for (const r of records) {
      const isDeadLetter = (DEAD_LETTER_KINDS as readonly string[]).includes(r.kind);
      if (isDeadLetter) this.fold(r);
      if (!r.previous) continue;
      const prev = [r.previous.topic, r.previous.partition, Number(r.previous.offset)] as const;
      if (isDeadLetter) this.st['supersede']!.run(r.topic, r.partition, Number(r.offset), ...prev);
      else if (r.kind === 'raw') this.st['resubmitted']!.run(r.topic, r.partition, Number(r.offset), ...prev);
    }
  }

  /** A dead letter's state from scratch: the audit records already indexed about it, its successor, its resubmitted record. */
  private fold(r: NewRecord): void {
    const off = Number(r.offset);
    this.st['forget']!.run(r.topic, r.partition, off);
    let s = UNDECIDED;
    for (const a of this.st['auditsOf']!.all(r.topic, r.partition, off, off) as Array<{ off: number; body: string }>) {
      this.st['link']!.run(r.topic, r.partition, off, a.off);
      s = step(s, JSON.parse(a.body) as AuditEffect);
    }
    const next = this.st['successor']!.get(r.kind, r.topic, r.partition, off) as { topic: string; part: number; off: number } | undefined;
    const resub = this.st['successor']!.get('raw', r.topic, r.partition, off) as { topic: string; part: number; off: number } | undefined;
    this.st['put']!.run({
      topic: r.topic, part: r.partition, off, channel: r.channel, category: r.category, at: r.at,
      stage: r.stage, cause: r.cause, control_id: r.controlId, attempts: r.attempts, first_at: r.firstAt,
      message_type: r.messageCode ? (r.triggerEvent ? `${r.messageCode}^${r.triggerEvent}` : r.messageCode) : null,
      status: next ? 'superseded' : s.decided, decided: s.decided, assignee: s.assignee, escalated: s.escalated ? 1 : 0,
      next_topic: next?.topic ?? null, next_part: next?.part ?? null, next_off: next?.off ?? null,
      resub_topic: resub?.topic ?? null, resub_part: resub?.part ?? null, resub_off: resub?.off ?? null,
    });
  }

  /** After an audit record is written: applied once to each indexed dead letter it names. */
  onAudit(auditOff: number, body: string, targets: ReadonlyArray<{ topic: string; partition: number; from: string; to: string }>): void {
    let effect: AuditEffect | null = null;
    for (const t of targets) {
      const rows = this.st['inRange']!.all(t.topic, t.partition, Number(t.from), Number(t.to)) as Array<StateRow & { off: number }>;
      for (const row of rows) {
        // Once per dead letter, however many of the record's targets name it.
        if (this.st['link']!.run(t.topic, t.partition, row.off, auditOff).changes === 0) continue;
        effect ??= JSON.parse(body) as AuditEffect;
        const s = step({ decided: row.decided, assignee: row.assignee, escalated: row.escalated === 1 }, effect);
        this.st['decide']!.run({ topic: t.topic, part: t.partition, off: row.off, decided: s.decided, assignee: s.assignee, escalated: s.escalated ? 1 : 0 });
      }
    }
  }
}
