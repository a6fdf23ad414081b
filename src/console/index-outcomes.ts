/**
 * A message's outcome, kept on its row as the indexer writes: what a search by outcome reads
 * through a partial index instead of judging every message it passes (1-3 lookups a row made a
 * page of the rarer outcomes read thousands of rows; bench/console-index.mjs).
 *
 * Records of the raw, fhir and dlq topics arrive in any order across topics and partitions, so
 * each one settles the rows it can change, whichever comes first:
 *   - a raw record judges itself (and, with a dedupe key, every raw row of its channel sharing
 *     that key, since an earlier copy arriving late turns a later one into a duplicate);
 *   - a Bundle makes its raw record converted; a dead letter of a raw record makes it
 *     dead-lettered unless a Bundle already did (the order of OUTCOME_SQL);
 *   - a dead letter is dead-lettered itself (for a frame that never reached the raw topic, it is the message).
 */
import type Database from 'better-sqlite3';

/**
 * The outcome of the message row `r` from the rows around it, in priority order. The indexes are
 * named: without statistics SQLite preferred the kind or the channel index here, which reads every
 * earlier message of the channel for each row it judges.
 */
export const OUTCOME_SQL = `CASE
  WHEN r.kind = 'dlq' THEN 'dead-lettered'
  WHEN EXISTS (SELECT 1 FROM records f INDEXED BY records_src WHERE f.kind = 'fhir' AND f.src_topic = r.topic AND f.src_part = r.part AND f.src_off = r.off) THEN 'converted'
  WHEN EXISTS (SELECT 1 FROM records d INDEXED BY records_src WHERE d.kind = 'dlq' AND d.src_topic = r.topic AND d.src_part = r.part AND d.src_off = r.off) THEN 'dead-lettered'
  WHEN r.dedupe IS NOT NULL AND EXISTS (SELECT 1 FROM records e INDEXED BY records_dedupe WHERE e.kind = 'raw' AND e.channel = r.channel AND e.dedupe = r.dedupe
       AND (e.received_at < r.received_at OR (e.received_at = r.received_at AND (e.part < r.part OR (e.part = r.part AND e.off < r.off))))) THEN 'duplicate'
  ELSE 'stored' END`;

/** What settling a record needs to know of it. */
export interface OutcomeInput {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly kind: 'raw' | 'fhir' | 'dlq' | 'outbound-dlq';
  readonly channel: string;
  readonly dedupe: string | null;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string } | null;
}

export class OutcomeKeeper {
  private readonly judgeOne: Database.Statement;
  private readonly judgeCopies: Database.Statement;
  private readonly converted: Database.Statement;
  private readonly deadLettered: Database.Statement;

  constructor(db: Database.Database) {
    this.judgeOne = db.prepare(`UPDATE records AS r SET outcome = ${OUTCOME_SQL} WHERE r.topic = ? AND r.part = ? AND r.off = ?`);
    this.judgeCopies = db.prepare(`UPDATE records AS r INDEXED BY records_dedupe SET outcome = ${OUTCOME_SQL} WHERE r.dedupe = ? AND r.kind = 'raw' AND r.channel = ?`);
    this.converted = db.prepare("UPDATE records SET outcome = 'converted' WHERE topic = ? AND part = ? AND off = ? AND kind = 'raw'");
    this.deadLettered = db.prepare("UPDATE records SET outcome = 'dead-lettered' WHERE topic = ? AND part = ? AND off = ? AND kind = 'raw' AND outcome IS NOT 'converted'");
  }

  /** After `r`'s row is written, in the same transaction. */
  settle(r: OutcomeInput): void {
    // A write-back destination's dead letter is no inbound message's outcome: its source is a
    // Bundle (or another topic's record), never a raw record of a channel.
    if (r.kind === 'outbound-dlq') return;
    if (r.kind === 'raw') {
      if (r.dedupe !== null) this.judgeCopies.run(r.dedupe, r.channel);
      else this.judgeOne.run(r.topic, r.partition, Number(r.offset));
      return;
    }
    // Every dead letter is dead-lettered itself (a message's lineage shows it as one), and so is
    // the raw record it came from, unless a Bundle made that converted.
    if (r.kind === 'dlq') this.judgeOne.run(r.topic, r.partition, Number(r.offset));
    if (r.source) (r.kind === 'fhir' ? this.converted : this.deadLettered).run(r.source.topic, r.source.partition, Number(r.source.offset));
  }
}
