/**
 * Evaluates a message mapping against one parsed message and assembles the FHIR transaction
 * Bundle. Deterministic by construction: the same message and mapping give the same bytes
 * (ids are UUIDv5 of site|type|business key, nothing reads the clock or a random source).
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Hl7Message } from '../hl7/index.js';
import { deterministicId, uuidUrn } from '../fhir/ids.js';
import type { Expr, PathRef } from './expression.js';
import type { MapNode, MessageMapping, ResourceDef, Rule } from './model.js';
import { buildTree, descendants, type GroupNode } from './structure.js';
import { isResourceRef, type ResourceRef } from './resource-ref.js';
import {
  V2Value,
  type CodeSystemRegistry,
  type ConversionIssue,
  type Converter,
  type ConverterArg,
  type ConverterContext,
  type SiteConfig,
  type TableRegistry,
} from './types.js';

export interface ConvertEnv {
  readonly site: SiteConfig;
  readonly tables: TableRegistry;
  readonly codeSystems: CodeSystemRegistry;
  readonly converters: Readonly<Record<string, Converter>>;
}

interface Instance {
  readonly def: ResourceDef;
  readonly id: string;
  readonly key: string;
  readonly identifierQuery: string | null;
  readonly scope: Scope;
  resource: Record<string, unknown> | null;
}

class Scope {
  readonly registry = new Map<string, Instance[]>();
  constructor(
    readonly node: GroupNode,
    readonly parent: Scope | null,
    readonly pinned: { id: string; index: number } | null,
    readonly current: V2Value | null,
  ) {}

  child(opts: { node?: GroupNode; pinned?: { id: string; index: number }; current?: V2Value }): Scope {
    return new Scope(opts.node ?? this.node, this, opts.pinned ?? null, opts.current ?? this.current);
  }

  register(inst: Instance): void {
    for (let s: Scope | null = this; s; s = s.parent) {
      let list = s.registry.get(inst.def.name);
      if (!list) s.registry.set(inst.def.name, (list = []));
      list.push(inst);
    }
  }

  lookup(name: string): Instance[] {
    for (let s: Scope | null = this; s; s = s.parent) {
      const list = s.registry.get(name);
      if (list && list.length) return list;
    }
    return [];
  }
}

type Value = V2Value | unknown;

const NO_SEGMENTS: readonly number[] = Object.freeze([]);

function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (v instanceof V2Value) return v.isEmpty || v.raw === '""';
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

/**
 * An object that says nothing: empty, or an extension with its url but no value (FHIR's ext-1
 * forbids those), as happens when the v2 field behind the value was sent empty.
 */
function isHollow(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  return keys.length === 0 || (keys.length === 1 && keys[0] === 'url');
}

