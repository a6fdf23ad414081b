/**
 * The per-Bundle validator the transform runs on every message: everything validateBundle checks
 * (it stays, as the referee in the tests), compiled once from the R4 definitions into a table per
 * type — JSON key → element, type, cardinality, required codes, invariants — and walked once
 * over the Bundle. Nothing is allocated per element beyond the problems found: the path is a
 * stack of keys and indexes turned into text only when a problem is reported. A Bundle is first
 * put to checks generated per type from the same tables (see "The fast path" below), which only
 * say whether the walk would find anything: a valid Bundle costs that much and no more.
 *
 * What it checks, per value: unknown elements; single value vs array; cardinality; required
 * elements; one type per choice element; JSON types; primitive formats (R4's, e.g. a dateTime
 * with a time needs a zone; 32-bit integers); no null, no empty string, array or object; required
 * code bindings; the R4 invariants of each element, datatype and resource (invariants.ts);
 * reference forms and target types. Per Bundle: a transaction with fullUrls that are unique and
 * well-formed, urn:uuid references that resolve, request method/url that agree with the entry.
 *
 * Problems carry element paths and rule names, never values (no PHI).
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { compileInvariant, type InvariantCheck, type InvariantContext } from './invariants.js';
import { structureIndex, type ConstraintDef, type ElementDef, type StructureIndex, type TypeDef } from './structure.js';
import type { ValidationProblem } from './validate.js';

/**
 * A problem with the rule that failed: an invariant's key ("ext-1", "per-1") or one of
 * resource-type, unknown-element, cardinality, required, choice, json-type, format, empty, null,
 * binding, reference, reference-target, transaction.
 */
export interface FastValidationProblem extends ValidationProblem {
  readonly rule: string;
}

// ---------------------------------------------------------------------------------------------
// Primitive formats: @medplum/core's checks, tightened to R4's where R4 is stricter.

const STRING_CHARS = /^[\r\n\t\u0020-\uFFFF]+$/;
const FORMATS: Readonly<Record<string, RegExp>> = {
  base64Binary: /^([A-Za-z\d+/]{4})*([A-Za-z\d+/]{2}==|[A-Za-z\d+/]{3}=)?$/,
  canonical: /^\S*$/,
  code: /^[^\s]+( [^\s]+)*$/,
  date: /^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\d|3[0-1]))?)?$/,
  // R4: a time needs minutes, seconds and a zone.
  dateTime:
    /^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\d|3[0-1])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$/,
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  instant:
    /^(\d(\d(\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2]\d|3[0-1])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/,
  markdown: STRING_CHARS,
  oid: /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/,
  string: STRING_CHARS,
  time: /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?$/,
  uri: /^\S*$/,
  url: /^\S*$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};
const TIME_WITHOUT_ZONE = /T[^Z+-]*$/;


