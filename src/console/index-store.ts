/**
 * The console's index: an SQLite file fed from Kafka (raw, fhir, dlq and audit topics) holding
 * metadata, record positions and hashes only. No message text, name or identifier is ever
 * written here: patients are found by the hash their Kafka records are keyed by, and content
 * is read from Kafka by offset when an operator asks (and that is audited). The file can be
 * deleted at any time: the indexer reads the topics from the beginning and rebuilds it.
 */
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { RecordRef } from '../records/index.js';
import { DEAD_LETTER_SCHEMA, DEAD_LETTER_TABLES, DeadLetterStates } from './dead-letter-state.js';
import { OutcomeKeeper } from './index-outcomes.js';

/**
 * better-sqlite3 13 (Node-API, prebuilt binaries in the package) on Node 22 and later; 12, compiled
 * by `npm ci`, on Node 20, where 13 crashes on load. 12 cannot serve the newer lines: on Node 24
 * its objects remove an environment cleanup hook when garbage-collected, and a collection outside
 * a JavaScript context aborts the process ("RemoveEnvironmentCleanupHook ... (env) != nullptr").
 * Loaded on first use, so commands that never open the index do not need it.
 */
function sqlite(): typeof Database {
  const major = Number(process.versions.node.split('.')[0]);
  const pkg = major < 22 ? 'better-sqlite3-node20' : 'better-sqlite3';
  try {
    return createRequire(import.meta.url)(pkg) as typeof Database;
  } catch (err) {
    throw new Error(
      `the console's index needs the package ${pkg} on Node ${process.versions.node}, and it did not load: ` +
        `${err instanceof Error ? err.message : String(err)}` +
        (major < 22 ? ' (npm ci compiles it on Node 20: it needs python3, make and a C++ compiler; or run on Node 22 or 24)' : ''),
    );
  }
}

/**
 * Raised when the layout changes: an older file is rebuilt, not migrated. 2: message searches
 * read partial indexes ordered by receive time (bench/console-index.mjs measured why). 3: each
 * dead letter's state kept as records arrive (dead-letter-state.ts), and destinations' dead letters;
 * each message's outcome kept on its row (index-outcomes.ts), rare outcomes in their own indexes.
 * 4: the queue by groups: waiting counts kept per group, waiting rows indexed per group by age.
 */
export const INDEX_VERSION = 4;

/**
 * Which rows are messages (what a search returns): raw records, and dead letters of frames that
 * never reached the raw topic. The message indexes below are partial on exactly this expression,
 * and a search repeats it word for word, which is what lets SQLite use them.
 */
export const MESSAGE_ROWS = "(kind = 'raw' OR (kind = 'dlq' AND src_topic IS NULL AND prev_topic IS NULL))";

/** One row per Kafka record of the raw, fhir and dlq topics. */
export interface IndexedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** outbound-dlq: a write-back destination's dead letter; `channel` is then the destination's name. */
  readonly kind: 'raw' | 'fhir' | 'dlq' | 'outbound-dlq';
  readonly channel: string;
  readonly at: string;
  readonly envelopeId: string | null;
  readonly controlId: string | null;
  readonly messageCode: string | null;
  readonly triggerEvent: string | null;
  readonly sendingApplication: string | null;
  readonly sendingFacility: string | null;
  readonly receivedAt: string | null;
  readonly rawSha256: string | null;
  readonly rawLength: number | null;
  readonly charset: string | null;
  readonly charsetSource: string | null;
  /** Repair kinds, comma-separated (',bom,nul-bytes,' so LIKE finds one kind exactly). */
  readonly repairs: string | null;
  /** The Kafka key when it is a patient hash (pt:…). */
  readonly patientKey: string | null;
  readonly dedupe: string | null;
  readonly ackCode: string | null;
  readonly category: string | null;
  readonly stage: string | null;
  readonly cause: string | null;
  readonly failureMessage: string | null;
  readonly attempts: number | null;
  readonly firstAt: string | null;
  /** The raw record a Bundle or a transform dead letter came from. */
  readonly source: RecordRef | null;
  /** The dead letter a replay wrote this record in place of. */
  readonly previous: RecordRef | null;
  readonly replayId: string | null;
  readonly issueCount: number | null;
  /** Bundle entries as Type/id (ids are deterministic UUIDs, no identifier values). */
  readonly resources: string | null;
}

export interface IndexedAudit {
  readonly offset: string;
  readonly id: string;
  readonly kind: string;
  readonly operator: string;
  readonly at: string;
  readonly channel: string;
  readonly reason: string | null;
  /** The audit record as written; audit records never carry message content. */
  readonly body: string;
}

