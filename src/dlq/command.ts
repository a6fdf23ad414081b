/**
 * `hl7-engine dlq list|show|stats`: what is waiting in the dead-letter queues, grouped by
 * category and cause. Nothing identifying a patient is printed unless `show --show-phi` asks,
 * and that request is written to the audit topic before anything is displayed.
 */
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { CHANNEL_DEFAULTS } from '../channel/index.js';
import { AUDIT_TOPIC, currentOperator, newAuditRecord } from '../records/index.js';
import { ensureAuditTopic, writeAudit } from './audit.js';
import { errorText, kafkaFor, queuesFor, UsageError, type DlqQueue, type CommandDeps, type CommandIo, type ExitCode } from './command-support.js';
import { contentOf, type DeadLetterSummary } from './dead-letter.js';
import { RESUBMIT_USAGE, runResubmit } from './resubmit-command.js';
import {
  filterDeadLetters,
  groupByCause,
  loadDeadLetters,
  parseOffsetRef,
  parseTime,
  type DlqFilter,
  type InspectedDeadLetter,
} from './inspect.js';

export const DLQ_USAGE = `  hl7-engine dlq list|stats [--channel C | --destination D] [--category K] [--since T] [--until T] [--all] [--json]
  hl7-engine dlq show (P:O | --offset P:O | --control-id ID) [--channel C | --destination D] [--show-phi --reason "…"]
      What waits in each channel's <channel>.dlq (or with --destination, a write-back
      destination's <destination>.dlq: records the receiver refused, with the v2 message built),
      grouped by category and cause. --channels DIR / --destinations DIR say where the files
      are (default ./channels, ./destinations). T is ISO 8601
      or an age (30m, 2h, 7d). --all adds dead letters already replayed. No message content
      is shown unless 'show --show-phi' is given; that is written to the audit topic
      (${AUDIT_TOPIC}) with the operator ($HL7_OPERATOR or the OS user) first.
  hl7-engine dlq resolve|discard|escalate (P:O | --category K [--cause "…"]) (--channel C | --destination D) --reason "…"
  hl7-engine dlq assign (P:O | --category K [--cause "…"]) (--channel C | --destination D) --to NAME --reason "…"
      The console's decisions, from the terminal: each is an audit record (operator, time,
      reason, dead letters) and nothing else; resolve and discard take dead letters out of the
      queue (nothing is deleted), assign and escalate leave them waiting. P:O decides one dead
      letter; --category (and --cause, as 'dlq list' prints it after the count) decides every
      waiting one of that group in one audit record, at most the channel's review.maxGroupSize
      (${CHANNEL_DEFAULTS.reviewMaxGroupSize} for a destination).
      Use replay to re-drive.
${RESUBMIT_USAGE}`;

const DECISIONS = ['resolve', 'discard', 'assign', 'escalate'] as const;

const OPTIONS = {
  channel: { type: 'string' },
  channels: { type: 'string' },
  destination: { type: 'string' },
  destinations: { type: 'string' },
  category: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  offset: { type: 'string', multiple: true },
  'control-id': { type: 'string', multiple: true },
  all: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'show-phi': { type: 'boolean', default: false },
  reason: { type: 'string' },
  'audit-topic': { type: 'string' },
  to: { type: 'string' },
  cause: { type: 'string' },
} as const;

