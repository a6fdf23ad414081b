/**
 * `hl7-engine dlq resubmit P:O --channel C --file edited.hl7 --reason "…"`: the console's
 * edit-and-resubmit from the terminal. The file is the corrected message (UTF-8 text, one
 * segment per line or CR-separated); it goes through the checks ingest applies, then the audit
 * record is written, then the new raw record, and the diff is printed with where it landed.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { AUDIT_TOPIC, currentOperator } from '../records/index.js';
import { ensureAuditTopic } from './audit.js';
import { channelsFor, errorText, kafkaFor, UsageError, type CommandDeps, type CommandIo, type ExitCode } from './command-support.js';
import { loadDeadLetters, parseOffsetRef } from './inspect.js';
import { EditRefused, planResubmit, resubmit, ResubmitFailed } from './resubmit.js';

export const RESUBMIT_USAGE = `  hl7-engine dlq resubmit P:O --channel C --file edited.hl7 --reason "…"
      Edit-and-resubmit: the corrected message in the file (UTF-8; one segment per line) is
      checked as ingest checks a frame (size, charset, parse, the channel's accept rules) and
      stored as a new raw record in <channel>.raw linked to the dead letter, which stays as it
      was and leaves the queue. The audit record (hashes of the old and new bytes, never the
      text) is written first; the diff is printed with where the new record landed.`;

const OPTIONS = {
  channel: { type: 'string' },
  channels: { type: 'string' },
  file: { type: 'string' },
  reason: { type: 'string' },
  'audit-topic': { type: 'string' },
} as const;

export async function runResubmit(argv: string[], io: CommandIo, deps: CommandDeps = {}): Promise<ExitCode> {
  let at: { partition: number; offset: string };
  let edited: string;
  let values: { channel?: string; channels?: string; file?: string; reason?: string; 'audit-topic'?: string };
  let channel;
  try {
    const parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
    values = parsed.values;
    if (parsed.positionals.length !== 1) throw new UsageError('dlq resubmit takes one dead letter (PARTITION:OFFSET)');
    at = parseOffsetRef(parsed.positionals[0]!);
    if (!values.channel) throw new UsageError('dlq resubmit needs --channel C');
    if (!values.file) throw new UsageError('dlq resubmit needs --file FILE (the corrected message)');
    if (!values.reason?.trim()) throw new UsageError('dlq resubmit needs --reason "…" (it is written to the audit topic)');
    try {
      edited = readFileSync(values.file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${values.file}: ${errorText(err)}`);
    }
    channel = channelsFor(values.channels, values.channel)[0]!;
  } catch (err) {
    if (err instanceof UsageError || err instanceof TypeError || (err instanceof Error && /not a record position/.test(err.message))) {
      io.stderr(`${errorText(err)}\nusage:\n${RESUBMIT_USAGE}\n`);
      return 2;
    }
    throw err;
  }
  const auditTopic = values['audit-topic'] ?? AUDIT_TOPIC;
  let kafka: Kafka;
  try {
    kafka = await kafkaFor(deps);
    const letters = await loadDeadLetters(kafka, channel.topics.dlq, { channel: channel.name, auditTopic });
    const d = letters.find((l) => l.summary.ref.partition === at.partition && l.summary.ref.offset === at.offset);
    if (!d) {
      io.stderr(`no dead letter at ${at.partition}:${at.offset} in ${channel.topics.dlq}\n`);
      return 1;
    }
    if (d.status !== 'waiting') {
      io.stderr(`the dead letter at ${at.partition}:${at.offset} is ${d.status}; only waiting ones are resubmitted\n`);
      return 1;
    }
    const plan = planResubmit(channel, d.letter, edited, (deps.now ?? (() => new Date()))());
    await ensureAuditTopic(kafka, auditTopic);
    const r = await resubmit(kafka, channel, d.letter, plan, { operator: currentOperator(deps.env ?? process.env), reason: values.reason!, auditTopic });
    io.stdout(`resubmit ${channel.topics.dlq} ${at.partition}:${at.offset} (${plan.controlId}) by ${r.decision.operator}: audit record ${r.decision.id}\n`);
    io.stdout(`diff (dead letter -> edit):\n${plan.diff.map((l) => `  ${l}`).join('\n')}\n`);
    io.stdout(`stored as ${r.newRecord.topic} ${r.newRecord.partition}:${r.newRecord.offset} (audit record ${r.finished.id}); the dead letter is resubmitted\n`);
    return 0;
  } catch (err) {
    if (err instanceof EditRefused) io.stderr(`nothing resubmitted: ${err.message}\n`);
    else if (err instanceof ResubmitFailed) io.stderr(`the decision is recorded (audit record ${err.decision.id}) but ${err.message}; the dead letter stays waiting\n`);
    else io.stderr(`nothing resubmitted: ${errorText(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
