/**
 * The expression evaluator: what a mapping's expressions and rules yield for one message, given
 * a scope (the group instance, pinned segment and current forEach value they are read in). The
 * bundle builder (bundle.ts) decides which resources exist and asks this for their values; it
 * never reads the message itself. Everything here is a function of the message, the mapping and
 * the scope: nothing reads the clock or a random source.
 */
import { uuidUrn } from '../fhir/ids.js';
import type { Hl7Message } from '../hl7/index.js';
import type { Expr, PathRef } from './expression.js';
import type { MapNode, Rule } from './model.js';
import type { ResourceRef } from './resource-ref.js';
import { isResourceRef } from './resource-ref.js';
import { buildTree, descendants, type GroupDef, type GroupNode } from './structure.js';
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
  readonly registry = new Map<string, BuiltResource[]>();
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
      let list = s.registry.get(resource.name);
      if (!list) s.registry.set(resource.name, (list = []));
      list.push(resource);
    }
  }

  /** The resources named `name` in the nearest scope that has any. */
  lookup(name: string): BuiltResource[] {
    for (let s: Scope | null = this; s; s = s.parent) {
      const list = s.registry.get(name);
      if (list && list.length) return list;
    }
    return [];
  }
}

/** A value met during evaluation: a V2Value read from the message, or what a converter or literal gave. */
export type Value = V2Value | unknown;

const NO_SEGMENTS: readonly number[] = Object.freeze([]);

export function isEmptyValue(v: unknown): boolean {
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

export function textOf(v: Value): string {
  if (v instanceof V2Value) return v.text;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Evaluates one mapping's expressions and rules against one message. */
export class Evaluator {
  /** Message segment indices some path read (0 = MSH, always): the rest are reported unmapped. */
  readonly read = new Set<number>();
  private readonly segmentIds: readonly string[];
  private readonly segmentIndex = new Map<GroupNode, Map<string, number[]>>();
  private readonly sink: { report: (issue: ConversionIssue) => void };

  constructor(
    private readonly message: Hl7Message,
    private readonly groups: ReadonlyMap<string, GroupDef>,
    private readonly env: ConvertEnv,
    private readonly host: EvalHost,
    private readonly issues: ConversionIssue[],
  ) {
    this.segmentIds = message.segmentIds();
    this.sink = { report: (i) => this.issues.push(i) };
  }

  // ---------------------------------------------------------------- scopes

  /** The whole message, grouped by the mapping's groups. */
  root(): Scope {
    this.read.add(0);
    return new Scope(buildTree(this.message, this.groups), null, null, null);
  }

  /** One scope per occurrence of the segment or group `name` in `scope` (a resource's `forEach`). */
  each(scope: Scope, name: string): Scope[] {
    if (this.groups.has(name)) return descendants(scope.node, name).map((node) => scope.child({ node }));
    return this.segmentsIn(scope.node, name).map((index) => scope.child({ pinned: { id: name, index } }));
  }

  /** The scope of the first group `name`, or `scope` itself when the segment `name` is there (a resource's `from`); null when absent. */
  first(scope: Scope, name: string): Scope | null {
    if (this.groups.has(name)) {
      const first = descendants(scope.node, name)[0];
      return first ? scope.child({ node: first }) : null;
    }
    return this.findSegments(scope, name, 1).length ? scope : null;
  }

  // ---------------------------------------------------------------- what the builder asks

  /** Whether a condition holds in `scope`. */
  holds(e: Expr, scope: Scope, loc: string): boolean {
    return this.truthy(this.evalExpr(e, scope, loc));
  }

  /** What an expression yields, as FHIR JSON values (texts, converter output, References). */
  values(e: Expr, scope: Scope, loc: string): unknown[] {
    return this.evalExpr(e, scope, loc).map((v) => this.materialize(v));
  }

  /** What an expression yields, as texts. */
  texts(e: Expr, scope: Scope, loc: string): string[] {
    return this.evalExpr(e, scope, loc).map(textOf);
  }

  /** The object a map builds in `scope`; `where` names it in issues ("patient", "patient.name"). */
  object(map: MapNode, scope: Scope, where: string): Record<string, unknown> {
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

  private materialize(v: Value): unknown {
    if (v instanceof V2Value) return v.text;
    if (isResourceRef(v)) return this.host.referenceTo(v);
    return v;
  }

  // ---------------------------------------------------------------- rules

  private evalRule(rule: Rule, scope: Scope, loc: string): Value[] {
    if ('when' in rule && rule.when && !this.truthy(this.evalExpr(rule.when, scope, loc))) return [];
    switch (rule.kind) {
      case 'expr':
        return this.evalExpr(rule.expr, scope, loc).filter((v) => !isEmptyValue(v));
      case 'const':
        return [rule.value];
      case 'ref': {
        if (rule.name === '*') return this.host.finished().map((r) => ({ reference: uuidUrn(r.id) }));
        const found = scope.lookup(rule.name);
        const list = rule.many ? found : found.slice(0, 1);
        return list.map((r) => ({ reference: uuidUrn(r.id) }));
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
        const o = this.object(rule.map, scope, loc);
        return isHollow(o) ? [] : [o];
      }
      case 'build': {
        const inputs = rule.forEach ? this.evalExpr(rule.forEach, scope, loc).filter((v) => !isEmptyValue(v)) : [null];
        const out: Value[] = [];
        for (const input of inputs) {
          const s = input === null ? scope : scope.child({ current: input instanceof V2Value ? input : new V2Value(textOf(input), 0, this.message.delimiters) });
          const o = this.object(rule.map, s, loc);
          if (!isHollow(o)) out.push(o);
        }
        return out;
      }
    }
  }

  // ---------------------------------------------------------------- paths

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
      this.read.add(index);
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

  // ---------------------------------------------------------------- expressions

  private ctx(location: string): ConverterContext {
    return {
      site: this.env.site,
      tables: this.env.tables,
      codeSystems: this.env.codeSystems,
      issues: this.sink,
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
}