function detailText(d: DeadLetterSummary['detail']): string {
  const parts = Object.entries(d).map(([k, v]) => `${k}=${v === null ? '-' : String(v)}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

function refText(r: { topic: string; partition: number; offset: string } | null): string {
  return r ? `${r.topic} ${r.partition}:${r.offset}` : '-';
}

function row(d: InspectedDeadLetter): string {
  const s = d.summary;
  const status = d.status === 'waiting' ? '' : `  [${d.status}]`;
  return `  ${s.ref.partition}:${s.ref.offset}  attempts ${s.attempts}  last ${s.lastAt}  ${s.messageType || '-'}  ${s.controlId || '-'}  ${s.sendingApplication || '-'}|${s.sendingFacility || '-'}${status}`;
}

function describe(d: InspectedDeadLetter): string {
  const s = d.summary;
  const lines: Array<[string, string]> = [
    ['category', s.category],
    ['stage', s.stage],
    ['message', s.message],
    ['detail', detailText(s.detail)],
    ['attempts', String(s.attempts)],
    ['first failure', s.firstAt],
    ['last failure', s.lastAt],
    ['received', s.receivedAt || '-'],
    ['message type', s.messageType || '-'],
    ['control id', s.controlId || '-'],
    ['sender', `${s.sendingApplication || '-'} / ${s.sendingFacility || '-'}`],
    ['receiver', `${s.receivingApplication || '-'} / ${s.receivingFacility || '-'}`],
    ['version', s.version || '-'],
    ['raw bytes', `${s.rawLength}${s.truncated ? ' (head of an oversize or unfinished frame only)' : ''}, sha256 ${s.rawSha256 || '-'}`],
    ['charset', s.charset ?? 'undecided'],
    ['raw record', refText(s.rawRecord)],
    ['replay of', refText(s.replayOf)],
    ['envelope id', s.envelopeId || '-'],
  ];
  return `dead letter ${s.ref.topic} ${s.ref.partition}:${s.ref.offset} (${d.status})\n${lines.map(([k, v]) => `  ${k.padEnd(14)}${v}`).join('\n')}\n`;
}

function filterFrom(values: { category?: string; since?: string; until?: string; all?: boolean }, now: Date): DlqFilter {
  return {
    ...(values.category !== undefined ? { category: values.category } : {}),
    ...(values.since !== undefined ? { since: parseTime(values.since, now) } : {}),
    ...(values.until !== undefined ? { until: parseTime(values.until, now) } : {}),
    all: values.all ?? false,
  };
}

interface Loaded {
  readonly queue: DlqQueue;
  readonly letters: InspectedDeadLetter[];
}

async function loadAll(kafka: Kafka, queues: readonly DlqQueue[], auditTopic: string): Promise<Loaded[]> {
  const out: Loaded[] = [];
  for (const queue of queues) out.push({ queue, letters: await loadDeadLetters(kafka, queue.dlqTopic, { channel: queue.name, auditTopic }) });
  return out;
}

function statusCounts(list: readonly InspectedDeadLetter[]): string {
  const n = (s: string): number => list.filter((d) => d.status === s).length;
  const discarded = n('discarded') > 0 ? `, ${n('discarded')} discarded` : '';
  const resubmitted = n('resubmitted') > 0 ? `, ${n('resubmitted')} resubmitted` : '';
  return `${n('waiting')} waiting, ${n('resolved')} resolved by replay, ${n('superseded')} failed again on replay${discarded}${resubmitted}`;
}

function printList(io: CommandIo, loaded: readonly Loaded[], filter: DlqFilter): void {
  for (const { queue, letters } of loaded) {
    const picked = filterDeadLetters(letters, filter);
    io.stdout(`${queue.kind} ${queue.name}: ${picked.length} ${filter.all ? 'dead letter(s)' : 'waiting'} in ${queue.dlqTopic} (${statusCounts(letters)})\n`);
    for (const g of groupByCause(picked)) {
      io.stdout(`${g.category} at ${g.stage} (${g.count}): ${g.cause}\n`);
      for (const d of g.items) io.stdout(`${row(d)}\n`);
    }
  }
}

function printStats(io: CommandIo, loaded: readonly Loaded[], filter: DlqFilter): void {
  for (const { queue, letters } of loaded) {
    const picked = filterDeadLetters(letters, filter);
    io.stdout(`${queue.kind} ${queue.name}: ${queue.dlqTopic} holds ${letters.length} dead letter(s): ${statusCounts(letters)}\n`);
    const byCategory = new Map<string, number>();
    for (const d of picked) byCategory.set(d.summary.category, (byCategory.get(d.summary.category) ?? 0) + 1);
    io.stdout(`${filter.all ? 'all' : 'waiting'} by category:\n`);
    for (const [c, n] of [...byCategory].sort((a, b) => b[1] - a[1])) io.stdout(`  ${c.padEnd(12)} ${n}\n`);
    io.stdout(`${filter.all ? 'all' : 'waiting'} by cause:\n`);
    for (const g of groupByCause(picked)) {
      const types = [...g.messageTypes].map(([t, n]) => `${t} x${n}`).join(', ');
      io.stdout(`  ${String(g.count).padStart(5)}  ${g.category}/${g.stage}  ${g.cause}  (${types}; ${g.oldest} .. ${g.newest})\n`);
    }
  }
}

interface GroupDecision {
  readonly action: (typeof DECISIONS)[number];
  readonly category: string;
  readonly cause?: string;
  readonly reason: string;
  readonly assignee?: string;
  readonly operator: string;
  readonly at: Date;
}

/**
 * Every waiting dead letter of a group in one audit record, as the console's group decision:
 * the members are listed when the decision is taken, so later arrivals are not swept in.
 */
async function decideGroup(io: CommandIo, kafka: Kafka, auditTopic: string, { queue, letters }: Loaded, g: GroupDecision): Promise<ExitCode> {
  const members = filterDeadLetters(letters, { category: g.category, all: false }).filter((d) => g.cause === undefined || d.summary.cause === g.cause);
  const what = `category ${g.category}${g.cause !== undefined ? ` with cause "${g.cause}"` : ''} in ${queue.dlqTopic}`;
  if (members.length === 0) {
    io.stderr(`no dead letter of ${what} is waiting ('dlq list --${queue.kind} ${queue.name}' shows the groups)\n`);
    return 1;
  }
  const max = queue.maxGroupSize;
  if (members.length > max) {
    io.stderr(`nothing decided: ${members.length} dead letters of ${what} are waiting; one group decision takes at most ${max} (${queue.kind === 'channel' ? `review.maxGroupSize of channel ${queue.name}` : 'the limit for a destination'}): narrow it with --cause${queue.kind === 'channel' ? ', or raise review.maxGroupSize (at most 2000)' : ''}\n`);
    return 1;
  }
  const record = newAuditRecord({
    kind: 'dlq-decision',
    channel: queue.name,
    reason: g.reason,
    outcome: 'recorded',
    decision: { action: g.action, targets: members.map((d) => d.summary.ref), group: { category: g.category, ...(g.cause !== undefined ? { cause: g.cause } : {}) }, ...(g.assignee ? { assignee: g.assignee } : {}) },
    operator: g.operator,
    at: g.at,
  });
  try {
    await ensureAuditTopic(kafka, auditTopic);
    await writeAudit(kafka, record, auditTopic);
  } catch (err) {
    io.stderr(`nothing decided: the audit record could not be written to ${auditTopic} (${errorText(err)})\n`);
    return 1;
  }
  io.stdout(`${g.action} ${members.length} dead letter(s) of ${what} by ${record.operator}: audit record ${record.id}\n`);
  for (const d of members) io.stdout(`  ${d.summary.ref.partition}:${d.summary.ref.offset}  ${d.summary.controlId || 'no control id'}\n`);
  return 0;
}

/** Runs the command; never exits the process, so tests call it like the CLI does. */
export async function runDlq(argv: string[], io: CommandIo, deps: CommandDeps = {}): Promise<ExitCode> {
  // Its own options and checks (src/dlq/resubmit-command.ts).
  if (argv[0] === 'resubmit') return runResubmit(argv.slice(1), io, deps);
  const now = (deps.now ?? (() => new Date()))();
  let sub: string;
  let values: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>['values'];
  let positionals: string[];
  let queues: DlqQueue[];
  let filter: DlqFilter;
  try {
    const parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
    values = parsed.values;
    [sub = '', ...positionals] = parsed.positionals;
    if (!['list', 'show', 'stats', ...DECISIONS].includes(sub)) throw new UsageError(`dlq needs list, show, stats, ${DECISIONS.join(', ')}, resubmit; got ${sub || 'nothing'}`);
    if ((DECISIONS as readonly string[]).includes(sub)) {
      if (!values.channel && !values.destination) throw new UsageError(`dlq ${sub} needs --channel C or --destination D`);
      if (!values.reason?.trim()) throw new UsageError(`dlq ${sub} needs --reason "…" (it is written to the audit topic)`);
      if (sub === 'assign' && !values.to?.trim()) throw new UsageError('dlq assign needs --to NAME');
      if (sub !== 'assign' && values.to !== undefined) throw new UsageError('--to goes with assign only');
      const refs = [...positionals, ...(values.offset ?? [])].length;
      if (values.category !== undefined) {
        if (refs > 0) throw new UsageError(`dlq ${sub} takes one dead letter (PARTITION:OFFSET) or a group (--category K [--cause "…"]), not both`);
        if (values.since !== undefined || values.until !== undefined || values.all) throw new UsageError(`a group decision selects by --category and --cause only: it takes every waiting dead letter of the group`);
      } else if (refs !== 1) {
        throw new UsageError(`dlq ${sub} takes one dead letter (PARTITION:OFFSET) or a group (--category K [--cause "…"])`);
      }
    }
    if (values.cause !== undefined && !((DECISIONS as readonly string[]).includes(sub) && values.category !== undefined)) {
      throw new UsageError('--cause narrows a group decision: use it with resolve, discard, assign or escalate and --category');
    }
    if (values['show-phi'] && sub !== 'show') throw new UsageError('--show-phi works with show only: pick the one dead letter whose content you need');
    if (values['show-phi'] && !values.reason?.trim()) throw new UsageError('--show-phi needs --reason "…" (it is written to the audit topic)');
    if (values.channel !== undefined && values.destination !== undefined) throw new UsageError('--channel and --destination name two different queues: give one');
    queues = queuesFor(values);
    filter = filterFrom(values, now);
    if (sub === 'show') {
      const offsets = [...positionals, ...(values.offset ?? [])].map(parseOffsetRef);
      const controlIds = values['control-id'] ?? [];
      if (offsets.length === 0 && controlIds.length === 0) throw new UsageError('show needs a record: PARTITION:OFFSET, --offset P:O or --control-id ID');
      if (offsets.length > 0 && queues.length > 1) throw new UsageError('an offset names a record in one DLQ topic: add --channel C or --destination D');
      filter = { ...filter, all: true, ...(offsets.length > 0 ? { offsets } : {}), ...(controlIds.length > 0 ? { controlIds } : {}) };
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof TypeError || (err instanceof Error && /not a (time|record position)/.test(err.message))) {
      io.stderr(`${errorText(err)}\nusage:\n${DLQ_USAGE}\n`);
      return 2;
    }
    throw err;
  }

  const auditTopic = values['audit-topic'] ?? AUDIT_TOPIC;
  let kafka: Kafka;
  let loaded: Loaded[];
  try {
    kafka = await kafkaFor(deps);
    loaded = await loadAll(kafka, queues, auditTopic);
  } catch (err) {
    io.stderr(`${errorText(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }

  if ((DECISIONS as readonly string[]).includes(sub) && values.category !== undefined) {
    return decideGroup(io, kafka, auditTopic, loaded[0]!, {
      action: sub as (typeof DECISIONS)[number],
      category: values.category,
      ...(values.cause !== undefined ? { cause: values.cause } : {}),
      reason: values.reason!,
      ...(sub === 'assign' ? { assignee: values.to!.trim() } : {}),
      operator: currentOperator(deps.env ?? process.env),
      at: now,
    });
  }
  if ((DECISIONS as readonly string[]).includes(sub)) {
    const at = parseOffsetRef([...positionals, ...(values.offset ?? [])][0]!);
    const { queue, letters } = loaded[0]!;
    const d = letters.find((l) => l.summary.ref.partition === at.partition && l.summary.ref.offset === at.offset);
    if (!d) {
      io.stderr(`no dead letter at ${at.partition}:${at.offset} in ${queue.dlqTopic}\n`);
      return 1;
    }
    if (d.status !== 'waiting') {
      io.stderr(`the dead letter at ${at.partition}:${at.offset} is ${d.status}; decisions apply to waiting ones\n`);
      return 1;
    }
    const record = newAuditRecord({
      kind: 'dlq-decision',
      channel: queue.name,
      reason: values.reason!,
      outcome: 'recorded',
      decision: { action: sub as (typeof DECISIONS)[number], target: d.summary.ref, ...(sub === 'assign' ? { assignee: values.to!.trim() } : {}) },
      operator: currentOperator(deps.env ?? process.env),
      at: now,
    });
    try {
      await ensureAuditTopic(kafka, auditTopic);
      await writeAudit(kafka, record, auditTopic);
    } catch (err) {
      io.stderr(`nothing decided: the audit record could not be written to ${auditTopic} (${errorText(err)})\n`);
      return 1;
    }
    io.stdout(`${sub} ${queue.dlqTopic} ${at.partition}:${at.offset} (${d.summary.controlId || 'no control id'}) by ${record.operator}: audit record ${record.id}\n`);
    return 0;
  }
  if (values.json) {
    const out = loaded.flatMap(({ letters }) => filterDeadLetters(letters, filter).map((d) => ({ ...d.summary, status: d.status })));
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  if (sub === 'list') printList(io, loaded, filter);
  if (sub === 'stats') printStats(io, loaded, filter);
  if (sub !== 'show') return 0;

  const matches = loaded.flatMap(({ letters }) => filterDeadLetters(letters, filter));
  if (matches.length === 0) {
    io.stderr(`no dead letter matches in ${queues.map((q) => q.dlqTopic).join(', ')}\n`);
    return 1;
  }
  if (values['show-phi']) {
    // The audit record goes first: if it cannot be written, nothing is shown.
    try {
      await ensureAuditTopic(kafka, auditTopic);
      await writeAudit(
        kafka,
        newAuditRecord({
          kind: 'dlq-phi-shown',
          channel: matches[0]!.summary.channel || queues[0]!.name,
          reason: values.reason ?? null,
          outcome: 'shown',
          shown: matches.map((d) => ({ ...d.summary.ref, controlId: d.summary.controlId || null })),
          operator: currentOperator(deps.env ?? process.env),
          at: now,
        }),
        auditTopic,
      );
    } catch (err) {
      io.stderr(`content not shown: the audit record could not be written to ${auditTopic} (${errorText(err)})\n`);
      return 1;
    }
  }
  for (const d of matches) {
    io.stdout(describe(d));
    if (!values['show-phi']) {
      io.stdout('  content       hidden (add --show-phi --reason "…" to see it; that use is audited)\n');
      continue;
    }
    const c = contentOf(d.letter);
    if (c.receiverSaid !== undefined) io.stdout(`  receiver said ${c.receiverSaid ? `\n${c.receiverSaid.split(/\r\n|\r|\n/).filter(Boolean).map((l) => `    ${l}`).join('\n')}` : '(nothing beyond its ACK code)'}\n`);
    if (c.text === null && c.receiverSaid !== undefined) io.stdout('  content       none: no v2 message could be built from the source record\n');
    else if (c.text !== null) io.stdout(`  content (decoded text, segments one per line):\n${c.text.split(/\r\n|\r|\n/).filter(Boolean).map((l) => `    ${l}`).join('\n')}\n`);
    else io.stdout(`  content (raw bytes, base64; they could not be decoded):\n    ${c.rawBase64 ?? '-'}\n`);
  }
  return 0;
}
