/**
 * The mapping compiler: a loaded mapping (model.ts) turned once, at load or on first use, into
 * plain functions of (message run, scope). Paths are resolved to segment id, occurrence and a
 * parsed field path, converters are looked up, literal arguments are built, locations for issues
 * are joined, and each expression, rule and map becomes a closure, so converting a message walks
 * no syntax tree and parses no path. The bundle builder (bundle.ts) decides which resources exist
 * and calls these for their values; it never reads the message itself. Everything here is a
 * function of the message, the mapping and the scope: nothing reads the clock or a random source.
 */
import { uuidUrn } from '../fhir/ids.js';
import { parseFieldPath, type Delimiters, type FieldPath, type Hl7Message } from '../hl7/index.js';
import type { Expr } from './expression.js';
import type { MapNode, MessageMapping, ResourceDef, Rule } from './model.js';
import type { ResourceRef } from './resource-ref.js';
import { isResourceRef } from './resource-ref.js';
import { buildTree, descendants, type GroupDef, type GroupNode } from './structure.js';
import {
  V2Value,
  type CodeSystemRegistry,
  type Converter,
  type ConverterArg,
  type ConverterContext,
  type IssueSink,
  type SiteConfig,
  type TableRegistry,
} from './types.js';

export interface ConvertEnv {
  readonly site: SiteConfig;
  readonly tables: TableRegistry;
  readonly codeSystems: CodeSystemRegistry;
  readonly converters: Readonly<Record<string, Converter>>;
}

/** A resource instance as expressions see it: `$ref` points at its id, `key(name)` reads its business key. */
export interface BuiltResource {
  readonly name: string;
  readonly id: string;
  readonly key: string;
}

/** What the evaluator needs from whoever assembles the Bundle. */
export interface EvalHost {
  /** Every resource finished so far, in the order they were started (for `$refs: "*"`). */
  finished(): readonly BuiltResource[];
  /** The Reference to a resource a converter met (a Practitioner, a Location), adding its entry once. */
  referenceTo(ref: ResourceRef): { reference: string };
}

/**
 * Where expressions are evaluated: a group instance of the message structure, a segment pinned by
 * a segment `forEach`, the current `$forEach` value (@), and the resources registered so far,
 * visible from here and from every scope below.
 */
export class Scope {
  /** Created on the first registration: most scopes (one per OBX, per repetition) never hold one. */
  registry: Map<string, BuiltResource[]> | null = null;
  /**
   * Names of resources nested inside the resource built in this scope: a lookup of one of them
   * stops here even when this instance built none, so a report with no results of its own never
   * takes another report's (set by declareNested).
   */
  nested: ReadonlySet<string> | null = null;
  constructor(
    readonly node: GroupNode,
    readonly parent: Scope | null,
    readonly pinned: { id: string; index: number } | null,
    readonly current: V2Value | null,
  ) {}

  child(opts: { node?: GroupNode; pinned?: { id: string; index: number }; current?: V2Value }): Scope {
    return new Scope(opts.node ?? this.node, this, opts.pinned ?? null, opts.current ?? this.current);
  }

  /** Makes `resource` visible by its name here and in every enclosing scope. */
  register(resource: BuiltResource): void {
    for (let s: Scope | null = this; s; s = s.parent) {
      const registry = (s.registry ??= new Map());
      let list = registry.get(resource.name);
      if (!list) registry.set(resource.name, (list = []));
      list.push(resource);
    }
  }

  /** Declares the names of the resources nested inside the one built in this scope. */
  declareNested(names: ReadonlySet<string>): void {
    if (names.size === 0) return;
    this.nested = this.nested === null ? names : new Set([...this.nested, ...names]);
  }

  /**
   * The resources named `name` in the nearest scope that has any, not looking past the scope of
   * the resource that nests them (see `nested`) unless `pastNested` (the ordinal that tells two
   * instances with one business key apart counts across the message).
   */
  lookup(name: string, pastNested = false): BuiltResource[] {
    for (let s: Scope | null = this; s; s = s.parent) {
      const list = s.registry?.get(name);
      if (list && list.length) return list;
      if (!pastNested && s.nested?.has(name)) return [];
    }
    return [];
  }
}

