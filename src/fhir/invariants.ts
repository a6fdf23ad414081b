/**
 * The R4 invariants (StructureDefinition constraints of severity error) as checks the per-Bundle
 * validator can run cheaply. The ones that can occur in engine output are written out in
 * TypeScript, each pinned to the exact FHIRPath expression it implements: if the definitions
 * ever change an expression, that invariant falls back to evaluating the FHIRPath with
 * @medplum/core. Every other invariant is evaluated that way too, only where its element
 * occurs, so nothing the definitions require is skipped. A written-out check may also answer
 * "undecided" (comparing dateTimes of different precision, say) and leave it to FHIRPath.
 *
 * test/fhir/invariants.test.ts holds each written-out check to the FHIRPath evaluation.
 */
import { evalFhirPathTyped, LRUCache, toTypedValue, type TypedValue } from '@medplum/core';
import type { ConstraintDef } from './structure.js';
import { loadFhirDefinitions } from './validate.js';

export interface InvariantContext {
  /** The resource the value sits in (%resource). */
  readonly resource: object | undefined;
  /** The outermost resource being validated (%rootResource as @medplum/core sets it). */
  readonly root: object | undefined;
}

/** true: holds; false: violated. */
export type InvariantCheck = (value: unknown, ctx: InvariantContext) => boolean;

/** A written-out check: true, false, or undefined to let FHIRPath decide. */
type Hand = (o: Obj, ctx: InvariantContext) => boolean | undefined;
type Obj = Readonly<Record<string, unknown>>;

const UCUM = 'http://unitsofmeasure.org';

// ---------------------------------------------------------------------------------------------
// FHIRPath helpers over plain JSON (no allocation on the common paths).

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `_x` for each element name the checks ask about, made once: a key built per call would cost a
 * string and a slow lookup in every check of an absent element.
 */
const UNDERSCORED: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;

/** `x.exists()` for an element: a value, or a primitive's extension part (`_x`). */
function exists(o: Obj, name: string): boolean {
  const v = o[name];
  if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) return true;
  const x = o[(UNDERSCORED[name] ??= `_${name}`)];
  return x !== undefined && x !== null;
}

/** `x.hasValue()` for a primitive element: the value itself, not only extensions. */
function hasValue(o: Obj, name: string): boolean {
  const v = o[name];
  return v !== undefined && v !== null && typeof v !== 'object';
}

/** `value.exists()` for a choice element: any valueXxx (or _valueXxx) key. */
function choiceExists(o: Obj, prefix: string): boolean {
  for (const k in o) {
    const s = k.charCodeAt(0) === 95 ? k.slice(1) : k; // "_"
    if (s.length > prefix.length && s.startsWith(prefix)) {
      const c = s.charCodeAt(prefix.length);
      if (c >= 65 && c <= 90 && o[k] !== undefined && o[k] !== null) return true;
    }
  }
  return false;
}

const NONE: readonly unknown[] = Object.freeze([]);

/** Items of an element as a list (a single value counts as one). */
function items(v: unknown): readonly unknown[] {
  return v === undefined || v === null ? NONE : Array.isArray(v) ? v : [v];
}

/** `X.coding.where(system = S and code in C).exists()` */
function hasCoding(concept: unknown, system: string, codes: readonly string[]): boolean {
  for (const cc of items(concept)) {
    if (!isObj(cc)) continue;
    for (const c of items(cc['coding'])) {
      if (isObj(c) && c['system'] === system && typeof c['code'] === 'string' && codes.includes(c['code'])) return true;
    }
  }
  return false;
}

/** Two dateTimes of the same form and zone compare as text; anything else is for FHIRPath. */
function compareDateTimes(a: unknown, b: unknown): number | undefined {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length) return undefined;
  const zone = /(Z|[+-]\d\d:\d\d)$/;
  const za = zone.exec(a)?.[0] ?? '';
  const zb = zone.exec(b)?.[0] ?? '';
  if (za !== zb) return undefined;
  // Same length and zone: the same precision, so text order is time order.
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Two quantities with the same unit (or none) compare by value; anything else is for FHIRPath. */
function compareQuantities(a: unknown, b: unknown): number | undefined {
  if (!isObj(a) || !isObj(b)) return undefined;
  const va = a['value'];
  const vb = b['value'];
  if (typeof va !== 'number' || typeof vb !== 'number') return undefined;
  if (a['code'] !== b['code'] || a['system'] !== b['system'] || a['unit'] !== b['unit'] || a['comparator'] !== undefined || b['comparator'] !== undefined) return undefined;
  return va - vb;
}

