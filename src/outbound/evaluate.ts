/**
 * Evaluates outbound expressions against a Bundle (or a single resource): FHIR paths give items,
 * converters turn items into v2 repetitions, conditions decide segments and mappings.
 */
import type { Item, OutCondition, OutExpr, V2Rep } from './model.js';
import { OUT_CONVERTERS, type OutContext } from './converters.js';

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The resources of a Bundle (any type) or the one resource given, and how references find them. */
export class BundleIndex {
  readonly resources: readonly Json[];
  readonly bundleId: string | undefined;
  readonly timestamp: string | undefined;
  private readonly byUrl = new Map<string, Json>();

  constructor(input: unknown) {
    const resources: Json[] = [];
    if (isObj(input) && input['resourceType'] === 'Bundle') {
      this.bundleId = typeof input['id'] === 'string' ? input['id'] : undefined;
      this.timestamp = typeof input['timestamp'] === 'string' ? input['timestamp'] : undefined;
      for (const e of Array.isArray(input['entry']) ? input['entry'] : []) {
        if (!isObj(e) || !isObj(e['resource'])) continue;
        const r = e['resource'];
        resources.push(r);
        if (typeof e['fullUrl'] === 'string') this.byUrl.set(e['fullUrl'], r);
        this.indexResource(r);
      }
    } else if (isObj(input) && typeof input['resourceType'] === 'string') {
      this.bundleId = undefined;
      this.timestamp = undefined;
      resources.push(input);
      this.indexResource(input);
    } else {
      this.bundleId = undefined;
      this.timestamp = undefined;
    }
    this.resources = resources;
  }

  private indexResource(r: Json): void {
    if (typeof r['id'] === 'string') {
      this.byUrl.set(`${String(r['resourceType'])}/${r['id']}`, r);
      this.byUrl.set(`urn:uuid:${r['id']}`, this.byUrl.get(`urn:uuid:${r['id']}`) ?? r);
    }
  }

  ofType(type: string): Json[] {
    return this.resources.filter((r) => r['resourceType'] === type);
  }

  /** The resource a Reference points at inside the Bundle, or undefined. */
  resolve(ref: unknown, from?: Json): Json | undefined {
    if (!isObj(ref) || typeof ref['reference'] !== 'string') return undefined;
    const url = ref['reference'];
    if (url.startsWith('#') && from !== undefined && Array.isArray(from['contained'])) {
      return from['contained'].find((c): c is Json => isObj(c) && c['id'] === url.slice(1));
    }
    const direct = this.byUrl.get(url);
    if (direct !== undefined) return direct;
    // An absolute reference ends in Type/id.
    const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9.-]+)(\/_history\/.*)?$/.exec(url);
    return m?.[1] === undefined ? undefined : this.byUrl.get(m[1]);
  }
}

export interface Scope {
  readonly bundle: BundleIndex;
  readonly focus: Item | undefined;
  readonly context: Item | undefined;
  /** %context: the item the expression started from; where() moves `context`, never this. */
  readonly start?: Item | undefined;
  /** 1-based position in the enclosing forEach (OBX-1, NTE-1). */
  readonly index: number;
  /**
   * 1-based count of this segment among the segments of its id written under the same parent:
   * OBX-1 keeps counting when two rules write OBX under one OBR (results, then order answers).
   */
  readonly setId?: number;
  readonly event: string;
  readonly messageTime: string;
  readonly cx: OutContext;
}

function children(item: Item, name: string): Item[] {
  const v = item.value;
  if (!isObj(v)) return [];
  if (name in v) {
    const c = v[name];
    return Array.isArray(c) ? c.map((value: unknown) => ({ value })) : c === undefined ? [] : [{ value: c }];
  }
  // A choice element named without its type: value → valueQuantity, effective → effectiveDateTime.
  for (const key of Object.keys(v)) {
    if (key.length > name.length && key.startsWith(name) && /[A-Z]/.test(key.charAt(name.length))) {
      const c = v[key];
      const choice = key.slice(name.length);
      return (Array.isArray(c) ? c : [c]).map((value: unknown) => ({ value, choice }));
    }
  }
  return [];
}

/** The resources of `type` whose reference at `path` resolves (inside the Bundle) to `target`. */
function referrers(bundle: BundleIndex, target: unknown, type: string, path: readonly string[]): Json[] {
  if (!isObj(target)) return [];
  return bundle.ofType(type).filter((r) => {
    let refs: Item[] = [{ value: r }];
    for (const name of path) refs = refs.flatMap((x) => children(x, name));
    return refs.some((ref) => bundle.resolve(ref.value, r) === target);
  });
}

