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
 *
 * The queue's groups (channel or destination, category, cause, stage) keep their waiting count in
 * dead_letter_groups, maintained by SQLite triggers on every insert, delete and status change of
 * a dead_letters row, in the batch's transaction: whichever path changes a status (a fold, an
 * audit, a successor), the count follows, and an index rebuilt from Kafka recounts from scratch.
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
    topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, channel TEXT NOT NULL, category TEXT NOT NULL, at TEXT NOT NULL,
    -- What the queue lists of each waiting one, copied from its record so the queue reads this table alone.
    stage TEXT NOT NULL, cause TEXT NOT NULL, control_id TEXT, message_type TEXT, attempts INTEGER, first_at TEXT,
    -- Since when it waits (first_at, else at), in epoch ms: ages and SLA cut-offs compare numbers, not time texts.
    since_ms INTEGER NOT NULL,
    status TEXT NOT NULL, decided TEXT NOT NULL, assignee TEXT, escalated INTEGER NOT NULL,
    next_topic TEXT, next_part INTEGER, next_off INTEGER, resub_topic TEXT, resub_part INTEGER, resub_off INTEGER,
    PRIMARY KEY (topic, part, off)
  );
  -- Waiting rows per channel (or destination) in write order: the dead-letter list.
  CREATE INDEX IF NOT EXISTS dead_letters_waiting ON dead_letters (channel, at, topic, part, off) WHERE status = 'waiting';
  -- Waiting rows per queue group, oldest first: a group's oldest is the first entry, its members a
  -- range read page by page, and the part still within the SLA the entries after the cut-off.
  CREATE INDEX IF NOT EXISTS dead_letters_group ON dead_letters (channel, category, cause, stage, since_ms, topic, part, off) WHERE status = 'waiting';
  -- How many wait per group, kept by the triggers below on every change of a row's status, so the
  -- queue reads one row per group instead of counting what waits (which grows with the backlog).
  CREATE TABLE IF NOT EXISTS dead_letter_groups (
    channel TEXT NOT NULL, category TEXT NOT NULL, cause TEXT NOT NULL, stage TEXT NOT NULL, waiting INTEGER NOT NULL,
    PRIMARY KEY (channel, category, cause, stage)
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS dead_letter_groups_insert AFTER INSERT ON dead_letters WHEN NEW.status = 'waiting' BEGIN
    INSERT INTO dead_letter_groups (channel, category, cause, stage, waiting) VALUES (NEW.channel, NEW.category, NEW.cause, NEW.stage, 1)
      ON CONFLICT (channel, category, cause, stage) DO UPDATE SET waiting = waiting + 1;
  END;
  CREATE TRIGGER IF NOT EXISTS dead_letter_groups_delete AFTER DELETE ON dead_letters WHEN OLD.status = 'waiting' BEGIN
    UPDATE dead_letter_groups SET waiting = waiting - 1 WHERE channel = OLD.channel AND category = OLD.category AND cause = OLD.cause AND stage = OLD.stage;
    DELETE FROM dead_letter_groups WHERE channel = OLD.channel AND category = OLD.category AND cause = OLD.cause AND stage = OLD.stage AND waiting <= 0;
  END;
  CREATE TRIGGER IF NOT EXISTS dead_letter_groups_leave AFTER UPDATE OF status ON dead_letters WHEN OLD.status = 'waiting' AND NEW.status <> 'waiting' BEGIN
    UPDATE dead_letter_groups SET waiting = waiting - 1 WHERE channel = OLD.channel AND category = OLD.category AND cause = OLD.cause AND stage = OLD.stage;
    DELETE FROM dead_letter_groups WHERE channel = OLD.channel AND category = OLD.category AND cause = OLD.cause AND stage = OLD.stage AND waiting <= 0;
  END;
  CREATE TRIGGER IF NOT EXISTS dead_letter_groups_return AFTER UPDATE OF status ON dead_letters WHEN OLD.status <> 'waiting' AND NEW.status = 'waiting' BEGIN
    INSERT INTO dead_letter_groups (channel, category, cause, stage, waiting) VALUES (NEW.channel, NEW.category, NEW.cause, NEW.stage, 1)
      ON CONFLICT (channel, category, cause, stage) DO UPDATE SET waiting = waiting + 1;
  END;
  CREATE TABLE IF NOT EXISTS dead_letter_audits (
    topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, audit_off INTEGER NOT NULL,
    PRIMARY KEY (topic, part, off, audit_off)
  ) WITHOUT ROWID;
`;

export const DEAD_LETTER_TABLES = ['dead_letters', 'dead_letter_audits', 'dead_letter_groups'];

/** Epoch ms of a time text; 0 for one that does not parse (it then sorts as the oldest, never hidden). */
export function sinceMs(firstAt: string | null, at: string): number {
  const t = Date.parse(firstAt ?? at);
  return Number.isFinite(t) ? t : 0;
}

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
      // A record indexed again (its batch re-read after a crash) replaces its row by a delete and an
      // insert, not INSERT OR REPLACE: SQLite runs no delete trigger for a REPLACE, and the group
      // counts would count it twice.
      drop: p('DELETE FROM dead_letters WHERE topic = ? AND part = ? AND off = ?'),
      put: p(`INSERT INTO dead_letters (topic, part, off, channel, category, at, stage, cause, control_id, message_type, attempts, first_at, since_ms, status, decided, assignee, escalated, next_topic, next_part, next_off, resub_topic, resub_part, resub_off)
        VALUES (@topic, @part, @off, @channel, @category, @at, @stage, @cause, @control_id, @message_type, @attempts, @first_at, @since_ms, @status, @decided, @assignee, @escalated, @next_topic, @next_part, @next_off, @resub_topic, @resub_part, @resub_off)`),
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
    this.st['drop']!.run(r.topic, r.partition, off);
    this.st['put']!.run({
      // Group keys are never NULL: NULLs never match each other, so they would not count as one group.
      topic: r.topic, part: r.partition, off, channel: r.channel, category: r.category ?? '', at: r.at,
      stage: r.stage ?? '', cause: r.cause ?? '', control_id: r.controlId, attempts: r.attempts, first_at: r.firstAt, since_ms: sinceMs(r.firstAt, r.at),
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