const ALLERGY_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const CONDITION_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';

/** `contained.X.empty()` over each contained resource. */
function containedHave(o: Obj, test: (c: Obj) => boolean): boolean {
  for (const c of items(o['contained'])) if (isObj(c) && test(c)) return true;
  return false;
}

const metaHas = (c: Obj, name: string): boolean => isObj(c['meta']) && exists(c['meta'], name);

/** Every string anywhere under `v` (for dom-3's "referred to from elsewhere"). */
function anyString(v: unknown, test: (s: string) => boolean): boolean {
  if (typeof v === 'string') return test(v);
  if (Array.isArray(v)) return v.some((x) => anyString(x, test));
  if (isObj(v)) {
    for (const k in v) if (anyString(v[k], test)) return true;
  }
  return false;
}

/**
 * The written-out checks, keyed by constraint key, each with the exact expression it implements.
 */
const HAND: Readonly<Record<string, { readonly expression: string; readonly test: Hand }>> = {
  'ext-1': { expression: 'extension.exists() != value.exists()', test: (o) => exists(o, 'extension') !== choiceExists(o, 'value') },

  // Bundle
  'bdl-1': {
    expression: "total.empty() or (type = 'searchset') or (type = 'history')",
    test: (o) => (!exists(o, 'total') ? true : typeof o['type'] !== 'string' ? undefined : o['type'] === 'searchset' || o['type'] === 'history'),
  },
  'bdl-2': {
    expression: "entry.search.empty() or (type = 'searchset')",
    test: (o) => (!items(o['entry']).some((e) => isObj(e) && exists(e, 'search')) ? true : typeof o['type'] !== 'string' ? undefined : o['type'] === 'searchset'),
  },
  'bdl-3': {
    expression: "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))",
    test: (o) => {
      const t = o['type'];
      if (typeof t !== 'string') return undefined;
      const want = t === 'batch' || t === 'transaction' || t === 'history';
      return items(o['entry']).every((e) => isObj(e) && exists(e, 'request') === want);
    },
  },
  'bdl-4': {
    expression: "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",
    test: (o) => {
      const t = o['type'];
      if (typeof t !== 'string') return undefined;
      const want = t === 'batch-response' || t === 'transaction-response' || t === 'history';
      return items(o['entry']).every((e) => isObj(e) && exists(e, 'response') === want);
    },
  },
  'bdl-7': {
    expression: "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
    test: (o) => {
      if (o['type'] === 'history') return true;
      const seen = new Set<string>();
      for (const e of items(o['entry'])) {
        if (!isObj(e) || typeof e['fullUrl'] !== 'string') continue;
        const r = e['resource'];
        const meta = isObj(r) ? r['meta'] : undefined;
        const version = isObj(meta) && typeof meta['versionId'] === 'string' ? meta['versionId'] : '';
        const k = e['fullUrl'] + version;
        if (seen.has(k)) return false;
        seen.add(k);
      }
      return typeof o['type'] === 'string' ? true : undefined;
    },
  },
  'bdl-9': {
    expression: "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
    test: (o) => (o['type'] !== 'document' ? true : isObj(o['identifier']) && exists(o['identifier'], 'system') && exists(o['identifier'], 'value')),
  },
  'bdl-10': { expression: "type = 'document' implies (timestamp.hasValue())", test: (o) => o['type'] !== 'document' || hasValue(o, 'timestamp') },
  'bdl-11': {
    expression: "type = 'document' implies entry.first().resource.is(Composition)",
    test: (o) => {
      if (o['type'] !== 'document') return true;
      const first = items(o['entry'])[0];
      return isObj(first) && isObj(first['resource']) && first['resource']['resourceType'] === 'Composition';
    },
  },
  'bdl-12': {
    expression: "type = 'message' implies entry.first().resource.is(MessageHeader)",
    test: (o) => {
      if (o['type'] !== 'message') return true;
      const first = items(o['entry'])[0];
      return isObj(first) && isObj(first['resource']) && first['resource']['resourceType'] === 'MessageHeader';
    },
  },
  'bdl-5': { expression: 'resource.exists() or request.exists() or response.exists()', test: (o) => exists(o, 'resource') || exists(o, 'request') || exists(o, 'response') },
  'bdl-8': {
    expression: "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
    test: (o) => (typeof o['fullUrl'] === 'string' ? !o['fullUrl'].includes('/_history/') : exists(o, 'fullUrl') ? undefined : true),
  },

  // DomainResource
  'dom-2': { expression: 'contained.contained.empty()', test: (o) => !containedHave(o, (c) => exists(c, 'contained')) },
  'dom-3': {
    expression:
      "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()",
    test: (o) => {
      const contained = items(o['contained']);
      if (contained.length === 0) return true;
      return contained.every((c) => {
        if (!isObj(c)) return true;
        if (anyString(c, (s) => s === '#')) return true; // refers to its container
        const id = c['id'];
        if (typeof id !== 'string') return false;
        const ref = `#${id}`;
        // Referred to from anywhere in the resource, the contained ones included.
        return anyString(o, (s) => s === ref);
      });
    },
  },
  'dom-4': {
    expression: 'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()',
    test: (o) => !containedHave(o, (c) => metaHas(c, 'versionId') || metaHas(c, 'lastUpdated')),
  },
  'dom-5': { expression: 'contained.meta.security.empty()', test: (o) => !containedHave(o, (c) => metaHas(c, 'security')) },

  // Resources the engine builds
  'pat-1': {
    expression: 'name.exists() or telecom.exists() or address.exists() or organization.exists()',
    test: (o) => exists(o, 'name') || exists(o, 'telecom') || exists(o, 'address') || exists(o, 'organization'),
  },
  'obs-3': { expression: 'low.exists() or high.exists() or text.exists()', test: (o) => exists(o, 'low') || exists(o, 'high') || exists(o, 'text') },
  'obs-6': { expression: 'dataAbsentReason.empty() or value.empty()', test: (o) => !exists(o, 'dataAbsentReason') || !choiceExists(o, 'value') },
  'obs-7': {
    expression: 'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()',
    // Only a component can break it; with components and a value, FHIRPath compares the codings.
    test: (o) => (!choiceExists(o, 'value') || !exists(o, 'component') ? true : undefined),
  },
  'ait-1': {
    expression: "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').exists() or clinicalStatus.exists()",
    test: (o) => hasCoding(o['verificationStatus'], ALLERGY_VERIFICATION, ['entered-in-error']) || exists(o, 'clinicalStatus'),
  },
  'ait-2': {
    expression: "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').empty() or clinicalStatus.empty()",
    test: (o) => !hasCoding(o['verificationStatus'], ALLERGY_VERIFICATION, ['entered-in-error']) || !exists(o, 'clinicalStatus'),
  },
  'con-1': { expression: 'summary.exists() or assessment.exists()', test: (o) => exists(o, 'summary') || exists(o, 'assessment') },
  'con-2': { expression: 'code.exists() or detail.exists()', test: (o) => exists(o, 'code') || exists(o, 'detail') },
  'con-4': {
    expression:
      "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()",
    test: (o) => !choiceExists(o, 'abatement') || hasCoding(o['clinicalStatus'], CONDITION_CLINICAL, ['resolved', 'remission', 'inactive']),
  },
  'con-5': {
    expression: "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
    test: (o) => !hasCoding(o['verificationStatus'], CONDITION_VERIFICATION, ['entered-in-error']) || !exists(o, 'clinicalStatus'),
  },
  'prr-1': { expression: 'orderDetail.empty() or code.exists()', test: (o) => !exists(o, 'orderDetail') || exists(o, 'code') },
  'org-1': { expression: '(identifier.count() + name.count()) > 0', test: (o) => exists(o, 'identifier') || exists(o, 'name') },
  'org-2': { expression: "where(use = 'home').empty()", test: (o) => o['use'] !== 'home' },
  'org-3': { expression: "where(use = 'home').empty()", test: (o) => o['use'] !== 'home' },

  // Datatypes
  'ctm-1': {
    expression: 'onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))',
    // Without onBehalfOf the implication holds; with it, whether the member resolves to a
    // Practitioner is left to FHIRPath (the engine's CareTeams carry no onBehalfOf).
    test: (o) => (exists(o, 'onBehalfOf') ? undefined : true),
  },
  'gol-1': {
    expression: '(detail.exists() and measure.exists()) or detail.exists().not()',
    // detail is a choice (detailQuantity, detailString …): FHIRPath's `detail` finds any of them.
    test: (o) => !choiceExists(o, 'detail') || exists(o, 'measure'),
  },
  'app-1': {
    expression: 'type.exists() or actor.exists()',
    test: (o) => exists(o, 'type') || exists(o, 'actor'),
  },
  'app-2': {
    expression: 'start.exists() = end.exists()',
    test: (o) => exists(o, 'start') === exists(o, 'end'),
  },
  'app-3': {
    expression: "(start.exists() and end.exists()) or (status in ('proposed' | 'cancelled' | 'waitlist'))",
    test: (o) => {
      if (exists(o, 'start') && exists(o, 'end')) return true;
      const status = o['status'];
      return typeof status === 'string' ? status === 'proposed' || status === 'cancelled' || status === 'waitlist' : undefined;
    },
  },
  'app-4': {
    expression: "Appointment.cancelationReason.exists() implies (Appointment.status='noshow' or Appointment.status='cancelled')",
    test: (o) => {
      if (!exists(o, 'cancelationReason')) return true;
      const status = o['status'];
      return typeof status === 'string' ? status === 'noshow' || status === 'cancelled' : undefined;
    },
  },
  'mdd-1': {
    expression: 'whenHandedOver.empty() or whenPrepared.empty() or whenHandedOver >= whenPrepared',
    test: (o) => {
      if (!exists(o, 'whenHandedOver') || !exists(o, 'whenPrepared')) return true;
      const c = compareDateTimes(o['whenHandedOver'], o['whenPrepared']);
      return c === undefined ? undefined : c >= 0;
    },
  },
  'tim-1': { expression: 'duration.empty() or durationUnit.exists()', test: (o) => !exists(o, 'duration') || exists(o, 'durationUnit') },
  'tim-2': { expression: 'period.empty() or periodUnit.exists()', test: (o) => !exists(o, 'period') || exists(o, 'periodUnit') },
  'tim-4': {
    expression: 'duration.exists() implies duration >= 0',
    test: (o) => (!exists(o, 'duration') ? true : typeof o['duration'] === 'number' ? o['duration'] >= 0 : undefined),
  },
  'tim-5': {
    expression: 'period.exists() implies period >= 0',
    test: (o) => (!exists(o, 'period') ? true : typeof o['period'] === 'number' ? o['period'] >= 0 : undefined),
  },
  'tim-6': { expression: 'periodMax.empty() or period.exists()', test: (o) => !exists(o, 'periodMax') || exists(o, 'period') },
  'tim-7': { expression: 'durationMax.empty() or duration.exists()', test: (o) => !exists(o, 'durationMax') || exists(o, 'duration') },
  'tim-8': { expression: 'countMax.empty() or count.exists()', test: (o) => !exists(o, 'countMax') || exists(o, 'count') },
  'tim-9': {
    expression: "offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())",
    test: (o) => {
      if (!exists(o, 'offset')) return true;
      const when = o['when'];
      if (!Array.isArray(when) || when.length === 0) return exists(o, 'when') ? undefined : false;
      if (!when.every((w) => typeof w === 'string')) return undefined;
      return when.every((w) => w !== 'C' && w !== 'CM' && w !== 'CD' && w !== 'CV');
    },
  },
  'tim-10': { expression: 'timeOfDay.empty() or when.empty()', test: (o) => !exists(o, 'timeOfDay') || !exists(o, 'when') },
  'per-1': {
    expression: 'start.hasValue().not() or end.hasValue().not() or (start <= end)',
    test: (o) => {
      if (!hasValue(o, 'start') || !hasValue(o, 'end')) return true;
      const c = compareDateTimes(o['start'], o['end']);
      return c === undefined ? undefined : c <= 0;
    },
  },
  'rng-2': {
    expression: 'low.empty() or high.empty() or (low <= high)',
    test: (o) => {
      if (!exists(o, 'low') || !exists(o, 'high')) return true;
      const c = compareQuantities(o['low'], o['high']);
      return c === undefined ? undefined : c <= 0;
    },
  },
  'cpt-2': { expression: 'value.empty() or system.exists()', test: (o) => !exists(o, 'value') || exists(o, 'system') },
  'qty-3': { expression: 'code.empty() or system.exists()', test: (o) => !exists(o, 'code') || exists(o, 'system') },
  'sqty-1': { expression: 'comparator.empty()', test: (o) => !exists(o, 'comparator') },
  'drt-1': {
    expression: 'code.exists() implies ((system = %ucum) and value.exists())',
    test: (o) => !exists(o, 'code') || (o['system'] === UCUM && exists(o, 'value')),
  },
  'att-1': { expression: 'data.empty() or contentType.exists()', test: (o) => !exists(o, 'data') || exists(o, 'contentType') },
  'rat-1': {
    expression: '(numerator.empty() xor denominator.exists()) and (numerator.exists() or extension.exists())',
    test: (o) => !exists(o, 'numerator') !== exists(o, 'denominator') && (exists(o, 'numerator') || exists(o, 'extension')),
  },
  'ref-1': {
    expression: "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))",
    test: (o, ctx) => {
      const ref = o['reference'];
      if (typeof ref !== 'string' || !ref.startsWith('#')) return true;
      const root = ctx.root as Obj | undefined;
      return !!root && items(root['contained']).some((c) => isObj(c) && c['id'] === ref.slice(1));
    },
  },
};