function textOf(v: Value): string {
  if (v instanceof V2Value) return v.text;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export class Conversion {
  readonly issues: ConversionIssue[] = [];
  private readonly entries: BundleEntry[] = [];
  private readonly all: Instance[] = [];
  private readonly refEntries = new Map<string, string>();
  private readonly touched = new Set<number>();
  private readonly segmentIds: readonly string[];
  private readonly segmentIndex = new Map<GroupNode, Map<string, number[]>>();
  private readonly usedIds = new Set<string>();
  private readonly usedQueries = new Set<string>();
  private readonly messageKey: string;

  constructor(
    private readonly message: Hl7Message,
    private readonly mapping: MessageMapping,
    private readonly env: ConvertEnv,
  ) {
    const msh = message.msh();
    this.messageKey = `${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`;
    this.segmentIds = message.segmentIds();
  }

  run(): Bundle {
    const root = buildTree(this.message, this.mapping.groups);
    const scope = new Scope(root, null, null, null);
    this.touched.add(0);
    this.buildAll(this.mapping.resources, scope);
    this.reportUnmapped();
    // Identity and map may read the same value (PID-3 for the key and for identifier[]): one
    // issue per distinct finding.
    const seen = new Set<string>();
    const unique = this.issues.filter((i) => {
      const k = `${i.severity}|${i.code}|${i.location ?? ''}|${i.table ?? ''}|${i.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    this.issues.length = 0;
    this.issues.push(...unique);
    return {
      resourceType: 'Bundle',
      id: deterministicId(this.env.site.name, 'Bundle', this.messageKey),
      type: 'transaction',
      entry: this.entries,
    };
  }

  // ---------------------------------------------------------------- resources

  private buildAll(defs: readonly ResourceDef[], scope: Scope): void {
    for (const def of defs) {
      for (const s of this.instancesOf(def, scope)) {
        if (def.when && !this.truthy(this.evalExpr(def.when, s, def.name))) continue;
        this.buildOne(def, s, scope);
      }
    }
  }

  private instancesOf(def: ResourceDef, scope: Scope): Scope[] {
    if (def.forEach) {
      const name = def.forEach;
      if (this.mapping.groups.has(name)) return descendants(scope.node, name).map((node) => scope.child({ node }));
      return this.segmentsIn(scope.node, name).map((index) => scope.child({ pinned: { id: name, index } }));
    }
    if (def.from) {
      const name = def.from;
      if (this.mapping.groups.has(name)) {
        const first = descendants(scope.node, name)[0];
        return first ? [scope.child({ node: first })] : [];
      }
      return this.findSegments(scope, name, 1).length ? [scope] : [];
    }
    return [scope];
  }

  private buildOne(def: ResourceDef, scope: Scope, enclosing: Scope): void {
    const ordinal = enclosing.lookup(def.name).length + 1;
    const found = this.identity(def, scope, ordinal);
    let { key } = found;
    const { identifierQuery, identifiers } = found;
    let id = cachedId(this.env.site.name, def.type, key);
    if (this.usedIds.has(id)) {
      // Two instances with the same business key in one message (the same OBX code twice
      // without a sub-id): a transaction cannot PUT one URL twice, so the later one is told
      // apart by its position, which is stable for the same message.
      key = `${key}|#${ordinal}`;
      id = cachedId(this.env.site.name, def.type, key);
      this.issues.push({
        severity: 'warning',
        code: 'identity-fallback',
        message: `${def.type} "${def.name}" repeats the business key of an earlier one in this message; told apart by its position (${ordinal})`,
      });
    }
    this.usedIds.add(id);
    const inst: Instance = { def, id, key, identifierQuery, scope, resource: null };
    // Registered before its children and its own map, so both can refer to it.
    if (scope !== enclosing) scope.register(inst);
    else enclosing.register(inst);
    this.all.push(inst);
    const entryIndex = this.entries.length;
    this.entries.push({}); // keeps parents before children in the bundle
    this.buildAll(def.children, scope);
    const body = this.buildObject(def.map, scope, def.name);
    const resource: Record<string, unknown> = { resourceType: def.type };
    const dupQuery = identifierQuery !== null && this.usedQueries.has(`${def.type}|${identifierQuery}`);
    if (identifierQuery !== null) this.usedQueries.add(`${def.type}|${identifierQuery}`);
    const request = this.request(def, id, dupQuery ? null : identifierQuery, identifiers);
    if (request.method === 'PUT' && !request.url.includes('?')) resource['id'] = id;
    Object.assign(resource, body);
    for (const el of def.required) {
      if (resource[el] === undefined) {
        this.issues.push({
          severity: 'error',
          code: 'missing-required',
          message: `${def.type}.${el} is required by FHIR but the message gives nothing for it (mapping ${this.mapping.id}, resource ${def.name})`,
          location: def.name,
        });
      }
    }
    inst.resource = resource;
    this.entries[entryIndex] = { fullUrl: uuidUrn(id), resource: resource as unknown as Resource, request };
  }

  private identity(def: ResourceDef, scope: Scope, ordinal: number): { key: string; identifierQuery: string | null; identifiers: number } {
    const idDef = def.identity;
    let identifierQuery: string | null = null;
    let identifiers = 0;
    if (idDef.identifier) {
      const values = this.evalExpr(idDef.identifier, scope, `${def.name}.identity`).map((v) => this.materialize(v));
      for (const v of values) {
        const ident = v as { system?: string; value?: string } | undefined;
        if (ident && typeof ident === 'object' && ident.value) {
          identifiers++;
          if (ident.system && identifierQuery === null) identifierQuery = `${ident.system}|${ident.value}`;
        }
      }
    }
    // A business identifier with a system is the best key: it is what other systems share.
    if (identifierQuery) return { key: identifierQuery, identifierQuery, identifiers };
    if (idDef.key) {
      const parts = idDef.key.map((e) => this.evalExpr(e, scope, `${def.name}.identity`).map(textOf).join('~'));
      if (parts.some((p) => p !== '')) return { key: parts.join('|'), identifierQuery, identifiers };
    }
    this.issues.push({
      severity: 'information',
      code: 'identity-fallback',
      message: `${def.type} "${def.name}" has no business identifier here; its id is derived from the message control id`,
    });
    return { key: `${this.messageKey}|${def.name}|${ordinal}`, identifierQuery: null, identifiers };
  }

  private request(def: ResourceDef, id: string, query: string | null, _identifiers: number): { method: 'PUT' | 'POST'; url: string; ifNoneExist?: string } {
    const mode = def.identity.request;
    const q = query ? `identifier=${encodeQuery(query)}` : null;
    if (mode === 'conditional' && q) return { method: 'PUT', url: `${def.type}?${q}` };
    if (mode === 'create-if-absent' && q) return { method: 'POST', url: def.type, ifNoneExist: q };
    return { method: 'PUT', url: `${def.type}/${id}` };
  }

  /** A Practitioner, Location or Organization a converter produced: one entry per key, then a Reference. */
  private referenceTo(ref: ResourceRef): { reference: string } {
    const type = ref.resource.resourceType;
    // Without a system-qualified identifier, a bare id ("1") or a name is not enough to say two
    // references are the same person or place: the content decides, so different people sent
    // with the same bare id do not collapse into one resource.
    const key = ref.identifierQuery ? ref.key : `${ref.key}|${JSON.stringify(ref.resource)}`;
    const id = cachedId(this.env.site.name, type, key);
    if (!this.refEntries.has(id)) {
      this.refEntries.set(id, id);
      const resource: Record<string, unknown> = { resourceType: type };
      const request = ref.identifierQuery
        ? { method: 'POST' as const, url: type, ifNoneExist: `identifier=${encodeQuery(ref.identifierQuery)}` }
        : { method: 'PUT' as const, url: `${type}/${id}` };
      if (request.method === 'PUT') resource['id'] = id;
      const { resourceType: _t, ...rest } = ref.resource as unknown as Record<string, unknown>;
      Object.assign(resource, rest);
      this.entries.push({ fullUrl: uuidUrn(id), resource: resource as unknown as Resource, request });
    }
    return { reference: uuidUrn(id) };
  }

  private materialize(v: Value): unknown {
    if (v instanceof V2Value) return v.text;
    if (isResourceRef(v)) return this.referenceTo(v);
    return v;
  }

  // ---------------------------------------------------------------- objects

  private buildObject(map: MapNode, scope: Scope, where: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const entry of map) {
      const loc = `${where}.${entry.path.join('.')}`;
      const values = this.evalRule(entry.rule, scope, loc).map((v) => this.materialize(v)).filter((v) => !isEmptyValue(v));
      if (values.length === 0) continue;
      let target = out;
      for (const p of entry.path.slice(0, -1)) {
        const next = target[p];
        if (next === undefined || typeof next !== 'object' || next === null || Array.isArray(next)) target[p] = {};
        target = target[p] as Record<string, unknown>;
      }
      const leaf = entry.path[entry.path.length - 1]!;
      if (entry.choice) {
        // value[x]: the converter names the type ({valueQuantity: …}); merge it in.
        const v = values[0];
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
            // An attachment arrives as an extension (R4 has no valueAttachment): append, never
            // overwrite extensions the map already set.
            const prev = target[k];
            target[k] = Array.isArray(prev) && Array.isArray(x) ? [...prev, ...x] : x;
          }
        }
        continue;
      }
      if (entry.rule.kind === 'list') {
        const existing = target[leaf];
        target[leaf] = Array.isArray(existing) ? [...existing, ...values] : values;
      } else {
        const distinct = values.length > 1 ? new Set(values.map((v) => JSON.stringify(v))) : null;
        if (distinct && distinct.size > 1) {
          this.issues.push({
            severity: 'information',
            code: 'dropped-repetition',
            message: `${loc} takes one value; ${distinct.size} were found and the first was kept`,
            location: loc,
          });
        }
        target[leaf] = values[0];
      }
    }
    return out;
  }

  private evalRule(rule: Rule, scope: Scope, loc: string): Value[] {
    if ('when' in rule && rule.when && !this.truthy(this.evalExpr(rule.when, scope, loc))) return [];
    switch (rule.kind) {
      case 'expr':
        return this.evalExpr(rule.expr, scope, loc).filter((v) => !isEmptyValue(v));
      case 'const':
        return [rule.value];
      case 'ref': {
        if (rule.name === '*') return this.all.filter((i) => i.resource !== null).map((i) => ({ reference: uuidUrn(i.id) }));
        const found = scope.lookup(rule.name);
        const list = rule.many ? found : found.slice(0, 1);
        return list.map((i) => ({ reference: uuidUrn(i.id) }));
      }
      case 'first':
        for (const r of rule.rules) {
          const v = this.evalRule(r, scope, loc);
          if (v.length) return v;
        }
        return [];
      case 'list':
        return rule.items.flatMap((r) => this.evalRule(r, scope, loc));
      case 'object': {
        const o = this.buildObject(rule.map, scope, loc);
        return isHollow(o) ? [] : [o];
      }
      case 'build': {
        const inputs = rule.forEach ? this.evalExpr(rule.forEach, scope, loc).filter((v) => !isEmptyValue(v)) : [null];
        const out: Value[] = [];
        for (const input of inputs) {
          const s = input === null ? scope : scope.child({ current: input instanceof V2Value ? input : new V2Value(textOf(input), 0, this.message.delimiters) });
          const o = this.buildObject(rule.map, s, loc);
          if (!isHollow(o)) out.push(o);
        }
        return out;
      }
    }
  }

  // ---------------------------------------------------------------- expressions

  private segmentsIn(node: GroupNode, id: string): readonly number[] {
    // Hot: every path lookup walks the scope chain; index each group's segments once.
    let index = this.segmentIndex.get(node);
    if (!index) {
      index = new Map();
      for (const i of node.segments) {
        const sid = this.segmentIds[i]!;
        const list = index.get(sid);
        if (list) list.push(i);
        else index.set(sid, [i]);
      }
      this.segmentIndex.set(node, index);
    }
    return index.get(id) ?? NO_SEGMENTS;
  }

  /** Segment indices for `id` as seen from a scope: the pinned one, else the nearest group holding it. */
  private findSegments(scope: Scope, id: string, occurrence: number): readonly number[] {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.pinned && s.pinned.id === id) return occurrence <= 1 ? [s.pinned.index] : [];
    }
    for (let node: GroupNode | null = scope.node; node; node = node.parent) {
      const found = this.segmentsIn(node, id);
      if (found.length) return occurrence === 0 ? found : found.slice(occurrence - 1, occurrence);
    }
    return [];
  }

  private readPath(p: PathRef, scope: Scope): V2Value[] {
    const out: V2Value[] = [];
    const d = this.message.delimiters;
    for (const index of this.findSegments(scope, p.segment, p.occurrence)) {
      this.touched.add(index);
      const reps = this.message.getAllIn(index, p.allRepetitions, true);
      const chosen = p.repetition === undefined ? reps.slice(0, 1) : p.repetition === 0 ? reps : reps.slice(p.repetition - 1, p.repetition);
      for (const raw of chosen) {
        let v = new V2Value(raw, 0, d);
        if (p.component !== undefined) v = v.part(p.component);
        if (p.subcomponent !== undefined) v = v.part(p.subcomponent);
        out.push(v);
      }
    }
    return out;
  }

  private ctx(location: string): ConverterContext {
    return {
      site: this.env.site,
      tables: this.env.tables,
      codeSystems: this.env.codeSystems,
      issues: { report: (i) => this.issues.push(i) },
      location,
    };
  }

  private evalArgs(args: readonly { name: string | null; value: Expr }[], converter: string, scope: Scope, loc: string): Record<string, ConverterArg> {
    const out: Record<string, ConverterArg> = {};
    args.forEach((a, i) => {
      const v = this.evalExpr(a.value, scope, loc)[0];
      const arg: ConverterArg = v === undefined ? undefined : v instanceof V2Value ? v : textOf(v);
      out[a.name ?? String(i)] = arg;
      // Positional first argument of the table converters is the table id.
      if (a.name === null && i === 0 && (converter === 'code' || converter === 'concept')) out['table'] = arg;
    });
    return out;
  }

  private evalExpr(e: Expr, scope: Scope, loc: string): Value[] {
    switch (e.kind) {
      case 'path':
        return this.readPath(e, scope);
      case 'current': {
        const cur = scope.current;
        if (!cur) return [];
        let v = cur;
        if (e.component !== undefined) v = v.part(e.component);
        if (e.subcomponent !== undefined) v = v.part(e.subcomponent);
        return [v];
      }
      case 'literal':
        return [e.value];
      case 'alt':
        for (const o of e.options) {
          const v = this.evalExpr(o, scope, loc).filter((x) => !isEmptyValue(x));
          if (v.length) return v;
        }
        return [];
      case 'pipe': {
        const conv = this.env.converters[e.converter];
        if (!conv) throw new Error(`converter ${e.converter} is not registered`);
        const inputs = this.evalExpr(e.input, scope, loc).filter((x) => !isEmptyValue(x));
        const args = this.evalArgs(e.args, e.converter, scope, loc);
        const location = e.input.kind === 'path' ? e.input.text : loc;
        const out: Value[] = [];
        for (const input of inputs) {
          const v = input instanceof V2Value ? input : new V2Value(textOf(input), 0, this.message.delimiters);
          const r = conv(v, args, this.ctx(location));
          if (Array.isArray(r)) out.push(...r.filter((x) => !isEmptyValue(x)));
          else if (!isEmptyValue(r)) out.push(r);
        }
        return out;
      }
      case 'call':
        return [this.call(e.name, e.args.map((a) => a.value), scope, loc)];
      case 'compare': {
        const left = this.evalExpr(e.left, scope, loc).filter((x) => !isEmptyValue(x)).map(textOf)[0] ?? '';
        const rights = e.right.map((r) => this.evalExpr(r, scope, loc).map(textOf)[0] ?? '');
        switch (e.op) {
          case '==':
            return [left === rights[0]];
          case '!=':
            return [left !== rights[0]];
          case 'in':
            return [rights.includes(left)];
          default: {
            const a = Number(left);
            const b = Number(rights[0]);
            if (Number.isNaN(a) || Number.isNaN(b)) return [false];
            return [e.op === '>' ? a > b : e.op === '<' ? a < b : e.op === '>=' ? a >= b : a <= b];
          }
        }
      }
      case 'and':
        return [e.terms.every((t) => this.truthy(this.evalExpr(t, scope, loc)))];
      case 'or':
        return [e.terms.some((t) => this.truthy(this.evalExpr(t, scope, loc)))];
      case 'not':
        return [!this.truthy(this.evalExpr(e.term, scope, loc))];
    }
  }

  private call(name: string, args: readonly Expr[], scope: Scope, loc: string): Value {
    if (name === 'concat') {
      // Empty when any non-literal part is empty, so concat('urn:oid:', MSH-3.2) yields nothing
      // rather than a half-built value.
      const parts = args.map((a) => ({ literal: a.kind === 'literal', text: this.evalExpr(a, scope, loc).filter((x) => !isEmptyValue(x)).map(textOf)[0] ?? '' }));
      return parts.some((p) => !p.literal && p.text === '') ? '' : parts.map((p) => p.text).join('');
    }
    const first = args[0];
    const vals = first ? this.evalExpr(first, scope, loc).filter((x) => !isEmptyValue(x)) : [];
    switch (name) {
      case 'present':
        return vals.length > 0;
      case 'empty':
        return vals.length === 0;
      case 'count':
        return vals.length;
      case 'len':
        return vals[0] === undefined ? 0 : textOf(vals[0]).length;
      case 'key': {
        const refName = first?.kind === 'literal' ? first.value : '';
        return scope.lookup(refName)[0]?.key ?? '';
      }
      default:
        return '';
    }
  }

  private truthy(vals: Value[]): boolean {
    return vals.some((v) => v === true || (typeof v !== 'boolean' && typeof v !== 'number' && !isEmptyValue(v)) || (typeof v === 'number' && v !== 0));
  }

  private reportUnmapped(): void {
    const ids = this.segmentIds;
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (this.touched.has(i) || this.mapping.ignore.includes(id) || seen.has(id)) return;
      seen.add(id);
      this.issues.push({
        severity: 'information',
        code: 'unmapped-segment',
        message: `segment ${id} is not used by mapping ${this.mapping.id}`,
        location: id,
      });
    });
  }
}

/**
 * UUIDv5 is a SHA-1 per id; the same practitioners, locations and organisations recur in every
 * message of a feed, so their ids are remembered (bounded: the oldest half is dropped when full).
 */
const ID_CACHE = new Map<string, string>();
const ID_CACHE_MAX = 20_000;
function cachedId(site: string, type: string, key: string): string {
  const k = `${site}|${type}|${key}`;
  let id = ID_CACHE.get(k);
  if (id === undefined) {
    id = deterministicId(site, type, key);
    if (ID_CACHE.size >= ID_CACHE_MAX) {
      let drop = ID_CACHE_MAX / 2;
      for (const old of ID_CACHE.keys()) {
        ID_CACHE.delete(old);
        if (--drop === 0) break;
      }
    }
    ID_CACHE.set(k, id);
  }
  return id;
}

function encodeQuery(systemValue: string): string {
  const bar = systemValue.indexOf('|');
  if (bar < 0) return encodeURIComponent(systemValue);
  return `${encodeURIComponent(systemValue.slice(0, bar))}|${encodeURIComponent(systemValue.slice(bar + 1))}`;
}
