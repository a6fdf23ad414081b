/**
 * `hl7-engine replay`: re-drives dead letters (or raw history) through the channel's current
 * configuration and mapping set, loaded the way `start` loads them, and prints a summary.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import { channelsFor, destinationsFor, errorText, kafkaFor, UsageError, type CommandDeps, type CommandIo, type ExitCode } from '../dlq/command-support.js';
import { AUDIT_TOPIC, currentOperator } from '../records/index.js';
import { parseOffsetRef, parseTime } from '../dlq/inspect.js';
import { MappingLoadError } from '../mapping/index.js';
import { loadOutboundSet, type OutboundSet } from '../outbound/index.js';
import type { Destination } from '../delivery/index.js';
import { outboundSummary, replayOutbound } from './outbound.js';
import { converterForChannel, type MessageConverter } from '../transform/index.js';
import { defaultCheckpointDir } from './checkpoint.js';
import { replay, type ReplayReport } from './replay.js';
import { describeSelection, type ReplaySelection } from './selection.js';

export const REPLAY_USAGE = `  hl7-engine replay --from dlq|raw --channel C --reason "…" [--category K] [--since T] [--until T]
                   [--offsets P:O,…] [--control-id ID]… [--include-resolved] [--dry-run] [--limit N]
                   [--replay-id ID] [--channels DIR] [--mappings DIR] [--checkpoint-dir DIR]
  hl7-engine replay --resume ID --channel C [--limit N] [--channels DIR] [--mappings DIR] [--checkpoint-dir DIR]
      Re-drives the selected messages through the channel's current config and mapping set:
      Bundles to <channel>.fhir (same ids and bytes as the transform would write), messages
      that fail again back to <channel>.dlq with attempts + 1, ingest dead letters the channel
      now accepts back to <channel>.raw. --from dlq takes waiting dead letters (--category on
      the failure; --since/--until on the last failure time); --from raw re-converts history
      (--since/--until on the receive time). Reads stop at the topic end seen at the start.
      --dry-run converts and shows the resources that would change, and writes nothing.
      Every replay writes audit records (${AUDIT_TOPIC}: operator from $HL7_OPERATOR or the OS
      user, reason, selection, counts, outcome) and a checkpoint (--checkpoint-dir, default
      $HL7_ENGINE_STATE/replay or ./.hl7-engine/replay); --limit N stops after N messages and
      --resume ID continues. Exit 0 when every selected message was converted or stored,
      1 when some failed again or the replay stopped, 2 on usage or config errors.
  hl7-engine replay --from dlq --destination D --reason "…" [--category K] [--since T] [--until T]
                   [--offsets P:O,…] [--control-id ID]… [--include-resolved] [--dry-run] [--limit N]
                   [--destinations DIR]
      Sends a write-back destination's dead letters (<D>.dlq) to its receiver again, through
      its delivery rules (ACK codes, retries, throttle, TLS, timeouts): the stored v2 message
      as it was, same MSH-10; a 'mapping' dead letter is built again from its source record
      with the current outbound mappings. AA: the dead letter stops waiting; otherwise it goes
      back to <D>.dlq. Audited the same way; --dry-run lists what would be sent and sends nothing.`;

const OPTIONS = {
  from: { type: 'string' },
  channel: { type: 'string' },
  channels: { type: 'string' },
  destination: { type: 'string' },
  destinations: { type: 'string' },
  mappings: { type: 'string' },
  reason: { type: 'string' },
  category: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  offsets: { type: 'string', multiple: true },
  'control-id': { type: 'string', multiple: true },
  'include-resolved': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  limit: { type: 'string' },
  'replay-id': { type: 'string' },
  resume: { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  'audit-topic': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];

function selectionOf(v: Values, now: Date): ReplaySelection {
  const from = v.from;
  if (from !== 'dlq' && from !== 'raw') throw new UsageError(`--from must be dlq or raw, got ${from ?? 'nothing'}`);
  if (from === 'raw' && v.category !== undefined) throw new UsageError('--category selects dead letters; it does not apply to --from raw');
  if (from === 'raw' && v['include-resolved']) throw new UsageError('--include-resolved applies to --from dlq only');
  const offsets = (v.offsets ?? []).flatMap((s) => s.split(',')).filter(Boolean).map(parseOffsetRef);
  const controlIds = v['control-id'] ?? [];
  return {
    source: from,
    ...(v.category !== undefined ? { category: v.category } : {}),
    ...(v.since !== undefined ? { since: parseTime(v.since, now).toISOString() } : {}),
    ...(v.until !== undefined ? { until: parseTime(v.until, now).toISOString() } : {}),
    ...(offsets.length > 0 ? { offsets } : {}),
    ...(controlIds.length > 0 ? { controlIds } : {}),
    ...(v['include-resolved'] ? { includeResolved: true } : {}),
    dryRun: v['dry-run'] ?? false,
  };
}

function summary(r: ReplayReport): string {
  const c = r.counts;
  const what = r.selection.dryRun ? 'dry run, nothing written' : `replay ${r.replayId}`;
  const lines = [
    `${what}: channel ${r.channel}, ${describeSelection(r.selection)}`,
    `  read ${c.read}, selected ${c.selected}: ${c.converted} converted, ${c.storedRaw} stored again in the raw topic, ${c.failedAgain} failed again (back in the DLQ, attempts + 1), ${c.skipped} skipped`,
    `  outcome: ${r.outcome}${r.note ? ` (${r.note})` : ''}`,
  ];
  const t = r.total;
  if (t.read !== c.read) {
    lines.splice(2, 0, `  all runs of this replay: read ${t.read}, selected ${t.selected}: ${t.converted} converted, ${t.storedRaw} stored again, ${t.failedAgain} failed again, ${t.skipped} skipped`);
  }
  if (!r.selection.dryRun) lines.push(`  audit: ${AUDIT_TOPIC}; checkpoint: ${r.checkpoint ?? '-'}/${r.replayId}.json`);
  return `${lines.join('\n')}\n`;
}

/** Runs the command; never exits the process. */
export async function runReplay(argv: string[], io: CommandIo, deps: CommandDeps & { signal?: AbortSignal } = {}): Promise<ExitCode> {
  const env = deps.env ?? process.env;
  const now = deps.now ?? (() => new Date());
  let values: Values;
  let channel: ChannelConfig;
  let selection: ReplaySelection | undefined;
  let limit: number | undefined;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    if (values.destination !== undefined) return await runDestinationReplay(values, io, deps);
    if (!values.channel) throw new UsageError('replay needs --channel C (or --destination D)');
    channel = channelsFor(values.channels, values.channel)[0]!;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number >= 1, got ${values.limit}`);
    }
    if (values.resume !== undefined) {
      const conflicting = ['from', 'reason', 'category', 'since', 'until', 'offsets', 'control-id', 'replay-id'].filter((k) => values[k as keyof Values] !== undefined);
      if (conflicting.length > 0 || values['dry-run'] || values['include-resolved']) {
        throw new UsageError(`--resume continues a replay as it was started; drop ${[...conflicting, ...(values['dry-run'] ? ['dry-run'] : []), ...(values['include-resolved'] ? ['include-resolved'] : [])].map((k) => `--${k}`).join(', ')}`);
      }
    } else {
      selection = selectionOf(values, now());
      if (!selection.dryRun && !values.reason?.trim()) throw new UsageError('replay needs --reason "…": why, for the audit trail');
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof TypeError || (err instanceof Error && /not a (time|record position)/.test(err.message))) {
      io.stderr(`${errorText(err)}\nusage:\n${REPLAY_USAGE}\n`);
      return 2;
    }
    throw err;
  }

  let convert: MessageConverter | null;
  try {
    convert = converterForChannel(channel, values.mappings ? { mappingsRoot: resolve(values.mappings) } : {});
  } catch (err) {
    if (!(err instanceof MappingLoadError)) throw err;
    io.stderr(`${err.message}\nthe mapping set does not load; nothing replayed\n`);
    return 2;
  }
  if (!convert) {
    io.stderr(`channel ${channel.name} (${channel.file}) names no mapping set; add "mapping: <set>" to replay its messages\n`);
    return 2;
  }

  let kafka: Kafka;
  let report: ReplayReport;
  try {
    kafka = await kafkaFor(deps);
    report = await replay({
      kafka,
      channel,
      convert,
      checkpointDir: resolve(values['checkpoint-dir'] ?? defaultCheckpointDir(env)),
      operator: currentOperator(env),
      ...(selection ? { selection } : {}),
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(values['replay-id'] !== undefined ? { replayId: values['replay-id'] } : {}),
      ...(values.resume !== undefined ? { resume: values.resume } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(values['audit-topic'] !== undefined ? { auditTopic: values['audit-topic'] } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
      now,
      onLine: (l) => io.stdout(`${l}\n`),
    });
  } catch (err) {
    io.stderr(`replay failed: ${errorText(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  io.stdout(summary(report));
  return report.outcome === 'completed' && report.counts.failedAgain === 0 ? 0 : 1;
}

/** `replay --destination D`: a destination's dead letters sent to its receiver again. */
async function runDestinationReplay(values: Values, io: CommandIo, deps: CommandDeps & { signal?: AbortSignal }): Promise<ExitCode> {
  const env = deps.env ?? process.env;
  const now = deps.now ?? (() => new Date());
  const notHere = ['channel', 'channels', 'mappings', 'resume', 'replay-id', 'checkpoint-dir'].filter((k) => values[k as keyof Values] !== undefined);
  if (notHere.length > 0) throw new UsageError(`${notHere.map((k) => `--${k}`).join(', ')} do not apply to a destination replay`);
  if (values.from !== 'dlq') throw new UsageError('a destination replays its dead letters: use --from dlq');
  const selection = selectionOf(values, now());
  if (!selection.dryRun && !values.reason?.trim()) throw new UsageError('replay needs --reason "…": why, for the audit trail');
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number >= 1, got ${values.limit}`);
  }
  const destination: Destination = destinationsFor(values.destinations, values.destination)[0]!;
  let outbound: OutboundSet | null = null;
  if (!destination.mapping.passThrough) {
    try {
      outbound = loadOutboundSet(destination.mapping.outbound, destination.mapping.site ? { site: destination.mapping.site } : {});
    } catch (err) {
      if (!(err instanceof MappingLoadError)) throw err;
      io.stderr(`${err.message}\nthe outbound mapping set does not load; nothing replayed\n`);
      return 2;
    }
  }
  try {
    const kafka = await kafkaFor(deps);
    const report = await replayOutbound({
      kafka,
      destination,
      outbound,
      selection,
      operator: currentOperator(env),
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(values['audit-topic'] !== undefined ? { auditTopic: values['audit-topic'] } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
      now,
      onLine: (l) => io.stdout(`${l}\n`),
    });
    io.stdout(outboundSummary(report));
    return report.outcome === 'completed' && report.counts.failedAgain === 0 && report.counts.skipped === 0 ? 0 : 1;
  } catch (err) {
    io.stderr(`replay failed: ${errorText(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