export function evalPath(e: Extract<OutExpr, { kind: 'path' }>, s: Scope): Item[] {
  let items: Item[];
  switch (e.root.kind) {
    case 'focus':
      items = s.focus === undefined ? [] : [s.focus];
      break;
    case 'type': {
      const type = e.root.type;
      items = s.bundle.ofType(type).map((value) => ({ value }));
      break;
    }
    case 'start': {
      const start = s.start ?? s.context;
      items = start === undefined ? [] : [start];
      break;
    }
    default:
      items = s.context === undefined ? [] : [s.context];
  }
  for (const step of e.steps) {
    switch (step.kind) {
      case 'field':
        items = items.flatMap((i) => children(i, step.name));
        break;
      case 'index':
        items = items.slice(step.index, step.index + 1);
        break;
      case 'first':
        items = items.slice(0, 1);
        break;
      case 'distinct': {
        // Equal as `=` compares items: the whole value, object keys in any order.
        const seen = new Set<string>();
        items = items.filter((i) => {
          const k = canonical(i.value);
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
        break;
      }
      case 'resolve':
        items = items.flatMap((i) => {
          const r = s.bundle.resolve(i.value);
          if (r === undefined && isObj(i.value) && typeof i.value['reference'] === 'string') {
            s.cx.report({ severity: 'warning', code: 'unresolved-reference', message: 'a reference points outside the Bundle; its values are left out' });
          }
          return r === undefined ? [] : [{ value: r }];
        });
        break;
      case 'where':
        items = items.filter((i) => evalCondition(step.test, { ...s, context: i, start: s.start ?? s.context }));
        break;
      case 'referencedBy':
        items = items.flatMap((i) => referrers(s.bundle, i.value, step.type, step.path).map((value) => ({ value })));
        break;
    }
  }
  return items;
}

function primitive(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** A value expression → the repetitions it writes (empty: nothing to write). */
export function evalValue(e: OutExpr, s: Scope): V2Rep[] {
  switch (e.kind) {
    case 'literal':
      return [[[e.value]]];
    case 'var': {
      const v = e.name === 'index' ? String(s.index) : e.name === 'setId' ? String(s.setId ?? s.index) : e.name === 'event' ? s.event : s.messageTime;
      return [[[v]]];
    }
    case 'path': {
      const out: V2Rep[] = [];
      for (const i of evalPath(e, s)) {
        const p = primitive(i.value);
        if (p !== undefined) out.push([[p]]);
        else s.cx.report({ severity: 'error', code: 'unsupported-value', message: 'a structured FHIR value needs a converter (e.g. | cwe, | xpn, | cx); left out' });
      }
      return out;
    }
    case 'convert': {
      const conv = OUT_CONVERTERS[e.converter];
      if (conv === undefined) return [];
      const items = e.input.kind === 'path' ? evalPath(e.input, s) : evalValue(e.input, s).map((r) => ({ value: r[0]?.[0] }));
      const out: V2Rep[] = [];
      for (const i of items) {
        const r = conv(i, e.args, s.cx);
        if (r !== undefined) out.push(r);
      }
      return out;
    }
  }
}

function texts(e: OutExpr, s: Scope): string[] {
  return evalValue(e, s).map((r) => r[0]?.[0] ?? '');
}

/** JSON with object keys sorted: two FHIR values that say the same compare equal (and hash the same: generate.ts's content key). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A value as a collection of comparable items: FHIR values for a path, v2 repetitions for the rest. */
function collection(e: OutExpr, s: Scope): string[] {
  return e.kind === 'path' ? evalPath(e, s).map((i) => canonical(i.value)) : evalValue(e, s).map(canonical);
}

export function evalCondition(c: OutCondition, s: Scope): boolean {
  switch (c.kind) {
    case 'exists':
      return c.expr.kind === 'path' ? evalPath(c.expr, s).length > 0 : evalValue(c.expr, s).length > 0;
    case 'compare': {
      const hit = texts(c.expr, s).includes(c.value);
      return c.op === '=' ? hit : !hit;
    }
    case 'equal': {
      // FHIRPath: an empty side gives empty (false); otherwise the same items in the same order.
      const left = collection(c.left, s);
      const right = collection(c.right, s);
      if (left.length === 0 || right.length === 0) return false;
      const same = left.length === right.length && left.every((x, i) => x === right[i]);
      return c.op === '=' ? same : !same;
    }
    case 'not':
      return !evalCondition(c.inner, s);
    case 'and':
      return evalCondition(c.left, s) && evalCondition(c.right, s);
    case 'or':
      return evalCondition(c.left, s) || evalCondition(c.right, s);
  }
}