// ---------------------------------------------------------------------------------------------
// The FHIRPath fallback.

const fhirPathCache = new LRUCache<Parameters<typeof evalFhirPathTyped>[0] & object>(1000);

/** Evaluates an invariant as @medplum/core's validator does: holds when the result is exactly [true]. */
export function fhirPathHolds(expression: string, value: unknown, type: string, ctx: InvariantContext): boolean {
  loadFhirDefinitions();
  const input: TypedValue = { type, value };
  const variables: Record<string, TypedValue> = { '%context': input, '%ucum': { type: 'string', value: UCUM } };
  if (ctx.resource) variables['%resource'] = toTypedValue(ctx.resource);
  if (ctx.root) variables['%rootResource'] = toTypedValue(ctx.root);
  try {
    const out = evalFhirPathTyped(expression, [input], variables, fhirPathCache as never);
    return out.length === 1 && out[0]?.value === true;
  } catch {
    return false;
  }
}

/** How many times the fallback ran (the bench and tests watch that engine output never needs it). */
export const fallbackCount = { value: 0 };

/** The check for one constraint on a value of `type`: written out when known, FHIRPath otherwise. */
export function compileInvariant(c: ConstraintDef, type: string): InvariantCheck {
  const hand = HAND[c.key];
  if (hand && hand.expression === c.expression) {
    return (value, ctx) => {
      if (!isObj(value)) return true; // a wrong JSON type is reported by the walker
      const r = hand.test(value, ctx);
      if (r !== undefined) return r;
      fallbackCount.value++;
      return fhirPathHolds(c.expression, value, type, ctx);
    };
  }
  return (value, ctx) => {
    fallbackCount.value++;
    return fhirPathHolds(c.expression, value, type, ctx);
  };
}

/** The written-out checks, for the test that holds each to its FHIRPath. */
export function handWrittenInvariants(): ReadonlyMap<string, { readonly expression: string; readonly test: (value: Obj, ctx: InvariantContext) => boolean | undefined }> {
  return new Map(Object.entries(HAND));
}
