/**
 * The load-time check of what a mapping builds against the FHIR R4 definitions, so a mistake in
 * the YAML refuses to load (file:line:col) instead of dead-lettering every message at run time:
 *
 *  - every target element exists on its type, walking into datatypes and backbone elements
 *    (`period.start`, `participant: [{ individual }]`), choice elements named with their type
 *    (`deceasedDateTime`) or with `[x]` (a converter names the type), and only then;
 *  - the shape fits the cardinality: a list (YAML list, `$refs`, `$forEach`) never goes into an
 *    element that takes one value, and an element that repeats gets a list (FHIR JSON wants an
 *    array there, the converter would write one value); a dotted path never crosses a repeating
 *    element or a primitive;
 *  - `$ref`/`$refs` go into Reference elements, to a resource of this mapping whose type the
 *    element allows; plain text (a v2 path without a converter) never goes into a datatype;
 *  - a `$const` is a valid value of its element, checked like a Bundle is (formats, required
 *    codes such as Encounter.status, the keys of an object);
 *  - required elements: see `alwaysYields` for what counts as always having a source.
 */
import { ConfigError } from '../config/index.js';
import { structureIndex, validateElementValue, type ElementDef, type KeyDef, type StructureIndex, type TypeDef } from '../fhir/index.js';
import type { Expr } from './expression.js';
import type { MapEntry, MapNode, MessageMapping, ResourceDef, Rule, SourcePos } from './model.js';

interface Node {
  readonly def: ResourceDef;
  readonly parent: Node | null;
  /** Position in a depth-first walk of the mapping's resources: the order they are registered in. */
  readonly order: number;
}

/** Where a rule sits: the element it fills, for messages and for the checks. */
interface Target {
  readonly owner: TypeDef;
  readonly key: string;
  readonly k: KeyDef;
  /** "Encounter.participant.individual" */
  readonly label: string;
}

interface Scope {
  readonly node: Node;
  readonly mapping: MessageMapping;
  /** Inside a `$forEach`: `@` is one non-empty input. */
  readonly inForEach: boolean;
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const cardinality = (el: ElementDef): string => `${el.min}..${el.max === Infinity ? '*' : el.max}`;

/** Edit distance, for "did you mean" (names are short). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function suggestion(t: TypeDef, name: string): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of [...t.elements.keys(), ...[...t.keys.keys()].filter((k) => !k.startsWith('_'))]) {
    const d = distance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/** Text a rule yields without a converter: a v2 path, `@`, a literal, concat(…). */
function yieldsText(e: Expr): boolean {
  switch (e.kind) {
    case 'path':
    case 'current':
    case 'literal':
      return true;
    case 'call':
      return e.name === 'concat';
    case 'alt':
      return e.options.every(yieldsText);
    default:
      return false;
  }
}

class Checker {
  readonly errors: ConfigError[] = [];
  private readonly nodes: Node[] = [];
  private readonly byName = new Map<string, Node>();

  constructor(
    private readonly ix: StructureIndex,
    private readonly mapping: MessageMapping,
  ) {
    const add = (defs: readonly ResourceDef[], parent: Node | null): void => {
      for (const def of defs) {
        const node: Node = { def, parent, order: this.nodes.length };
        this.nodes.push(node);
        if (!this.byName.has(def.name)) this.byName.set(def.name, node);
        add(def.children, node);
      }
    };
    add(mapping.resources, null);
  }

  private error(at: SourcePos | undefined, detail: string, rule: string): void {
    const p = at ?? { file: this.mapping.file, line: 1, col: 1 };
    this.errors.push(new ConfigError(p.file, p.line, p.col, detail, rule));
  }

  run(): void {
    for (const node of this.nodes) this.resource(node);
  }

  private resource(node: Node): void {
    const def = node.def;
    const type = this.ix.isResourceType(def.type) ? this.ix.type(def.type) : undefined;
    const from = def.template ? ` (resource "${def.name}", from template "${def.template}")` : ` (resource "${def.name}")`;
    if (!type) {
      this.error(def.source, `"${def.type}" is not a FHIR R4 resource type${from}`, 'fhir-type');
      return;
    }
    const scope: Scope = { node, mapping: this.mapping, inForEach: false };
    for (const entry of def.map) this.entry(entry, type, def.type, scope, def.source);
    this.required(node, type, from);
  }