/** Dead letters an audit record is about (decision target, content shown, resolved by replay). */
export interface AuditTarget {
  readonly topic: string;
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

const COLUMNS = [
  'topic', 'part', 'off', 'kind', 'channel', 'at', 'envelope_id', 'control_id', 'message_code', 'trigger_event', 'sending_app', 'sending_facility',
  'received_at', 'raw_sha256', 'raw_length', 'charset', 'charset_source', 'repairs', 'patient_key', 'dedupe', 'ack_code', 'category', 'stage',
  'cause', 'failure_message', 'attempts', 'first_at', 'src_topic', 'src_part', 'src_off', 'prev_topic', 'prev_part', 'prev_off', 'replay_id',
  'issue_count', 'resources',
] as const;

export type Row = Record<(typeof COLUMNS)[number] | 'outcome', string | number | null>;

/** Page cache per open index (SQLite's default is 2 MiB): 256 MiB, in KiB as cache_size takes it. */
const CACHE_KIB = 256 * 1024;
/**
 * Reads through a memory map up to this size. The SQLite builds of better-sqlite3 12 and 13 cap
 * mmap_size at 0x7fff0000 (SQLITE_MAX_MMAP_SIZE) and silently lower any larger value, so asking for
 * more only misleads a reader: the first ~2 GiB of the file are mapped (about 3M records) and the rest
 * is read through the page cache above and the OS's.
 */
const MMAP_BYTES = 0x7fff0000;

export class IndexStore {
  readonly db: Database.Database;
  private readonly insertRecord: Database.Statement;
  private readonly insertAudit: Database.Statement;
  private readonly insertTarget: Database.Statement;
  private readonly setPosition: Database.Statement;
  private readonly deadLetters: DeadLetterStates;
  private readonly outcomes: OutcomeKeeper;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
    this.db = new (sqlite())(file);
    // Durability: WAL with synchronous=NORMAL never corrupts the file; a power cut may lose the
    // last committed batches, and since each batch's positions commit in its own transaction, the
    // indexer then reads those records from Kafka again. Nothing in the file is not in Kafka.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Every row lands in a dozen indexes, several keyed by hashes (control id, dedupe, patient),
    // so inserts touch pages all over the file: with SQLite's default 2 MiB page cache a large
    // index re-read those pages from the OS for most rows (bench/console-index.mjs).
    this.db.pragma(`cache_size = -${CACHE_KIB}`);
    this.db.pragma(`mmap_size = ${MMAP_BYTES}`);
    this.db.pragma('temp_store = MEMORY');
    // Checkpoints copy the WAL into the file in bulk; fewer and larger ones write each hot page once.
    this.db.pragma('wal_autocheckpoint = 10000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version !== 0 && version !== INDEX_VERSION) {
      // An index of another layout is dropped and rebuilt from Kafka: it holds nothing else.
      for (const t of ['records', 'audit', 'audit_targets', 'positions', ...DEAD_LETTER_TABLES]) this.db.exec(`DROP TABLE IF EXISTS ${t}`);
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, kind TEXT NOT NULL, channel TEXT NOT NULL, at TEXT NOT NULL,
        envelope_id TEXT, control_id TEXT, message_code TEXT, trigger_event TEXT, sending_app TEXT, sending_facility TEXT,
        received_at TEXT, raw_sha256 TEXT, raw_length INTEGER, charset TEXT, charset_source TEXT, repairs TEXT, patient_key TEXT,
        dedupe TEXT, ack_code TEXT, category TEXT, stage TEXT, cause TEXT, failure_message TEXT, attempts INTEGER, first_at TEXT,
        src_topic TEXT, src_part INTEGER, src_off INTEGER, prev_topic TEXT, prev_part INTEGER, prev_off INTEGER, replay_id TEXT,
        issue_count INTEGER, resources TEXT, outcome TEXT,
        PRIMARY KEY (topic, part, off)
      );
      CREATE INDEX IF NOT EXISTS records_control ON records (control_id);
      CREATE INDEX IF NOT EXISTS records_received ON records (received_at);
      CREATE INDEX IF NOT EXISTS records_src ON records (src_topic, src_part, src_off);
      CREATE INDEX IF NOT EXISTS records_prev ON records (prev_topic, prev_part, prev_off);
      CREATE INDEX IF NOT EXISTS records_dedupe ON records (dedupe);
      CREATE INDEX IF NOT EXISTS records_kind ON records (kind, channel);
      -- Searches answer newest first: each filter's index ends in received_at, so a page is read
      -- in order and the scan stops at the limit instead of sorting every match.
      CREATE INDEX IF NOT EXISTS messages_received ON records (received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_channel ON records (channel, received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_code ON records (message_code, received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_type ON records (message_code, trigger_event, received_at) WHERE ${MESSAGE_ROWS};
      -- Not (app, facility, received_at): a search by application alone could not read that in time order.
      CREATE INDEX IF NOT EXISTS messages_sender ON records (sending_app, received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_facility ON records (sending_facility, received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_ack ON records (ack_code, received_at) WHERE ${MESSAGE_ROWS};
      CREATE INDEX IF NOT EXISTS messages_patient ON records (patient_key, received_at) WHERE ${MESSAGE_ROWS};
      -- repairs in the index: a repair kind is tested without fetching each repaired row.
      CREATE INDEX IF NOT EXISTS messages_repaired ON records (received_at, repairs) WHERE ${MESSAGE_ROWS} AND repairs IS NOT NULL;
      -- The rare outcomes (~1 % duplicate, ~3 % dead-lettered): a search reads its page from these.
      CREATE INDEX IF NOT EXISTS messages_duplicate ON records (received_at) WHERE ${MESSAGE_ROWS} AND outcome = 'duplicate';
      CREATE INDEX IF NOT EXISTS messages_dead_lettered ON records (received_at) WHERE ${MESSAGE_ROWS} AND outcome = 'dead-lettered';
      CREATE TABLE IF NOT EXISTS audit (
        off INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, operator TEXT NOT NULL, at TEXT NOT NULL, channel TEXT NOT NULL,
        reason TEXT, body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS audit_targets (
        audit_off INTEGER NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, from_off INTEGER NOT NULL, to_off INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS audit_targets_at ON audit_targets (topic, part, from_off);
      CREATE TABLE IF NOT EXISTS positions (topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (topic, part));
      ${DEAD_LETTER_SCHEMA}
    `);
    this.db.pragma(`user_version = ${INDEX_VERSION}`);
    this.insertRecord = this.db.prepare(`INSERT OR REPLACE INTO records (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
    this.insertAudit = this.db.prepare('INSERT OR REPLACE INTO audit (off, id, kind, operator, at, channel, reason, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertTarget = this.db.prepare('INSERT INTO audit_targets (audit_off, topic, part, from_off, to_off) VALUES (?, ?, ?, ?, ?)');
    this.setPosition = this.db.prepare('INSERT OR REPLACE INTO positions (topic, part, next) VALUES (?, ?, ?)');
    this.deadLetters = new DeadLetterStates(this.db);
    this.outcomes = new OutcomeKeeper(this.db);
  }

  /**
   * A prepared statement, compiled once per SQL text and kept as long as the store: the queries
   * build their SQL from which filters are set, so the texts are a small bounded set.
   */
  prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Where to resume each partition of `topic`. */
  positions(topic: string): Map<number, bigint> {
    const rows = this.prepare('SELECT part, next FROM positions WHERE topic = ?').all(topic) as Array<{ part: number; next: number }>;
    return new Map(rows.map((r) => [r.part, BigInt(r.next)]));
  }

  /**
   * One fetched batch, in one transaction with the position after it: a crash never leaves rows
   * without their position or a position past rows it lost.
   */
  applyBatch(topic: string, partition: number, nextOffset: string, records: readonly IndexedRecord[], audits: ReadonlyArray<{ audit: IndexedAudit; targets: readonly AuditTarget[] }>): void {
    this.db.transaction(() => {
      for (const r of records) {
        this.insertRecord.run(rowValues(r));
        this.outcomes.settle(r);
      }
      this.deadLetters.onRecords(records);
      for (const { audit, targets } of audits) {
        this.insertAudit.run(Number(audit.offset), audit.id, audit.kind, audit.operator, audit.at, audit.channel, audit.reason, audit.body);
        this.prepare('DELETE FROM audit_targets WHERE audit_off = ?').run(Number(audit.offset));
        for (const t of targets) this.insertTarget.run(Number(audit.offset), t.topic, t.partition, Number(t.from), Number(t.to));
        this.deadLetters.onAudit(Number(audit.offset), audit.body, targets);
      }
      this.setPosition.run(topic, partition, Number(nextOffset));
    })();
  }

  close(): void {
    this.db.close();
  }
}

/** The row's values in COLUMNS order: positional binding, cheaper than naming 36 parameters per row. */
function rowValues(r: IndexedRecord): Array<string | number | null> {
  return [
    r.topic, r.partition, Number(r.offset), r.kind, r.channel, r.at, r.envelopeId, r.controlId, r.messageCode, r.triggerEvent, r.sendingApplication,
    r.sendingFacility, r.receivedAt, r.rawSha256, r.rawLength, r.charset, r.charsetSource, r.repairs, r.patientKey, r.dedupe, r.ackCode,
    r.category, r.stage, r.cause, r.failureMessage, r.attempts, r.firstAt,
    r.source?.topic ?? null, r.source?.partition ?? null, r.source ? Number(r.source.offset) : null,
    r.previous?.topic ?? null, r.previous?.partition ?? null, r.previous ? Number(r.previous.offset) : null,
    r.replayId, r.issueCount, r.resources,
  ];
}
