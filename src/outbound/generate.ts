/**
 * FHIR → HL7 v2: picks the outbound mapping for a Bundle, writes MSH and the mapped segments.
 *
 * MSH-10 is derived from the source record (a Kafka topic/partition/offset, else the Bundle id,
 * else the Bundle's content) and the mapping id, never from a clock or a counter: a record sent
 * again after a lost ACK carries the same control id, so the receiver can tell it is a resend.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, configErrorsOf } from '../config/index.js';
import { DEFAULT_DELIMITERS } from '../hl7/index.js';
import { DEFAULT_SITE, loadSite, loadTables, MappingLoadError, type CodeTables, type SiteConfig } from '../mapping/index.js';
import { toDtm, type OutContext } from './converters.js';
import { BundleIndex, canonical, evalCondition, evalPath, evalValue, type Scope } from './evaluate.js';
import { loadOutboundFile, outboundFiles } from './loader.js';
import type { OutboundIssue, OutboundMapping, SegmentRule } from './model.js';
import { SegmentBuilder } from './writer.js';

export interface OutboundSet {
  readonly dir: string;
  readonly mappings: readonly OutboundMapping[];
  readonly site: SiteConfig;
  readonly tables: CodeTables;
}

export interface OutboundSetOptions {
  /** The inbound mapping set whose tables/ and sites/ are run backwards; default: ../default beside `dir`. */
  readonly inbound?: string;
  /** A site of that set (sites/<site>.yaml); default: the built-in default site. */
  readonly site?: string;
}

/** Loads an outbound set; throws MappingLoadError with every problem at file:line:col. */
export function loadOutboundSet(dir: string, opts: OutboundSetOptions = {}): OutboundSet {
  const inbound = opts.inbound ?? join(dirname(dir), 'default');
  const errors: ConfigError[] = [];
  let site: SiteConfig = DEFAULT_SITE;
  if (opts.site !== undefined) {
    const file = join(inbound, 'sites', `${opts.site}.yaml`);
    if (!existsSync(file)) throw new MappingLoadError([new ConfigError(file, 1, 1, `site "${opts.site}" has no file in ${join(inbound, 'sites')}`, 'site')]);
    try {
      site = loadSite(file);
    } catch (err) {
      if (err instanceof ConfigError) errors.push(...configErrorsOf(err));
      else throw err;
    }
  }
  let tables: CodeTables | null = null;
  try {
    tables = loadTables(join(inbound, 'tables'), site);
  } catch (err) {
    if (err instanceof ConfigError) errors.push(...configErrorsOf(err));
    else throw err;
  }
  const tableIds = new Set(tables?.ids() ?? []);
  const mappings: OutboundMapping[] = [];
  for (const file of outboundFiles(dir)) {
    const r = loadOutboundFile(file, tableIds);
    errors.push(...r.errors);
    if (r.mapping) mappings.push(r.mapping);
  }
  if (mappings.length === 0 && errors.length === 0) {
    errors.push(new ConfigError(join(dir, 'messages'), 1, 1, 'the outbound mapping set has no mappings (messages/*.yaml)', 'required'));
  }
  if (errors.length > 0 || tables === null) throw new MappingLoadError(errors);
  return { dir, mappings, site, tables };
}

export interface GenerateOptions {
  /** Identifies the source record, e.g. "ehr.fhir/3/1042"; default: the Bundle id, else a hash of its content. */
  readonly sourceKey?: string;
  /** Use this mapping (its id) or the first for this message type ("ADT^A04"), instead of the first that matches. */
  readonly mapping?: string;
  /** MSH-7 as a FHIR dateTime; default: Bundle.timestamp, else now. */
  readonly messageTime?: string;
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  readonly receivingApplication?: string;
  readonly receivingFacility?: string;
  /** MSH-11; default P. */
  readonly processingId?: string;
  /** MSH-15 and MSH-16 (enhanced acknowledgment mode when set); default empty (original mode). */
  readonly acceptAckType?: string;
  readonly applicationAckType?: string;
  /** MSH-18; default UNICODE UTF-8. The bytes are encoded accordingly by encodeOutbound. */
  readonly charset?: string;
}

export interface GenerateResult {
  /** The message, segments ended by CR; null when no mapping applies. */
  readonly text: string | null;
  readonly mappingId: string | null;
  readonly controlId: string | null;
  readonly issues: readonly OutboundIssue[];
}

/** 20 characters: what MSH-10 (ST, 20) holds in every version from 2.3 on. */
export function deriveControlId(sourceKey: string, mappingId: string): string {
  return createHash('sha256').update(`${sourceKey}\u0000${mappingId}`).digest('hex').slice(0, 20).toUpperCase();
}