  /** A map entry: its path resolved on `owner`, then its rule against the element it reaches. */
  private entry(entry: MapEntry, owner: TypeDef, label: string, scope: Scope, fallback: SourcePos | undefined): void {
    const at = entry.source ?? fallback;
    let t = owner;
    let here = label;
    const written = `${entry.path.join('.')}${entry.choice ? '[x]' : ''}`;
    for (let i = 0; i < entry.path.length - 1; i++) {
      const seg = entry.path[i]!;
      const k = this.key(t, seg, here, at);
      if (!k) return;
      if (k.element.max > 1) {
        this.error(at, `${here}.${seg} repeats (${cardinality(k.element)}): "${written}" cannot reach through it; build it as a list of objects`, 'fhir-cardinality');
        return;
      }
      const child = this.childType(k);
      if (!child) {
        this.error(at, `${here}.${seg} is a ${k.type.code}: "${written}" reaches inside a primitive`, 'fhir-element');
        return;
      }
      t = child;
      here = `${here}.${seg}`;
    }
    const last = entry.path[entry.path.length - 1]!;
    if (entry.choice) {
      const el = t.elements.get(last);
      if (!el) this.error(at, `${here} has no element "${last}[x]"${suggestion(t, last)}`, 'fhir-element');
      else if (!el.choice) this.error(at, `${here}.${last} is not a choice element: write "${last}" without [x]`, 'fhir-choice');
      return;
    }
    const k = this.key(t, last, here, at);
    if (!k) return;
    this.rule(entry.rule, { owner: t, key: last, k, label: `${here}.${last}` }, scope, at);
  }

  /** A JSON name on a type: an element, or a choice element with its type (deceasedDateTime). */
  private key(t: TypeDef, name: string, label: string, at: SourcePos | undefined): KeyDef | undefined {
    const k = t.keys.get(name);
    // `_birthDate` (a primitive's id and extensions) only when written with its underscore.
    if (k && (!k.primitiveExtension || name.startsWith('_'))) return k;
    const el = t.elements.get(name);
    if (el?.choice) {
      const names = el.types.map((ty) => `${name}${capitalise(ty.code)}`);
      this.error(at, `${label}.${name}[x] is a choice element: name the type (${names.slice(0, 4).join(', ')}${names.length > 4 ? ' …' : ''}) or write "${name}[x]" with a converter that names it`, 'fhir-choice');
    } else {
      this.error(at, `${label} has no element "${name}"${suggestion(t, name)}`, 'fhir-element');
    }
    return undefined;
  }

  private childType(k: KeyDef): TypeDef | undefined {
    if (this.ix.isPrimitive(k.type.code)) return undefined;
    return k.element.backbone ?? this.ix.type(k.type.code);
  }

  /** A rule filling a whole element (an array for a repeating one). */
  private rule(rule: Rule, target: Target, scope: Scope, at: SourcePos | undefined): void {
    const el = target.k.element;
    // `element: []` says "nothing here": how a resource drops an entry its template sets.
    if (rule.kind === 'list' && rule.items.length === 0) return;
    const isList = rule.kind === 'list' || (rule.kind === 'ref' && rule.many) || (rule.kind === 'build' && rule.forEach !== undefined);
    if (isList && el.max <= 1) {
      const what = rule.kind === 'list' ? 'a YAML list' : rule.kind === 'ref' ? '$refs' : '$forEach';
      this.error(at, `${target.label} takes one value (${cardinality(el)}) but ${what} gives a list`, 'fhir-cardinality');
      return;
    }
    if (rule.kind === 'list') {
      for (const item of rule.items) this.item(item, target, scope, at);
      return;
    }
    const constArray = rule.kind === 'const' && Array.isArray(rule.value);
    if (el.max > 1 && !constArray) {
      const what = rule.kind === 'ref' || (rule.kind === 'build' && rule.forEach !== undefined) ? `[{ ${rule.kind === 'ref' ? '$refs' : '$forEach'}: … }]` : '[ … ]';
      this.error(at, `${target.label} repeats (${cardinality(el)}): write its rule as a YAML list (${what}) so it gives an array`, 'fhir-cardinality');
      return;
    }
    this.value(rule, target, scope, at, false);
  }

  /** One item of a YAML list: each value it yields is one element of the array. */
  private item(rule: Rule, target: Target, scope: Scope, at: SourcePos | undefined): void {
    if (rule.kind === 'list') {
      for (const item of rule.items) this.item(item, target, scope, at);
      return;
    }
    if (rule.kind === 'const' && Array.isArray(rule.value)) {
      this.error(at, `${target.label}: a $const list inside a YAML list would put an array inside the array; list the items instead`, 'fhir-cardinality');
      return;
    }
    this.value(rule, target, scope, at, true);
  }