type JsType = 'string' | 'number' | 'boolean';
const JS_TYPES: Readonly<Record<string, JsType>> = {
  base64Binary: 'string',
  boolean: 'boolean',
  canonical: 'string',
  code: 'string',
  date: 'string',
  dateTime: 'string',
  decimal: 'number',
  id: 'string',
  instant: 'string',
  integer: 'number',
  markdown: 'string',
  oid: 'string',
  positiveInt: 'number',
  string: 'string',
  time: 'string',
  unsignedInt: 'number',
  uri: 'string',
  url: 'string',
  uuid: 'string',
  xhtml: 'string',
};
const MAX_INT = 2147483647;
const MAX_STRING = 1024 * 1024;

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Relative (Type/id[/_history/v]), conditional (Type?query), contained (#id), or any absolute URI. */
const REFERENCE_FORM = /^(?:[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?|[A-Z][A-Za-z]+\?\S+|#\S*|[A-Za-z][A-Za-z0-9+.-]*:\S+)$/;
const REFERENCE_TYPE = /^([A-Z][A-Za-z]+)[/?]/;

// ---------------------------------------------------------------------------------------------
// The compiled tables.

const enum Kind {
  Primitive,
  Complex,
  /** An abstract Resource slot (Bundle.entry.resource, contained): the resourceType decides. */
  AnyResource,
}

interface Slot {
  readonly key: string;
  readonly element: ElementDef;
  readonly kind: Kind;
  readonly isArray: boolean;
  readonly max: number;
  /** Primitive: its FHIR code ("dateTime"), its JSON type and format. */
  readonly primitive: string;
  readonly jsType: JsType | undefined;
  readonly format: RegExp | undefined;
  readonly codes: ReadonlySet<string> | null;
  readonly codeList: string;
  /** Complex: the type walked into (resolved on first use, types refer to each other). */
  childDef: TypeDef | null;
  child: Compiled | null;
  /** Bit of this choice element within its parent, 0 when not a choice. */
  readonly choiceBit: number;
  readonly isReference: boolean;
  readonly targets: readonly string[] | null;
  /** The element's invariants plus its type's (per-1 on every Period) and its profile's. */
  readonly invariants: readonly CompiledInvariant[];
  /** `_given`: the extension part of a primitive array, whose nulls stand for "no extension". */
  readonly primitiveExtension: boolean;
  /** A primitive array's other half (`_given` for `given`, `given` for `_given`), '' otherwise. */
  readonly partner: string;
  /** Bit of the required element this key satisfies within its parent, 0 when not required. */
  readonly requiredBit: number;
}

interface CompiledInvariant {
  readonly key: string;
  readonly message: string;
  readonly check: InvariantCheck;
}

interface Required {
  readonly name: string;
  /** The JSON keys that satisfy it: one, or one per type of a choice element, with their `_` forms. */
  readonly keys: readonly string[];
}

interface Compiled {
  readonly def: TypeDef;
  /** All requiredBit values of the slots or'ed: an object that sets them all lacks no required element. */
  readonly requiredMask: number;
  readonly slots: ReadonlyMap<string, Slot>;
  /** The same slots in a prototype-less object: the walk's lookup per key. */
  readonly byKey: Readonly<Record<string, Slot | undefined>>;
  readonly required: readonly Required[];
  readonly isResource: boolean;
  /** A resource's own invariants, checked on the resource (dom-2, obs-6 …). */
  readonly invariants: readonly CompiledInvariant[];
}

class Compiler {
  private readonly compiled = new Map<TypeDef, Compiled>();
  constructor(readonly index: StructureIndex) {}

  get(def: TypeDef): Compiled {
    let c = this.compiled.get(def);
    if (c) return c;
    const choiceBits = new Map<ElementDef, number>();
    const slots = new Map<string, Slot>();
    const byKey = Object.create(null) as Record<string, Slot | undefined>;
    // One bit per required element (at most 31 per type: beyond that, the walk checks them one by one).
    const requiredBits = new Map<ElementDef, number>();
    for (const el of def.elements.values()) if (el.min >= 1 && requiredBits.size < 31) requiredBits.set(el, 1 << requiredBits.size);
    let requiredMask = 0;
    for (const bit of requiredBits.values()) requiredMask |= bit;
    if (requiredBits.size < [...def.elements.values()].filter((el) => el.min >= 1).length) requiredMask = -1;
    c = {
      def,
      requiredMask,
      slots,
      byKey,
      required: [],
      isResource: def.kind === 'resource',
      invariants: def.kind === 'resource' ? this.invariants(def.constraints, def.name) : [],
    };
    this.compiled.set(def, c);
    for (const [key, k] of def.keys) {
      const el = k.element;
      let bit = 0;
      // valueString beside _valueString is one choice, not two.
      if (el.choice && !k.primitiveExtension) {
        bit = choiceBits.get(el) ?? 1 << choiceBits.size;
        choiceBits.set(el, bit);
      }
      const code = k.type.code;
      const primitive = !k.primitiveExtension && this.index.isPrimitive(code);
      const anyResource = !primitive && !k.primitiveExtension && (code === 'Resource' || code === 'DomainResource');
      const childDef = k.primitiveExtension ? (this.index.type('Element') ?? null) : primitive || anyResource ? null : (el.backbone ?? this.index.type(code) ?? null);
      const typeConstraints = primitive || anyResource || el.backbone ? [] : (childDef?.constraints ?? []);
      const profileConstraints = k.type.profile ? (this.index.profile(k.type.profile)?.constraints ?? []) : [];
      const seen = new Set<string>();
      const constraints = [...el.constraints, ...typeConstraints, ...profileConstraints].filter((x) => !seen.has(x.key) && seen.add(x.key));
      const slot: Slot = {
        key,
        element: el,
        kind: primitive ? Kind.Primitive : anyResource ? Kind.AnyResource : Kind.Complex,
        // A primitive's extension array lines up with its values.
        isArray: el.max > 1,
        max: el.max,
        primitive: primitive ? code : '',
        jsType: primitive ? JS_TYPES[code] : undefined,
        format: primitive ? FORMATS[code] : undefined,
        codes: k.codes,
        codeList: k.codes ? [...k.codes].join(', ') : '',
        childDef,
        child: null,
        choiceBit: bit,
        isReference: code === 'Reference',
        targets: k.type.targets,
        invariants: this.invariants(constraints, el.backbone ? backboneTypeName(el.path) : code),
        primitiveExtension: k.primitiveExtension,
        partner: el.max > 1 && (primitive || k.primitiveExtension) ? (k.primitiveExtension ? key.slice(1) : `_${key}`) : '',
        requiredBit: requiredBits.get(el) ?? 0,
      };
      slots.set(key, slot);
      byKey[key] = slot;
    }
    const required: Required[] = [];
    for (const el of def.elements.values()) {
      if (el.min < 1) continue;
      const keys = [...def.keys.keys()].filter((key) => def.keys.get(key)!.element === el);
      required.push({ name: el.choice ? `${el.name}[x]` : el.name, keys });
    }
    (c.required as Required[]).push(...required);
    return c;
  }

  private invariants(list: readonly ConstraintDef[], type: string): CompiledInvariant[] {
    return list.map((x) => ({ key: x.key, message: `Constraint ${x.key} not met: ${x.human}`, check: compileInvariant(x, type) }));
  }

  child(slot: Slot): Compiled | null {
    if (slot.child) return slot.child;
    if (!slot.childDef) return null;
    slot.child = this.get(slot.childDef);
    return slot.child;
  }

  resource(type: string): Compiled | null {
    if (!this.index.isResourceType(type)) return null;
    const def = this.index.type(type);
    return def ? this.get(def) : null;
  }
}

/** @medplum/core's name for a backbone type: "Observation.referenceRange" → "ObservationReferenceRange". */
function backboneTypeName(path: string): string {
  return path
    .split('.')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

let compiler: Compiler | undefined;
function getCompiler(): Compiler {
  return (compiler ??= new Compiler(structureIndex()));
}

/** Builds the tables now (about a second) instead of on the first Bundle. */
export function loadFastValidator(): void {
  const c = getCompiler();
  for (const t of ['Bundle', 'Patient', 'Encounter', 'Observation']) c.resource(t);
}

// ---------------------------------------------------------------------------------------------
// The walk.

function countKeys(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

class Walk implements InvariantContext {
  readonly out: FastValidationProblem[] = [];
  /** The path as a stack: keys (strings) and array indexes (numbers). */
  private readonly segs: (string | number)[] = [];
  private depth = 0;
  resource: object | undefined = undefined;
  root: object | undefined = undefined;

  constructor(
    readonly compiler: Compiler,
    private readonly base: string,
    /** fullUrl → resourceType of the Bundle's entries; null outside a Bundle. */
    readonly fullUrls: ReadonlyMap<string, string> | null,
    /** urn:uuid fullUrls that are not lowercase 8-4-4-4-12 UUIDs (reported on the entry). */
    readonly badUrns: ReadonlySet<string> | null = null,
  ) {}

  push(seg: string | number): void {
    this.segs[this.depth++] = seg;
  }
  pop(): void {
    this.depth--;
  }

  path(extra?: string): string {
    let p = this.base;
    for (let i = 0; i < this.depth; i++) {
      const s = this.segs[i]!;
      p += typeof s === 'number' ? `[${s}]` : `.${s}`;
    }
    return extra === undefined ? p : `${p}.${extra}`;
  }

  report(rule: string, message: string, extra?: string): void {
    this.out.push({ path: this.path(extra), message, rule });
  }

  /** Walks an object's keys; returns how many it has (0: an empty object). */
  object(obj: Record<string, unknown>, t: Compiled): number {
    let choices = 0;
    let present = 0;
    let keys = 0;
    for (const key in obj) {
      keys++;
      const v = obj[key];
      const slot = t.byKey[key];
      if (slot === undefined) {
        if (key === 'resourceType' && t.isResource) continue;
        this.report('unknown-element', 'Unknown element (not in the R4 definition of its parent)', key);
        continue;
      }
      if (slot.choiceBit !== 0) {
        if ((choices & slot.choiceBit) !== 0) this.report('choice', `Several types given for one choice element: ${slot.element.name}[x]`, key);
        choices |= slot.choiceBit;
      }
      if (v !== null && v !== undefined) present |= slot.requiredBit;
      this.push(key);
      this.property(obj, key, v, slot);
      this.pop();
    }
    // Every required element seen with a value: nothing to look up again.
    if (present === t.requiredMask) return keys;
    const required = t.required;
    for (let i = 0; i < required.length; i++) {
      const r = required[i]!;
      let found = false;
      for (let j = 0; j < r.keys.length && !found; j++) {
        const v = obj[r.keys[j]!];
        found = v !== undefined && v !== null;
      }
      if (!found) this.report('required', 'Missing required property', r.name);
    }
    return keys;
  }

  property(obj: Record<string, unknown>, key: string, v: unknown, slot: Slot): void {
    if (v === null) return this.report('null', 'Invalid null value');
    if (Array.isArray(v)) {
      if (!slot.isArray) return this.report('cardinality', 'Expected single value for property');
      if (v.length === 0) return this.report('empty', 'Empty array (FHIR JSON leaves an element out instead)');
      if (v.length > slot.max) this.report('cardinality', `Invalid number of values: expected ${slot.element.min}..${slot.max}, but found ${v.length}`);
      // In a primitive array, null stands for "only an extension here" when `_key` has one.
      const partner = slot.partner !== '' ? obj[slot.partner] : undefined;
      for (let i = 0; i < v.length; i++) {
        const item = v[i];
        this.push(i);
        if (item === null || item === undefined) {
          const other = Array.isArray(partner) ? partner[i] : undefined;
          if (other === null || other === undefined) this.report('null', item === null ? 'Invalid null value' : 'Invalid undefined value');
        } else {
          this.value(item, slot);
        }
        this.pop();
      }
      return;
    }
    if (slot.isArray) return this.report('cardinality', 'Expected array of values for property');
    this.value(v, slot);
  }

  private value(v: unknown, slot: Slot): void {
    switch (slot.kind) {
      case Kind.Primitive:
        return this.primitive(v, slot);
      case Kind.AnyResource:
        return this.resourceValue(v, slot.key === 'contained');
      default: {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          return this.report('json-type', `Invalid JSON type: expected object, but got ${Array.isArray(v) ? 'array' : typeof v}`);
        }
        const o = v as Record<string, unknown>;
        // An empty object is reported first, then walked (the required elements it lacks are
        // named too). Its emptiness is learnt from the walk, so the problem goes in at `at`.
        const at = this.out.length;
        const inv = slot.invariants;
        for (let i = 0; i < inv.length; i++) {
          const c = inv[i]!;
          if (!c.check(o, this)) this.report(c.key, c.message);
        }
        if (slot.isReference) this.reference(o, slot);
        const child = slot.child ?? this.compiler.child(slot);
        const keys = child ? this.object(o, child) : countKeys(o);
        if (keys === 0) this.out.splice(at, 0, { path: this.path(), message: 'Invalid empty non-primitive value', rule: 'empty' });
      }
    }
  }

  private primitive(v: unknown, slot: Slot): void {
    const js = slot.jsType;
    if (js !== undefined && typeof v !== js) {
      return this.report('json-type', `Invalid JSON type: expected ${js}, but got ${Array.isArray(v) ? 'array' : typeof v}`);
    }
    if (typeof v === 'string') {
      if (v === '') return this.report('empty', 'Empty string (FHIR JSON leaves an element out instead)');
      if (v.length > MAX_STRING) return this.report('format', 'String cannot be larger than 1 MB');
      // Whitespace only? Only a string that starts with whitespace can be (trim copies).
      if (v.charCodeAt(0) <= 32 || v.charCodeAt(0) >= 0x80) {
        if (v.trim() === '') return this.report('format', 'String must contain non-whitespace content');
      }
      const f = slot.format;
      if (f !== undefined && !f.test(v)) {
        if (slot.primitive === 'dateTime' && v.includes('T') && TIME_WITHOUT_ZONE.test(v)) {
          return this.report('format', 'dateTime with a time but no time zone (R4 requires Z or ±hh:mm)');
        }
        return this.report('format', `Invalid ${slot.primitive} format`);
      }
      if (slot.codes !== null && !slot.codes.has(v)) this.report('binding', `Code not in the required value set (allowed: ${slot.codeList})`);
      return;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return this.report('format', 'Invalid numeric value');
      const p = slot.primitive;
      if (p === 'integer' || p === 'positiveInt' || p === 'unsignedInt') {
        if (!Number.isInteger(v)) return this.report('format', 'Expected number to be an integer');
        if (v > MAX_INT || v < -MAX_INT - 1) return this.report('format', 'Integer outside the 32-bit range R4 allows');
        if (p === 'positiveInt' && v <= 0) return this.report('format', 'Expected number to be positive');
        if (p === 'unsignedInt' && v < 0) return this.report('format', 'Expected number to be non-negative');
      }
    }
  }

  /** A resource: an entry's, a contained one (whose %rootResource stays its container's), or the root. */
  resourceValue(v: unknown, contained = false): void {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.report('json-type', 'Invalid JSON type: expected a resource');
    const r = v as Record<string, unknown>;
    const type = r['resourceType'];
    const t = typeof type === 'string' ? this.compiler.resource(type) : null;
    if (!t) return this.report('resource-type', 'Unknown or missing resourceType', 'resourceType');
    const outer = this.resource;
    const outerRoot = this.root;
    this.resource = r;
    if (!contained) this.root = r;
    const inv = t.invariants;
    for (let i = 0; i < inv.length; i++) {
      const c = inv[i]!;
      if (!c.check(r, this)) this.report(c.key, c.message);
    }
    this.object(r, t);
    this.resource = outer;
    this.root = outerRoot;
  }

  private reference(o: Record<string, unknown>, slot: Slot): void {
    const ref = o['reference'];
    if (typeof ref !== 'string' || ref === '') return;
    let target: string | undefined;
    if (ref.startsWith('urn:uuid:')) {
      // Equal to a fullUrl that passed the UUID check: well-formed without testing it again.
      target = this.fullUrls?.get(ref);
      if (target === undefined || this.badUrns?.has(ref)) {
        if (!UUID_URN.test(ref)) return this.report('reference', 'urn:uuid reference is not a lowercase 8-4-4-4-12 UUID', 'reference');
        if (this.fullUrls === null) return;
        if (target === undefined) return this.report('reference', 'urn:uuid reference matches no entry fullUrl in this Bundle', 'reference');
      }
    } else {
      if (!REFERENCE_FORM.test(ref)) {
        return this.report('reference', 'Reference is neither Type/id, Type?search, #contained nor an absolute URL (urn:uuid:, http:)', 'reference');
      }
      const m = REFERENCE_TYPE.exec(ref);
      target = m && this.compiler.index.isResourceType(m[1]!) ? m[1] : undefined;
    }
    const allowed = slot.targets;
    if (target && allowed !== null && !allowed.includes(target)) {
      this.report('reference-target', `Reference targets ${target}; this element allows ${allowed.join(', ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fast path: per type, a yes/no check generated once from the same tables.
//
// The walk above visits every key through a lookup in its type's table and keeps a path; that
// costs about as much per element as the conversion that built it. A Bundle is almost always
// valid, and then only "no problem" matters. So each type gets a function, generated from its
// table as JavaScript source (as JSON Schema validators such as Ajv do), that reads each of its
// keys by name (V8 then caches the object layouts engine output repeats), checks the value with
// code for exactly that element (the primitive's format, the required codes, the invariants,
// the child type's function), counts the keys it knows and compares with the object's own count
// (an unknown key makes them differ). It answers true only where the walk reports nothing;
// anything unusual (a null in a primitive array, a urn:uuid fullUrl in the wrong form) answers
// false, and the walk then decides and names the problems. The source is made from the R4
// definitions only (keys quoted with JSON.stringify), never from a message.

/** true: the walk would report nothing for this object. */
type Check = (o: Record<string, unknown>, ctx: CheckContext) => boolean;
interface Holder {
  f: Check;
}

class CheckContext implements InvariantContext {
  resource: object | undefined = undefined;
  root: object | undefined = undefined;
  constructor(
    readonly fullUrls: ReadonlyMap<string, string> | null,
    readonly badUrns: ReadonlySet<string> | null,
  ) {}
}

/** The helpers generated code calls (one object, so the source names them `H.x`). */
interface Helpers {
  str(v: unknown, format: RegExp | undefined): boolean;
  int(v: unknown, min: number): boolean;
  dec(v: unknown): boolean;
  isObj(v: unknown): boolean;
  res(v: unknown, ctx: CheckContext, contained: boolean): boolean;
  ref(o: Record<string, unknown>, targets: readonly string[] | null, ctx: CheckContext): boolean;
  generic(o: Record<string, unknown>, key: string, v: unknown, slot: Slot, ctx: CheckContext): boolean;
}

function strOk(v: unknown, format: RegExp | undefined): boolean {
  if (typeof v !== 'string' || v === '' || v.length > MAX_STRING) return false;
  const c0 = v.charCodeAt(0);
  if ((c0 <= 32 || c0 >= 0x80) && v.trim() === '') return false;
  return format === undefined || format.test(v);
}

/** integer (min -2^31), unsignedInt (min 0), positiveInt (min 1). */
function intOk(v: unknown, min: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v <= MAX_INT && v >= min;
}

class Checks {
  private readonly holders = new Map<Compiled, Holder>();
  /** resourceType → its table and check, found once per type rather than per resource. */
  private readonly resources = new Map<string, { readonly t: Compiled; readonly h: Holder } | null>();
  private readonly helpers: Helpers;

  constructor(private readonly compiler: Compiler) {
    const index = compiler.index;
    this.helpers = {
      str: strOk,
      int: intOk,
      dec: (v) => typeof v === 'number' && Number.isFinite(v),
      isObj: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      res: (v, ctx, contained) => this.resource(v, ctx, contained),
      ref: (o, targets, ctx) => {
        const ref = o['reference'];
        if (typeof ref !== 'string' || ref === '') return true;
        let target: string | undefined;
        if (ref.startsWith('urn:uuid:')) {
          // Resolves to an entry whose fullUrl passed the UUID check; otherwise the walk decides.
          target = ctx.fullUrls?.get(ref);
          if (target === undefined || ctx.fullUrls === null || ctx.badUrns?.has(ref)) return false;
        } else {
          if (!REFERENCE_FORM.test(ref)) return false;
          const m = REFERENCE_TYPE.exec(ref);
          target = m && index.isResourceType(m[1]!) ? m[1] : undefined;
        }
        return !target || targets === null || targets.includes(target);
      },
      generic: (o, key, v, slot, ctx) => {
        const w = new Walk(compiler, '', ctx.fullUrls, ctx.badUrns);
        w.resource = ctx.resource;
        w.root = ctx.root;
        w.property(o, key, v, slot);
        return w.out.length === 0;
      },
    };
  }

  /** A Bundle, as validateBundleFast's walk would see it. */
  bundle(b: Record<string, unknown>, fullUrls: ReadonlyMap<string, string>, badUrns: ReadonlySet<string> | null): boolean {
    return this.resource(b, new CheckContext(fullUrls, badUrns), false);
  }

  private resource(v: unknown, ctx: CheckContext, contained: boolean): boolean {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const r = v as Record<string, unknown>;
    const type = r['resourceType'];
    if (typeof type !== 'string') return false;
    let found = this.resources.get(type);
    if (found === undefined) {
      const compiled = this.compiler.resource(type);
      found = compiled ? { t: compiled, h: this.holder(compiled) } : null;
      // Only the R4 resource types are kept: a made-up resourceType must not grow the map.
      if (compiled) this.resources.set(type, found);
    }
    if (found === null) return false;
    const t = found.t;
    const outer = ctx.resource;
    const outerRoot = ctx.root;
    ctx.resource = r;
    if (!contained) ctx.root = r;
    let ok = true;
    const inv = t.invariants;
    for (let i = 0; i < inv.length && ok; i++) ok = inv[i]!.check(r, ctx);
    if (ok) ok = found.h.f(r, ctx);
    ctx.resource = outer;
    ctx.root = outerRoot;
    return ok;
  }

  /** The check of a type, generated on its first use (types refer to each other). */
  private holder(t: Compiled): Holder {
    let h = this.holders.get(t);
    if (h) return h;
    const made: Holder = {
      f: (o, ctx) => {
        made.f = this.generate(t);
        return made.f(o, ctx);
      },
    };
    this.holders.set(t, made);
    return made;
  }

  private generate(t: Compiled): Check {
    const consts: unknown[] = [];
    const constant = (x: unknown): string => {
      consts.push(x);
      return `C${consts.length - 1}`;
    };
    const counters: string[] = [];
    const counter = new Map<string, string>();
    const counterOf = (what: string): string => {
      let name = counter.get(what);
      if (!name) {
        name = `k${counter.size}`;
        counter.set(what, name);
        counters.push(name);
      }
      return name;
    };
    const cases: string[] = [];
    const choices: string[] = [];
    const required = new Map<ElementDef, string>();
    // Frequent keys first: a switch over strings tries its cases in order.
    const slots = [...t.slots.values()].sort((a, b) => rank(a) - rank(b));
    for (const slot of slots) {
      const el = slot.element;
      const body: string[] = [];
      if (slot.choiceBit !== 0) {
        const c = counterOf(`choice ${el.name}`);
        if (!choices.includes(c)) choices.push(c);
        body.push(`${c}++;`);
      }
      if (el.min >= 1) {
        const r = counterOf(`required ${el.name}`);
        required.set(el, r);
        body.push(`${r} = 1;`);
      }
      body.push(this.slotCode(slot, constant));
      cases.push(`case ${JSON.stringify(slot.key)}: { ${body.join(' ')} break; }`);
    }
    // The walk skips a resource's resourceType (resource() has checked it); elsewhere it is unknown.
    if (t.isResource) cases.push('case "resourceType": break;');
    const lines: string[] = [
      // Own enumerable keys, as the walk's for-in sees them; one the type does not know: false.
      'for (const key in o) {',
      'm++;',
      'const v = o[key];',
      'switch (key) {',
      ...cases,
      'default: return false;',
      '}',
      '}',
    ];
    // The walk reports an empty object (a resource has its resourceType at least).
    if (!t.isResource) lines.push('if (m === 0) return false;');
    // Required elements the definition has but no key maps to (none in R4) leave the walk to decide.
    for (const el of t.def.elements.values()) if (el.min >= 1 && !required.has(el)) lines.push('return false;');
    for (const c of choices) lines.push(`if (${c} > 1) return false;`);
    for (const r of required.values()) lines.push(`if (${r} === 0) return false;`);
    lines.push('return true;');
    const name = t.def.name.replace(/[^A-Za-z0-9]/g, '_');
    const source = [
      '"use strict";',
      consts.length > 0 ? `const [${consts.map((_, i) => `C${i}`).join(', ')}] = C;` : '',
      `return function check_${name}(o, ctx) {`,
      `let m = 0;${counters.length > 0 ? ` let ${counters.map((c) => `${c} = 0`).join(', ')};` : ''}`,
      ...lines,
      '};',
    ].join('\n');
    return new Function('C', 'H', source)(consts, this.helpers) as Check;
  }

  /** Code for a present key's value `v`: `return false` where the walk would report something. */
  private slotCode(slot: Slot, constant: (x: unknown) => string): string {
    const item = this.itemCode(slot, constant);
    if (item === null) return `if (!H.generic(o, ${JSON.stringify(slot.key)}, v, ${constant(slot)}, ctx)) return false;`;
    if (!slot.isArray) return `if (v === null || v === undefined || Array.isArray(v)) return false; { const x = v; ${item} }`;
    const max = Number.isFinite(slot.max) ? ` || v.length > ${slot.max}` : '';
    // A null item stands for "only an extension here" when `_key` has one: the walk decides.
    return `if (!Array.isArray(v) || v.length === 0${max}) return false; for (let i = 0; i < v.length; i++) { const x = v[i]; if (x === null || x === undefined) return false; ${item} }`;
  }

  /** Code for one item `x` (not null), or null to leave the slot to the walk. */
  private itemCode(slot: Slot, constant: (x: unknown) => string): string | null {
    switch (slot.kind) {
      case Kind.Primitive: {
        let code: string;
        switch (slot.jsType) {
          case 'string':
            // A required binding whose every code passes the format: being one of the codes is enough.
            if (slot.codes !== null && [...slot.codes].every((c) => strOk(c, slot.format))) {
              return `if (typeof x !== "string" || !${constant(slot.codes)}.has(x)) return false;`;
            }
            code = `if (!H.str(x, ${slot.format ? constant(slot.format) : 'undefined'})) return false;`;
            if (slot.codes !== null) code += ` if (!${constant(slot.codes)}.has(x)) return false;`;
            return code;
          case 'boolean':
            return `if (typeof x !== "boolean") return false;`;
          case 'number':
            switch (slot.primitive) {
              case 'integer':
                return `if (!H.int(x, ${-MAX_INT - 1})) return false;`;
              case 'unsignedInt':
                return `if (!H.int(x, 0)) return false;`;
              case 'positiveInt':
                return `if (!H.int(x, 1)) return false;`;
              default:
                return `if (!H.dec(x)) return false;`;
            }
          default:
            return null;
        }
      }
      case Kind.AnyResource:
        return `if (!H.res(x, ctx, ${slot.key === 'contained'})) return false;`;
      default: {
        const parts = ['if (typeof x !== "object" || Array.isArray(x)) return false;'];
        for (const inv of slot.invariants) parts.push(`if (!${constant(inv.check)}(x, ctx)) return false;`);
        if (slot.isReference) parts.push(`if (!H.ref(x, ${constant(slot.targets)}, ctx)) return false;`);
        const child = this.compiler.child(slot);
        if (child) parts.push(`if (!${constant(this.holder(child))}.f(x, ctx)) return false;`);
        else parts.push('{ let m = 0; for (const _ in x) m++; if (m === 0) return false; }');
        return parts.join(' ');
      }
    }
  }
}

/** Order of a key's case: plain elements, then the types of a choice, then `_` extension parts. */
function rank(slot: Slot): number {
  return slot.primitiveExtension ? 2 : slot.choiceBit !== 0 ? 1 : 0;
}

let checks: Checks | undefined;
function getChecks(): Checks {
  return (checks ??= new Checks(getCompiler()));
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Validates one element's value as it would sit in an object of type `owner` under `key` (a
 * constant in a mapping, say): its JSON shape, formats, codes, and everything inside it.
 * Problems are reported from `path` on ("Encounter.status").
 */
export function validateElementValue(owner: TypeDef, key: string, value: unknown, path: string): FastValidationProblem[] {
  const c = getCompiler();
  const slot = c.get(owner).slots.get(key);
  if (!slot) return [{ path, message: 'Unknown element (not in the R4 definition of its parent)', rule: 'unknown-element' }];
  const w = new Walk(c, path, null);
  w.property({ [key]: value }, key, value, slot);
  return w.out;
}

/** Validates one resource against the R4 base definitions (no Bundle: urn:uuid references are not resolved). */
export function validateResourceFast(resource: Resource): FastValidationProblem[] {
  const type = (resource as { resourceType?: unknown }).resourceType;
  const w = new Walk(getCompiler(), typeof type === 'string' ? type : 'Resource', null);
  if (typeof type !== 'string' || !w.compiler.resource(type)) {
    w.out.push({ path: 'resourceType', message: 'Unknown or missing resourceType', rule: 'resource-type' });
    return w.out;
  }
  w.resourceValue(resource);
  return w.out;
}

/** An entry's path, made only for a problem. */
const entryPath = (i: number, rest: string): string => `Bundle.entry[${i}].${rest}`;

/**
 * request.url read as /^([A-Za-z]+)(?:\/([^/?]*))?/ would read it (the type, then the id when a
 * "/" follows), compared in place: no match array and no substrings per entry.
 */
function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
/** Length of the url's leading run of letters (the type it addresses). */
function urlTypeLength(url: string): number {
  let i = 0;
  while (i < url.length && isLetter(url.charCodeAt(i))) i++;
  return i;
}
/** Whether `url` addresses `type`: its leading letters are exactly `type`. */
function urlAddresses(url: string, typeLength: number, type: string): boolean {
  return typeLength > 0 && typeLength === type.length && url.startsWith(type);
}
/** After "Type/": whether the id part (up to "/" or "?") differs from `id`; false when there is no "/". */
function urlIdDiffers(url: string, typeLength: number, id: unknown): boolean {
  if (typeLength === 0 || url.charCodeAt(typeLength) !== 47) return false;
  let end = typeLength + 1;
  while (end < url.length && url.charCodeAt(end) !== 47 && url.charCodeAt(end) !== 63) end++;
  return typeof id !== 'string' || id.length !== end - typeLength - 1 || !url.startsWith(id, typeLength + 1);
}

/**
 * Validates an engine output Bundle: the Bundle and every entry's resource against the R4 base
 * definitions, and the transaction rules a FHIR server applies before it runs one.
 */
export function validateBundleFast(bundle: Bundle): FastValidationProblem[] {
  return validateBundleWith(bundle, true);
}

/**
 * The same problems found by the walk alone, without the generated checks: the reference the
 * tests hold validateBundleFast's fast path to.
 */
export function validateBundleByWalk(bundle: Bundle): FastValidationProblem[] {
  return validateBundleWith(bundle, false);
}

function validateBundleWith(bundle: Bundle, fastPath: boolean): FastValidationProblem[] {
  const b = bundle as unknown as Record<string, unknown>;
  const c = getCompiler();
  const out: FastValidationProblem[] = [];
  if (typeof b !== 'object' || b === null || b['resourceType'] !== 'Bundle') {
    out.push({ path: 'resourceType', message: 'Not a Bundle', rule: 'resource-type' });
    return out;
  }
  if (b['type'] !== 'transaction') out.push({ path: 'Bundle.type', message: 'Engine output must be a transaction Bundle', rule: 'transaction' });

  // The transaction rules, and fullUrl → type for the references.
  const entries: readonly unknown[] = Array.isArray(b['entry']) ? b['entry'] : [];
  const fullUrls = new Map<string, string>();
  let putUrls: Set<string> | undefined;
  let badUrns: Set<string> | undefined;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (typeof entry !== 'object' || entry === null) continue; // the walk reports it
    const e = entry as Record<string, unknown>;
    const resource = e['resource'] as Record<string, unknown> | undefined;
    const type = typeof resource === 'object' && resource !== null ? resource['resourceType'] : undefined;
    const fullUrl = e['fullUrl'];
    if (typeof fullUrl !== 'string' || fullUrl === '') {
      out.push({ path: entryPath(i, 'fullUrl'), message: 'Transaction entry without fullUrl', rule: 'transaction' });
    } else if (fullUrls.has(fullUrl)) {
      out.push({ path: entryPath(i, 'fullUrl'), message: 'fullUrl used by an earlier entry', rule: 'transaction' });
    } else {
      if (fullUrl.startsWith('urn:uuid:') && !UUID_URN.test(fullUrl)) {
        out.push({ path: entryPath(i, 'fullUrl'), message: 'urn:uuid fullUrl is not a lowercase 8-4-4-4-12 UUID', rule: 'transaction' });
        (badUrns ??= new Set()).add(fullUrl);
      }
      fullUrls.set(fullUrl, typeof type === 'string' ? type : '');
    }
    const request = e['request'] as Record<string, unknown> | undefined;
    if (typeof request !== 'object' || request === null) {
      out.push({ path: entryPath(i, 'request'), message: 'Transaction entry without request {method, url}', rule: 'transaction' });
      continue;
    }
    const url = request['url'];
    const method = request['method'];
    if (typeof url !== 'string' || url === '' || typeof type !== 'string') continue;
    const typeLength = urlTypeLength(url);
    if (method !== 'DELETE' && !urlAddresses(url, typeLength, type)) {
      out.push({ path: entryPath(i, 'request.url'), message: `request.url does not address the entry's ${type}`, rule: 'transaction' });
    }
    if (method === 'PUT' && urlIdDiffers(url, typeLength, resource?.['id'])) {
      out.push({ path: entryPath(i, 'request.url'), message: 'PUT Type/id: the resource id differs from the id in the url (or is missing)', rule: 'transaction' });
    }
    if (method === 'PUT') {
      putUrls ??= new Set();
      if (putUrls.has(url)) out.push({ path: entryPath(i, 'request.url'), message: 'Two entries PUT the same url in one transaction', rule: 'transaction' });
      putUrls.add(url);
    }
    if (request['ifNoneExist'] !== undefined && method !== 'POST') {
      out.push({ path: entryPath(i, 'request.ifNoneExist'), message: 'ifNoneExist applies to POST only', rule: 'transaction' });
    }
  }

  // The common case, a Bundle without a problem, answered by the generated checks; any doubt,
  // and every Bundle with a problem, goes to the walk, which names each problem.
  if (fastPath && out.length === 0 && getChecks().bundle(b, fullUrls, badUrns ?? null)) return out;


  // The R4 walk over the whole Bundle, entry resources included.
  const w = new Walk(c, 'Bundle', fullUrls, badUrns ?? null);
  w.resourceValue(b);
  for (const p of w.out) out.push(p);
  return out;
}