function sourceKeyOf(input: unknown, index: BundleIndex): string {
  if (index.bundleId !== undefined) return `bundle:${index.bundleId}`;
  return `content:${createHash('sha256').update(canonical(input)).digest('hex')}`;
}

export function selectMapping(set: OutboundSet, input: unknown, wanted?: string): OutboundMapping | null {
  const index = new BundleIndex(input);
  const candidates = wanted === undefined ? set.mappings : set.mappings.filter((m) => m.id === wanted || m.messageType.startsWith(wanted));
  for (const m of candidates) {
    const focus = index.ofType(m.focus)[0];
    if (focus === undefined) continue;
    if (wanted === undefined && m.when !== undefined) {
      const scope = baseScope(index, set, m, { value: focus }, '', () => undefined);
      if (!evalCondition(m.when, scope)) continue;
    }
    return m;
  }
  return null;
}

function baseScope(index: BundleIndex, set: OutboundSet, m: OutboundMapping, focus: Scope['focus'], messageTime: string, report: OutContext['report']): Scope {
  const cx: OutContext = { site: set.site, tables: set.tables, version: m.version, resolve: (v) => index.resolve(v), report };
  return { bundle: index, focus, context: focus, index: 1, event: m.messageType.split('^')[1] ?? '', messageTime, cx };
}

/** Converts a Bundle (or one resource) to a v2 message with the first mapping that fits it. */
export function generateMessage(input: unknown, set: OutboundSet, opts: GenerateOptions = {}): GenerateResult {
  const mapping = selectMapping(set, input, opts.mapping);
  if (mapping === null) {
    const what = opts.mapping === undefined ? 'no outbound mapping fits this Bundle (focus resource type and when)' : `no outbound mapping "${opts.mapping}" fits this Bundle`;
    return { text: null, mappingId: null, controlId: null, issues: [{ severity: 'error', code: 'no-mapping', message: `${what} in ${set.dir}` }] };
  }
  const index = new BundleIndex(input);
  const issues: OutboundIssue[] = [];
  let location = 'MSH';
  const report: OutContext['report'] = (i) => issues.push({ ...i, location });
  const when = opts.messageTime ?? index.timestamp ?? new Date().toISOString();
  const messageTime = toDtm(when) ?? toDtm(new Date().toISOString()) ?? '';
  const focus = { value: index.ofType(mapping.focus)[0] };
  const scope = baseScope(index, set, mapping, focus, messageTime, report);
  const controlId = deriveControlId(opts.sourceKey ?? sourceKeyOf(input, index), mapping.id);

  const msh = new SegmentBuilder('MSH');
  const put = (field: number, text: string | undefined, comps = false): void => {
    if (text === undefined || text === '') return;
    msh.set({ field }, [comps ? text.split('^').map((c) => [c]) : [[text]]]);
  };
  put(3, opts.sendingApplication ?? 'HL7ENGINE', true);
  put(4, opts.sendingFacility, true);
  put(5, opts.receivingApplication, true);
  put(6, opts.receivingFacility, true);
  put(7, messageTime);
  put(9, mapping.messageType, true);
  put(10, controlId);
  put(11, opts.processingId ?? 'P');
  put(12, mapping.version);
  put(15, opts.acceptAckType);
  put(16, opts.applicationAckType);
  put(18, opts.charset ?? 'UNICODE UTF-8');

  const lines = [msh.toText(DEFAULT_DELIMITERS)];
  const counts = new Map<string, number>();
  const walk = (rules: readonly SegmentRule[], s: Scope): void => {
    const siblings = new Map<string, number>();
    for (const rule of rules) {
      const items = rule.forEach === undefined ? [s.context] : rule.forEach.kind === 'path' ? evalPath(rule.forEach, s) : evalValue(rule.forEach, s).map((r) => ({ value: r[0]?.[0] }));
      items.forEach((item, i) => {
        const setId = (siblings.get(rule.segment) ?? 0) + 1;
        const inner: Scope = rule.forEach === undefined ? { ...s, setId } : { ...s, context: item, index: i + 1, setId };
        if (rule.when !== undefined && !evalCondition(rule.when, inner)) return;
        siblings.set(rule.segment, setId);
        const n = (counts.get(rule.segment) ?? 0) + 1;
        counts.set(rule.segment, n);
        const seg = new SegmentBuilder(rule.segment);
        for (const f of rule.fields) {
          location = `${rule.segment}[${n}]-${f.key.slice(4)}`;
          for (const e of f.exprs) {
            const reps = evalValue(e, inner);
            if (reps.length > 0) {
              seg.set(f.target, reps);
              break;
            }
          }
        }
        lines.push(seg.toText(DEFAULT_DELIMITERS));
        walk(rule.children, inner);
      });
    }
  };
  walk(mapping.segments, scope);
  return { text: `${lines.join('\r')}\r`, mappingId: mapping.id, controlId, issues };
}