  /** A rule yielding values of the element's type. */
  private value(rule: Rule, target: Target, scope: Scope, at: SourcePos | undefined, inList: boolean): void {
    const code = target.k.type.code;
    switch (rule.kind) {
      case 'const': {
        // As it will sit in the Bundle: an item of an array, or the element's whole value.
        const value = inList && target.k.element.max > 1 ? [rule.value] : rule.value;
        for (const p of validateElementValue(target.owner, target.key, value, target.label)) {
          const where = p.path === target.label || p.path === `${target.label}[0]` ? '' : ` at ${p.path.replace(`${target.label}[0]`, target.label)}`;
          this.error(at, `$const for ${target.label}${where}: ${p.message}`, 'fhir-const');
        }
        return;
      }
      case 'ref': {
        if (code !== 'Reference') {
          this.error(at, `${rule.many ? '$refs' : '$ref'} goes into ${target.label}, which is a ${code}, not a Reference`, 'fhir-reference');
          return;
        }
        if (rule.name === '*') return;
        const node = this.byName.get(rule.name);
        if (!node) {
          this.error(at, `${rule.many ? '$refs' : '$ref'}: no resource named "${rule.name}" in mapping ${this.mapping.id} (resources: ${[...this.byName.keys()].join(', ')})`, 'fhir-reference');
          return;
        }
        const allowed = target.k.type.targets;
        if (allowed && !allowed.includes(node.def.type)) {
          this.error(at, `${rule.many ? '$refs' : '$ref'}: ${rule.name} is of type ${node.def.type}, but ${target.label} allows Reference(${allowed.join(' | ')})`, 'fhir-reference');
        }
        return;
      }
      case 'expr':
        if (!this.ix.isPrimitive(code) && yieldsText(rule.expr)) {
          this.error(at, `${target.label} is a ${code}, but "${rule.source}" gives text: convert it (e.g. "${rule.source} | ${code === 'CodeableConcept' ? 'cwe' : code === 'Identifier' ? 'cx' : 'text'}") or build the object`, 'fhir-type');
        }
        return;
      case 'first':
        for (const r of rule.rules) {
          if (r.kind === 'list') for (const item of r.items) this.value(item, target, scope, at, inList);
          else this.value(r, target, scope, at, inList);
        }
        return;
      case 'list':
        for (const item of rule.items) this.item(item, target, scope, at);
        return;
      case 'object':
      case 'build': {
        const child = this.childType(target.k);
        if (!child) {
          this.error(at, `${target.label} is a ${code}: it takes a value, not an object of elements`, 'fhir-type');
          return;
        }
        const inner: Scope = { ...scope, inForEach: scope.inForEach || (rule.kind === 'build' && rule.forEach !== undefined) };
        for (const e of rule.map) this.entry(e, child, target.label, inner, at);
        this.requiredInObject(rule.map, child, target.label, at);
        return;
      }
    }
  }

  /**
   * Inside an object a rule builds: a required element no entry sets would be missing from every
   * object built. One that some entry may set is left to the per-Bundle validation, which names
   * the element when a message leaves it out (`required:` lists top-level elements only).
   */
  private requiredInObject(map: MapNode, t: TypeDef, label: string, at: SourcePos | undefined): void {
    for (const el of t.elements.values()) {
      if (el.min < 1 || this.entriesFor(map, t, el).length > 0) continue;
      this.error(at, `${label}.${el.name}${el.choice ? '[x]' : ''} is required (${cardinality(el)}) but this object never sets it`, 'fhir-required');
    }
  }

  private entriesFor(map: MapNode, t: TypeDef, el: ElementDef): MapEntry[] {
    return map.filter((e) => {
      const first = e.path[0]!;
      if (e.choice && e.path.length === 1) return el.choice && first === el.name;
      return t.keys.get(first)?.element === el;
    });
  }