/** A value met during evaluation: a V2Value read from the message, or what a converter or literal gave. */
export type Value = V2Value | unknown;

const NO_SEGMENTS: readonly number[] = Object.freeze([]);
const NONE: Value[] = [];
let runs = 0;

/** Converter result markers: the converter gave undefined; its result may not be shared (call again). */
const NOTHING = Symbol('nothing');
const UNSHARED = Symbol('unshared');

/**
 * A converter result that may be handed out again: text, numbers, booleans and resource
 * references (the bundle builder copies what it keeps of those), never a plain object or array
 * that a map could still add to.
 */
function reused(res: unknown): boolean {
  if (Array.isArray(res)) {
    for (const x of res) if (!reusedItem(x)) return false;
    return true;
  }
  return reusedItem(res);
}

function reusedItem(x: unknown): boolean {
  return typeof x !== 'object' || x === null || isResourceRef(x);
}

/**
 * The evaluated arguments as the start of a memo key: each value length-prefixed, so no two
 * different argument lists (or a list and the input after it) give the same key.
 */
function argsKey(argv: Readonly<Record<string, ConverterArg>>, count: number): string {
  if (count === 0) return ':';
  let k = '';
  for (const name in argv) {
    const a = argv[name];
    k += a === undefined ? 'u' : typeof a === 'string' ? `s${a.length}:${a}` : `v${a.level}${a.raw.length}:${a.raw}`;
  }
  return `${k}:`;
}

/** The arguments of a converter called without any (converters only read them). */
const NO_ARGS: Readonly<Record<string, ConverterArg>> = Object.freeze({});
/** What a path that finds nothing yields; shared, so never added to (no caller does). */
const NO_VALUES: V2Value[] = [];

export function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (v instanceof V2Value) return v.isEmpty || v.raw === '""';
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') {
    // Values here are plain JSON objects: a key met by for-in is an own key (no Object.keys array).
    for (const _ in v as object) return false;
    return true;
  }
  return false;
}

/**
 * An object that says nothing: empty, or an extension with its url but no value (FHIR's ext-1
 * forbids those), as happens when the v2 field behind the value was sent empty.
 */
function isHollow(o: Record<string, unknown>): boolean {
  let n = 0;
  let onlyUrl = true;
  for (const k in o) {
    n++;
    if (k !== 'url' || n > 1) {
      onlyUrl = false;
      break;
    }
  }
  return n === 0 || onlyUrl;
}