  /**
   * The resource's required elements (min ≥ 1): each needs a rule that always yields a value, or
   * its name in the resource's `required:` list, which reports a message that lacks it. No rule
   * at all is an error either way: every Bundle would miss it.
   */
  private required(node: Node, t: TypeDef, from: string): void {
    const def = node.def;
    const listed = new Set(def.required);
    for (const name of def.required) {
      const base = name.endsWith('[x]') ? name.slice(0, -3) : name;
      if (!t.elements.has(base)) this.error(def.source, `required: lists "${name}", which is not an element of ${def.type}${suggestion(t, base)}${from}`, 'fhir-required');
    }
    const scope: Scope = { node, mapping: this.mapping, inForEach: false };
    for (const el of t.elements.values()) {
      if (el.min < 1) continue;
      const name = el.choice ? `${el.name}[x]` : el.name;
      const entries = this.entriesFor(def.map, t, el);
      if (entries.length === 0) {
        this.error(def.source, `${def.type}.${name} is required (${cardinality(el)}) but no map entry sets it${from}`, 'fhir-required');
        continue;
      }
      if (listed.has(el.name) || listed.has(name)) continue;
      if (entries.some((e) => !e.choice && this.alwaysYields(e.rule, scope))) continue;
      this.error(
        entries[0]!.source ?? def.source,
        `${def.type}.${name} is required (${cardinality(el)}) but its rule yields nothing for some messages; end it with a constant ($first: [ …, { $const: … } ]) or add "${name}" to the resource's required: list so such a message is reported${from}`,
        'fhir-required',
      );
    }
  }

  /**
   * Whether a rule yields a value for every message that builds the resource. Honest means
   * judged from the mapping alone, never from what v2 promises: a v2 field read (`PID-3 | cx`)
   * may be empty in any message, and a `$when` may be false, so both count as conditional. What
   * always yields: a `$const`; a literal; `@` inside `$forEach` (its inputs are never empty); a
   * `$first` or a list with an item that always yields; an object with an entry (other than an
   * extension's url) that always yields; a `$ref` to a resource always built before this one's
   * map is evaluated (see `alwaysBuiltFor`), and `$refs: "*"` when such a resource exists.
   */
  private alwaysYields(rule: Rule, scope: Scope): boolean {
    if ('when' in rule && rule.when) return false;
    switch (rule.kind) {
      case 'const':
        return rule.value !== '' && rule.value !== null && !(Array.isArray(rule.value) && rule.value.length === 0) && !(typeof rule.value === 'object' && rule.value !== null && Object.keys(rule.value).length === 0);
      case 'expr':
        return (rule.expr.kind === 'literal' && rule.expr.value !== '') || (rule.expr.kind === 'current' && rule.expr.component === undefined && scope.inForEach);
      case 'ref':
        if (rule.name === '*') return this.nodes.some((n) => n !== scope.node && this.alwaysBuiltFor(n, scope.node, true));
        return this.nodes.some((n) => n.def.name === rule.name && this.alwaysBuiltFor(n, scope.node, false));
      case 'first':
        return rule.rules.some((r) => this.alwaysYields(r, scope));
      case 'list':
        return rule.items.some((r) => this.alwaysYields(r, scope));
      case 'object':
        return rule.map.some((e) => !(e.path.length === 1 && e.path[0] === 'url') && this.alwaysYields(e.rule, scope));
      case 'build':
        return rule.forEach === undefined && rule.map.some((e) => !(e.path.length === 1 && e.path[0] === 'url') && this.alwaysYields(e.rule, scope));
    }
  }

  /**
   * Whether resource `t` exists whenever `r` is built, by the time r's map is evaluated.
   * Resources are registered depth first before their children are built, and a resource's map
   * is evaluated after its children: so t is there if it is r itself or an ancestor (registered
   * already), or is built unconditionally (no from/forEach/when down from the nearest resource
   * the two share) and comes before r in that order or below r. `complete` asks for t's own map
   * to be done too (what `$refs: "*"` lists), which rules out r's ancestors.
   */
  private alwaysBuiltFor(t: Node, r: Node, complete: boolean): boolean {
    const ancestors = new Set<Node>();
    for (let n: Node | null = r; n; n = n.parent) ancestors.add(n);
    if (ancestors.has(t)) return !complete && true;
    // Down from the shared ancestor to t, every resource is built unconditionally.
    for (let n: Node | null = t; n && !ancestors.has(n); n = n.parent) {
      if (n.def.from !== undefined || n.def.forEach !== undefined || n.def.when !== undefined) return false;
    }
    let below = false;
    for (let n: Node | null = t.parent; n; n = n.parent) if (n === r) below = true;
    return below || t.order < r.order;
  }
}

/**
 * Every mistake in what the mappings build, as ConfigErrors with file:line:col. A template used
 * by several mappings is reported once.
 */
export function checkMappingTargets(mappings: readonly MessageMapping[], index: StructureIndex = structureIndex()): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const m of mappings) {
    const c = new Checker(index, m);
    c.run();
    for (const e of c.errors) {
      if (seen.has(e.message)) continue;
      seen.add(e.message);
      out.push(e);
    }
  }
  return out;
}