export function textOf(v: Value): string {
  if (v instanceof V2Value) return v.text;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function nonEmpty(vals: Value[]): Value[] {
  let i = 0;
  while (i < vals.length && !isEmptyValue(vals[i])) i++;
  if (i === vals.length) return vals;
  const out = vals.slice(0, i);
  for (i++; i < vals.length; i++) if (!isEmptyValue(vals[i])) out.push(vals[i]);
  return out;
}

function firstNonEmpty(vals: Value[]): Value | undefined {
  for (const v of vals) if (!isEmptyValue(v)) return v;
  return undefined;
}

function truthy(vals: Value[]): boolean {
  for (const v of vals) {
    if (v === true || (typeof v !== 'boolean' && typeof v !== 'number' && !isEmptyValue(v)) || (typeof v === 'number' && v !== 0)) return true;
  }
  return false;
}

// ---------------------------------------------------------------- one message

/** A path of a mapping, resolved at compile time. */
interface CompiledPath {
  readonly segment: string;
  readonly occurrence: number;
  readonly repetition: number | undefined;
  readonly component: number | undefined;
  readonly subcomponent: number | undefined;
  /** Every repetition of the field ("5[*]"), parsed once. */
  readonly all: FieldPath;
  /** The one repetition read (1-based) when `repetition` names one or is absent (the first). */
  readonly single: number;
}

/** The state of one message through one compiled mapping: what was read, segment indexes, issues. */
export class Run {
  /** 1 for each message segment some path read (0 = MSH, always): the rest are reported unmapped. */
  readonly read: Uint8Array;
  readonly segmentIds: readonly string[];
  readonly delimiters: Delimiters;
  /** Tells this message's converter results from another's at each call site (Compiler.pipe). */
  readonly id = ++runs;
  private readonly groupIndex = new Map<GroupNode, Map<string, GroupNode[]>>();

  constructor(
    readonly message: Hl7Message,
    private readonly groups: ReadonlyMap<string, GroupDef>,
    readonly env: ConvertEnv,
    readonly host: EvalHost,
    /** Keeps each distinct issue once (issue-log.ts). */
    readonly sink: IssueSink,
  ) {
    this.segmentIds = message.segmentIds();
    this.delimiters = message.delimiters;
    this.read = new Uint8Array(this.segmentIds.length);
  }

  /** The whole message, grouped by the mapping's groups. */
  root(): Scope {
    this.read[0] = 1;
    return new Scope(buildTree(this.message, this.groups, this.segmentIds), null, null, null);
  }

  /** One scope per occurrence of the segment or group `name` in `scope` (a resource's `forEach`). */
  each(scope: Scope, name: string): Scope[] {
    if (this.groups.has(name)) return this.descendants(scope.node, name).map((node) => scope.child({ node }));
    return this.segmentsIn(scope.node, name).map((index) => scope.child({ pinned: { id: name, index } }));
  }

  /** The scope of the first group `name`, or `scope` itself when the segment `name` is there (a resource's `from`); null when absent. */
  first(scope: Scope, name: string): Scope | null {
    if (this.groups.has(name)) {
      const first = this.descendants(scope.node, name)[0];
      return first ? scope.child({ node: first }) : null;
    }
    return this.findSegment(scope, name, 1) >= 0 ? scope : null;
  }

  /** Group instances named `name` below `node`; several resources walk the same groups (OBSERVATION per order). */
  private descendants(node: GroupNode, name: string): readonly GroupNode[] {
    let byName = this.groupIndex.get(node);
    if (!byName) this.groupIndex.set(node, (byName = new Map()));
    let found = byName.get(name);
    if (!found) byName.set(name, (found = descendants(node, name)));
    return found;
  }

  materialize(v: Value): unknown {
    if (v instanceof V2Value) return v.text;
    if (isResourceRef(v)) return this.host.referenceTo(v);
    return v;
  }

  ctx(location: string): ConverterContext {
    return { site: this.env.site, tables: this.env.tables, codeSystems: this.env.codeSystems, issues: this.sink, location };
  }

  private segmentsIn(node: GroupNode, id: string): readonly number[] {
    // Hot: every path lookup walks the scope chain; index each group's segments once, on the node.
    let index = node.index;
    if (index === null) {
      index = new Map();
      for (const i of node.segments) {
        const sid = this.segmentIds[i]!;
        const list = index.get(sid);
        if (list) list.push(i);
        else index.set(sid, [i]);
      }
      node.index = index;
    }
    return index.get(id) ?? NO_SEGMENTS;
  }

  /** findSegments for one occurrence (1-based), without an array: the segment index or -1. */
  private findSegment(scope: Scope, id: string, occurrence: number): number {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.pinned && s.pinned.id === id) return occurrence <= 1 ? s.pinned.index : -1;
    }
    for (let node: GroupNode | null = scope.node; node; node = node.parent) {
      const found = this.segmentsIn(node, id);
      if (found.length) return found[occurrence - 1] ?? -1;
    }
    return -1;
  }

  /** Segment indices for `id` as seen from a scope: the pinned one, else the nearest group holding it. */
  private findSegments(scope: Scope, id: string, occurrence: number): readonly number[] {
    for (let s: Scope | null = scope; s; s = s.parent) {
      if (s.pinned && s.pinned.id === id) return occurrence <= 1 ? [s.pinned.index] : NO_SEGMENTS;
    }
    for (let node: GroupNode | null = scope.node; node; node = node.parent) {
      const found = this.segmentsIn(node, id);
      if (found.length) return occurrence === 0 ? found : found.slice(occurrence - 1, occurrence);
    }
    return NO_SEGMENTS;
  }

  readPath(p: CompiledPath, scope: Scope): V2Value[] {
    if (p.occurrence !== 0 && p.repetition !== 0) {
      // Most paths name one segment and one repetition: no arrays but the result.
      const index = this.findSegment(scope, p.segment, p.occurrence);
      if (index < 0) return NO_VALUES;
      this.read[index] = 1;
      const raw = this.message.repetitionRawAt(index, p.all.field, p.single);
      if (raw === undefined) return NO_VALUES;
      let v = new V2Value(raw, 0, this.delimiters);
      if (p.component !== undefined) v = v.part(p.component);
      if (p.subcomponent !== undefined) v = v.part(p.subcomponent);
      return [v];
    }
    const out: V2Value[] = [];
    const d = this.delimiters;
    for (const index of this.findSegments(scope, p.segment, p.occurrence)) {
      this.read[index] = 1;
      const from = p.repetition === undefined ? 0 : p.repetition === 0 ? 0 : p.repetition - 1;
      const to = p.repetition === undefined ? 1 : p.repetition === 0 ? Infinity : p.repetition;
      const reps = this.message.getAllAt(index, p.all, true, to);
      for (let k = from; k < to && k < reps.length; k++) {
        let v = new V2Value(reps[k]!, 0, d);
        if (p.component !== undefined) v = v.part(p.component);
        if (p.subcomponent !== undefined) v = v.part(p.subcomponent);
        out.push(v);
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------- compiled forms

/** An expression or rule: the values it yields in a scope (before materializing). */
type Fn = (r: Run, s: Scope) => Value[];
type MapFn = (r: Run, s: Scope) => Record<string, unknown>;

export interface CompiledResource {
  readonly def: ResourceDef;
  readonly when: ((r: Run, s: Scope) => boolean) | null;
  /** Identifier(s) of the identity, materialized. */
  readonly identifier: ((r: Run, s: Scope) => unknown[]) | null;
  /** Each key expression's texts. */
  readonly key: readonly ((r: Run, s: Scope) => string[])[] | null;
  readonly map: MapFn;
  readonly children: readonly CompiledResource[];
}

export interface CompiledMapping {
  readonly resources: readonly CompiledResource[];
}

const compiledMappings = new WeakMap<MessageMapping, { readonly env: ConvertEnv; readonly compiled: CompiledMapping }>();

/** The mapping as functions, compiled once per loaded mapping and environment (a reload loads, so compiles, anew). */
export function compileMapping(mapping: MessageMapping, env: ConvertEnv): CompiledMapping {
  const cached = compiledMappings.get(mapping);
  if (cached !== undefined && cached.env === env) return cached.compiled;
  const compiler = new Compiler(env);
  const compiled: CompiledMapping = { resources: mapping.resources.map((d) => compiler.resource(d)) };
  compiledMappings.set(mapping, { env, compiled });
  return compiled;
}

class Compiler {
  constructor(private readonly env: ConvertEnv) {}

  resource(def: ResourceDef): CompiledResource {
    const when = def.when ? this.expr(def.when, def.name) : null;
    const idLoc = `${def.name}.identity`;
    const identifier = def.identity.identifier ? this.expr(def.identity.identifier, idLoc) : null;
    return {
      def,
      when: when ? (r, s) => truthy(when(r, s)) : null,
      identifier: identifier ? (r, s) => identifier(r, s).map((v) => r.materialize(v)) : null,
      key: def.identity.key
        ? def.identity.key.map((e) => {
            const f = this.expr(e, idLoc);
            return (r: Run, s: Scope) => f(r, s).map(textOf);
          })
        : null,
      map: this.map(def.map, def.name),
      children: def.children.map((c) => this.resource(c)),
    };
  }

  /** The object a map builds in a scope; `where` names it in issues ("patient", "patient.name"). */
  map(map: MapNode, where: string): MapFn {
    const entries = map.map((entry) => {
      const loc = `${where}.${entry.path.join('.')}`;
      return {
        loc,
        rule: this.rule(entry.rule, loc),
        prefix: entry.path.slice(0, -1),
        leaf: entry.path[entry.path.length - 1]!,
        choice: entry.choice,
        list: entry.rule.kind === 'list',
      };
    });
    return (r, s) => {
      const out: Record<string, unknown> = {};
      for (const entry of entries) {
        const raw = entry.rule(r, s);
        if (raw.length === 0) continue; // most entries of a map find nothing in a given message
        const values: unknown[] = [];
        for (const v of raw) {
          const m = r.materialize(v);
          if (!isEmptyValue(m)) values.push(m);
        }
        if (values.length === 0) continue;
        let target = out;
        for (const p of entry.prefix) {
          const next = target[p];
          if (next === undefined || typeof next !== 'object' || next === null || Array.isArray(next)) target[p] = {};
          target = target[p] as Record<string, unknown>;
        }
        const leaf = entry.leaf;
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
        if (entry.list) {
          const existing = target[leaf];
          target[leaf] = Array.isArray(existing) ? [...existing, ...values] : values;
        } else {
          const distinct = values.length > 1 ? new Set(values.map((v) => JSON.stringify(v))) : null;
          if (distinct && distinct.size > 1) {
            r.sink.report({
              severity: 'information',
              code: 'dropped-repetition',
              message: `${entry.loc} takes one value; ${distinct.size} were found and the first was kept`,
              location: entry.loc,
            });
          }
          target[leaf] = values[0];
        }
      }
      return out;
    };
  }

  rule(rule: Rule, loc: string): Fn {
    const body = this.ruleBody(rule, loc);
    if (!('when' in rule) || !rule.when) return body;
    const when = this.expr(rule.when, loc);
    return (r, s) => (truthy(when(r, s)) ? body(r, s) : NONE);
  }

  private ruleBody(rule: Rule, loc: string): Fn {
    switch (rule.kind) {
      case 'expr': {
        const e = this.expr(rule.expr, loc);
        return (r, s) => nonEmpty(e(r, s));
      }
      case 'const': {
        const value = rule.value;
        return () => [value];
      }
      case 'ref': {
        const name = rule.name;
        if (name === '*') return (r) => r.host.finished().map((b) => ({ reference: uuidUrn(b.id) }));
        const many = rule.many;
        if (many) return (_r, s) => s.lookup(name).map((b) => ({ reference: uuidUrn(b.id) }));
        return (_r, s) => {
          const found = s.lookup(name)[0];
          return found === undefined ? NONE : [{ reference: uuidUrn(found.id) }];
        };
      }
      case 'first': {
        const rules = rule.rules.map((x) => this.rule(x, loc));
        return (r, s) => {
          for (const f of rules) {
            const v = f(r, s);
            if (v.length) return v;
          }
          return NONE;
        };
      }
      case 'list': {
        const items = rule.items.map((x) => this.rule(x, loc));
        return (r, s) => {
          const out: Value[] = [];
          for (const f of items) for (const v of f(r, s)) out.push(v);
          return out;
        };
      }
      case 'object': {
        const m = this.map(rule.map, loc);
        return (r, s) => {
          const o = m(r, s);
          return isHollow(o) ? NONE : [o];
        };
      }
      case 'build': {
        const forEach = rule.forEach ? this.expr(rule.forEach, loc) : null;
        const m = this.map(rule.map, loc);
        if (!forEach) {
          return (r, s) => {
            const o = m(r, s);
            return isHollow(o) ? [] : [o];
          };
        }
        return (r, s) => {
          const out: Value[] = [];
          for (const input of forEach(r, s)) {
            if (isEmptyValue(input)) continue;
            const child = s.child({ current: input instanceof V2Value ? input : new V2Value(textOf(input), 0, r.delimiters) });
            const o = m(r, child);
            if (!isHollow(o)) out.push(o);
          }
          return out;
        };
      }
    }
  }

  expr(e: Expr, loc: string): Fn {
    switch (e.kind) {
      case 'path': {
        const p: CompiledPath = {
          segment: e.segment,
          occurrence: e.occurrence,
          repetition: e.repetition,
          component: e.component,
          subcomponent: e.subcomponent,
          all: parseFieldPath(e.allRepetitions),
          single: e.repetition === undefined ? 1 : e.repetition,
        };
        return (r, s) => r.readPath(p, s);
      }
      case 'current': {
        const { component, subcomponent } = e;
        return (_r, s) => {
          const cur = s.current;
          if (!cur) return NONE;
          let v = cur;
          if (component !== undefined) v = v.part(component);
          if (subcomponent !== undefined) v = v.part(subcomponent);
          return [v];
        };
      }
      case 'literal': {
        const value = e.value;
        return () => [value];
      }
      case 'alt': {
        const options = e.options.map((o) => this.expr(o, loc));
        return (r, s) => {
          for (const o of options) {
            const v = nonEmpty(o(r, s));
            if (v.length) return v;
          }
          return NONE;
        };
      }
      case 'pipe':
        return this.pipe(e, loc);
      case 'call':
        return this.call(e.name, e.args.map((a) => a.value), loc);
      case 'compare': {
        const left = this.expr(e.left, loc);
        const rights = e.right.map((x) => this.expr(x, loc));
        const leftText = (r: Run, s: Scope): string => {
          const v = firstNonEmpty(left(r, s));
          return v === undefined ? '' : textOf(v);
        };
        const rightTexts = (r: Run, s: Scope): string[] =>
          rights.map((f) => {
            const v = f(r, s);
            return v.length ? textOf(v[0]) : '';
          });
        // Every right side is evaluated (a path read counts as mapped); only the first is compared.
        const rightText = (r: Run, s: Scope): string => {
          let first = '';
          for (let i = 0; i < rights.length; i++) {
            const v = rights[i]!(r, s);
            if (i === 0 && v.length) first = textOf(v[0]);
          }
          return first;
        };
        switch (e.op) {
          case '==':
            return (r, s) => {
              const a = leftText(r, s);
              return [a === rightText(r, s)];
            };
          case '!=':
            return (r, s) => {
              const a = leftText(r, s);
              return [a !== rightText(r, s)];
            };
          case 'in':
            return (r, s) => {
              const a = leftText(r, s);
              return [rightTexts(r, s).includes(a)];
            };
          default: {
            const op = e.op;
            return (r, s) => {
              const a = Number(leftText(r, s));
              const b = Number(rightText(r, s));
              if (Number.isNaN(a) || Number.isNaN(b)) return [false];
              return [op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : a <= b];
            };
          }
        }
      }
      case 'and': {
        const terms = e.terms.map((t) => this.expr(t, loc));
        return (r, s) => {
          for (const t of terms) if (!truthy(t(r, s))) return [false];
          return [true];
        };
      }
      case 'or': {
        const terms = e.terms.map((t) => this.expr(t, loc));
        return (r, s) => {
          for (const t of terms) if (truthy(t(r, s))) return [true];
          return [false];
        };
      }
      case 'not': {
        const term = this.expr(e.term, loc);
        return (r, s) => [!truthy(term(r, s))];
      }
    }
  }

  private pipe(e: Extract<Expr, { kind: 'pipe' }>, loc: string): Fn {
    const conv = this.env.converters[e.converter];
    const name = e.converter;
    if (!conv) {
      return () => {
        throw new Error(`converter ${name} is not registered`);
      };
    }
    const input = this.expr(e.input, loc);
    const location = e.input.kind === 'path' ? e.input.text : loc;
    // Positional first argument of the table converters is the table id.
    const tableFirst = name === 'code' || name === 'concept';
    const args = e.args.map((a, i) => ({ key: a.name ?? String(i), asTable: tableFirst && a.name === null && i === 0, value: this.expr(a.value, loc) }));
    // One arguments object per call site, refilled per call: the same keys every time, so it keeps
    // one shape, and converters only read it during the call (none keeps it).
    let shared: Record<string, ConverterArg> | null = null;
    const evalArgs = args.length === 0 ? () => NO_ARGS : (r: Run, s: Scope): Record<string, ConverterArg> => {
      const out = (shared ??= {});
      for (const a of args) {
        const v = a.value(r, s)[0];
        const arg: ConverterArg = v === undefined ? undefined : v instanceof V2Value ? v : textOf(v);
        out[a.key] = arg;
        if (a.asTable) out['table'] = arg;
      }
      return out;
    };
    // This call site's results in the current message (by Run.id): the first one held as is, a
    // Map only from the second distinct value on (an ADT^A01 calls most sites once).
    let memoRun = -1;
    let firstKey: string | null = null;
    let firstRes: unknown = undefined;
    let memo: Map<string, unknown> | null = null;
    return (r, s) => {
      const inputs = input(r, s);
      // Arguments are read even when there is no input: what they read counts as mapped.
      const argv = evalArgs(r, s);
      let out: Value[] | null = null;
      let ctx: ConverterContext | null = null;
      let argKey: string | null = null;
      for (const x of inputs) {
        if (isEmptyValue(x)) continue;
        const v = x instanceof V2Value ? x : new V2Value(textOf(x), 0, r.delimiters);
        // The same value through the same call site gives the same result: converters are pure
        // apart from issues, and this site's issues for it were reported (and are kept once) on
        // the first call. Only results nothing can modify later are reused (reused() below).
        argKey ??= argsKey(argv, args.length);
        const key = `${v.level}${argKey}${v.raw}`;
        if (memoRun !== r.id) {
          memoRun = r.id;
          firstKey = null;
          firstRes = undefined;
          memo = null;
        }
        let res = firstKey === key ? firstRes : memo?.get(key);
        if (res === undefined) {
          res = conv(v, argv, (ctx ??= r.ctx(location)));
          const kept = reused(res) ? (res === undefined ? NOTHING : res) : UNSHARED;
          if (firstKey === null) {
            firstKey = key;
            firstRes = kept;
          } else {
            (memo ??= new Map()).set(key, kept);
          }
        } else if (res === NOTHING) {
          res = undefined;
        } else if (res === UNSHARED) {
          res = conv(v, argv, (ctx ??= r.ctx(location)));
        }
        if (Array.isArray(res)) {
          for (const y of res) if (!isEmptyValue(y)) (out ??= []).push(y);
        } else if (!isEmptyValue(res)) (out ??= []).push(res);
      }
      return out ?? [];
    };
  }

  private call(name: string, args: readonly Expr[], loc: string): Fn {
    if (name === 'concat') {
      // Empty when any non-literal part is empty, so concat('urn:oid:', MSH-3.2) yields nothing
      // rather than a half-built value.
      const parts = args.map((a) => ({ literal: a.kind === 'literal', f: this.expr(a, loc) }));
      return (r, s) => {
        let text = '';
        let hollow = false;
        for (const p of parts) {
          const v = firstNonEmpty(p.f(r, s));
          const t = v === undefined ? '' : textOf(v);
          if (!p.literal && t === '') hollow = true;
          text += t;
        }
        return [hollow ? '' : text];
      };
    }
    const firstExpr = args[0];
    const first = firstExpr ? this.expr(firstExpr, loc) : null;
    const vals = (r: Run, s: Scope): Value[] => (first ? nonEmpty(first(r, s)) : NONE);
    switch (name) {
      case 'present':
        return (r, s) => [vals(r, s).length > 0];
      case 'empty':
        return (r, s) => [vals(r, s).length === 0];
      case 'count':
        return (r, s) => [vals(r, s).length];
      case 'len':
        return (r, s) => {
          const v = vals(r, s);
          return [v[0] === undefined ? 0 : textOf(v[0]).length];
        };
      case 'key': {
        const refName = firstExpr?.kind === 'literal' ? firstExpr.value : '';
        return (r, s) => {
          vals(r, s);
          return [s.lookup(refName)[0]?.key ?? ''];
        };
      }
      default:
        return (r, s) => {
          vals(r, s);
          return [''];
        };
    }
  }
}
