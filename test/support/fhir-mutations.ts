/**
 * Bundles broken on purpose, for holding the fast validator to the referee (@medplum/core's,
 * through validateBundle): from a valid Bundle, one mistake at a time at every element that can
 * carry it — a primitive in the wrong format, a code outside its required value set, a list
 * where R4 allows one value, an unknown element, an empty string/array/object, a null, a missing
 * required element, a dangling or mistyped reference, two types for one choice element, an
 * extension without a value, broken transaction entries. Each mutation names the path where it
 * was made and the rules that may report it.
 *
 * The element types come from the R4 index (src/fhir/structure.ts); the judgement of whether a
 * mutation is invalid comes from the referee, so the index cannot hide its own mistakes.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { StructureIndex, TypeDef } from '../../src/fhir/structure.js';

export interface Mutation {
  /** What was broken: "format", "binding", "list-in-single", … */
  readonly kind: string;
  /** JSON path of the broken element, as the validators write it: "Bundle.entry[2].resource.birthDate". */
  readonly path: string;
  /** The definition path (for de-duplication and messages): "Patient.birthDate". */
  readonly element: string;
  /** Rules of the fast validator, one of which must report the mutation at `path`. */
  readonly rules: readonly string[];
  readonly bundle: Bundle;
}

type Seg = string | number;
type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function pathText(segs: readonly Seg[]): string {
  let p = 'Bundle';
  for (const s of segs) p += typeof s === 'number' ? `[${s}]` : `.${s}`;
  return p;
}

/** A deep copy of `bundle` with `change` applied to the object at `parentSegs`. */
function mutate(bundle: Bundle, parentSegs: readonly Seg[], change: (parent: Json) => void): Bundle {
  const copy = structuredClone(bundle) as unknown as Json;
  let node: unknown = copy;
  for (const s of parentSegs) node = (node as Record<string | number, unknown>)[s];
  if (!isObj(node)) throw new Error(`mutation parent at ${pathText(parentSegs)} is not an object`);
  change(node);
  return copy as unknown as Bundle;
}

/** A value of the right JSON type but the wrong format for each primitive type. */
const BAD_FORMAT: Readonly<Record<string, unknown>> = {
  base64Binary: 'not base64!',
  boolean: 'true',
  canonical: 'has a space',
  code: ' leading-space',
  date: '19800229',
  dateTime: '2024-03-01T10:15:00',
  decimal: '5.4',
  id: 'MRN A1/2',
  instant: '2024-03-01',
  integer: 1.5,
  markdown: 'bell \u0007',
  oid: 'urn:oid:1.2.abc',
  positiveInt: 0,
  string: 'bell \u0007',
  time: '25:00:00',
  unsignedInt: -1,
  uri: 'has a space',
  url: 'has a space',
  uuid: 'urn:uuid:ABC',
};

/** A valid value of a primitive type, for a second type on a choice element. */
const GOOD_VALUE: Readonly<Record<string, unknown>> = {
  string: 'x',
  boolean: true,
  integer: 1,
  decimal: 1.5,
  dateTime: '2024-03-01',
  date: '2024-03-01',
  time: '10:15:00',
  code: 'x',
  uri: 'urn:x',
  instant: '2024-03-01T10:15:00Z',
};

const UNKNOWN_UUID = 'urn:uuid:00000000-0000-5000-8000-000000000000';
const STRING_TYPES = new Set(['string', 'markdown', 'code', 'id', 'uri', 'url', 'canonical', 'date', 'dateTime', 'instant', 'time', 'oid', 'uuid', 'base64Binary']);

/**
 * Every mutation of `bundle`, at most one per (kind, definition path) across all calls with the
 * same `seen` set, so a mistake is tried once per element and not once per occurrence.
 */
export function mutationsOf(bundle: Bundle, index: StructureIndex, seen: Set<string>): Mutation[] {
  const out: Mutation[] = [];
  const add = (kind: string, element: string, segs: readonly Seg[], rules: readonly string[], parent: readonly Seg[], change: (p: Json) => void): void => {
    const id = `${kind}|${element}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ kind, element, path: pathText(segs), rules, bundle: mutate(bundle, parent, change) });
  };

  const entries = (bundle.entry ?? []) as unknown as Json[];
  const fullUrlTypes = entries.map((e) => ({ url: e['fullUrl'] as string, type: (e['resource'] as Json | undefined)?.['resourceType'] as string }));

  const walk = (obj: Json, t: TypeDef, segs: Seg[], isResource: boolean): void => {
    const name = isResource ? String(obj['resourceType']) : t.name;
    // An element R4 does not define.
    add('unknown-element', name, [...segs, 'madeUpElement'], ['unknown-element'], segs, (p) => {
      p['madeUpElement'] = 'x';
    });
    // Missing required elements.
    for (const el of t.elements.values()) {
      if (el.min < 1) continue;
      const keys = [...t.keys.keys()].filter((k) => t.keys.get(k)!.element === el);
      if (!keys.some((k) => obj[k] !== undefined)) continue;
      const label = el.choice ? `${el.name}[x]` : el.name;
      add('missing-required', el.path, [...segs, label], ['required'], segs, (p) => {
        for (const k of keys) delete p[k];
      });
    }
    // An extension with a url and no value (ext-1).
    if (t.keys.has('extension') && !isResource && t.name !== 'Extension') {
      add('ext-1', `${t.name}.extension`, [...segs, 'extension', 0], ['ext-1'], segs, (p) => {
        p['extension'] = [{ url: 'http://example.org/fhir/StructureDefinition/nothing' }];
      });
    }
    for (const key of Object.keys(obj)) {
      if (key === 'resourceType') continue;
      const k = t.keys.get(key);
      if (!k) continue;
      const el = k.element;
      const v = obj[key];
      const here = [...segs, key];
      const def = `${el.path}${el.choice ? `:${key}` : ''}`;
      // Cardinality and shape.
      if (Array.isArray(v)) {
        add('single-for-list', def, here, ['cardinality'], segs, (p) => {
          p[key] = (p[key] as unknown[])[0];
        });
        add('empty-array', def, here, ['empty'], segs, (p) => {
          p[key] = [];
        });
      } else if (el.max === 1) {
        add('list-in-single', def, here, ['cardinality'], segs, (p) => {
          p[key] = [p[key]];
        });
      }
      add('null', def, here, ['null'], segs, (p) => {
        p[key] = null;
      });
      // A second type for a choice element.
      if (el.choice) {
        const other = el.types.find((ty) => `${el.name}${ty.code.charAt(0).toUpperCase()}${ty.code.slice(1)}` !== key && GOOD_VALUE[ty.code] !== undefined);
        if (other) {
          const otherKey = `${el.name}${other.code.charAt(0).toUpperCase()}${other.code.slice(1)}`;
          add('choice-conflict', def, [...segs, otherKey], ['choice'], segs, (p) => {
            p[otherKey] = GOOD_VALUE[other.code];
          });
        }
      }
      const values = Array.isArray(v) ? v : [v];
      values.forEach((item, i) => {
        const at = Array.isArray(v) ? [...here, i] : here;
        const code = k.type.code;
        if (index.isPrimitive(code)) {
          if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') return;
          const setTo = (value: unknown) => (p: Json) => {
            if (Array.isArray(p[key])) (p[key] as unknown[])[i] = value;
            else p[key] = value;
          };
          if (BAD_FORMAT[code] !== undefined) add('format', def, at, ['format', 'json-type'], segs, setTo(BAD_FORMAT[code]));
          if (k.codes) add('binding', def, at, ['binding'], segs, setTo('not-a-code'));
          if (STRING_TYPES.has(code)) add('empty-string', def, at, ['empty'], segs, setTo(''));
          return;
        }
        if (!isObj(item)) return;
        if (code !== 'Resource') add('empty-object', def, at, ['empty'], segs, (p) => {
          if (Array.isArray(p[key])) (p[key] as unknown[])[i] = {};
          else p[key] = {};
        });
        if (code === 'Reference' && typeof item['reference'] === 'string' && item['reference'].startsWith('urn:uuid:')) {
          const refAt = [...at, 'reference'];
          const owner = Array.isArray(v) ? [...segs, key, i] : [...segs, key];
          add('dangling-reference', def, refAt, ['reference'], owner, (p) => {
            p['reference'] = UNKNOWN_UUID;
          });
          add('uppercase-reference', def, refAt, ['reference'], owner, (p) => {
            p['reference'] = (p['reference'] as string).toUpperCase().replace('URN:UUID:', 'urn:uuid:');
          });
          add('reference-form', def, refAt, ['reference'], owner, (p) => {
            p['reference'] = 'not a reference';
          });
          const allowed = k.type.targets;
          const wrong = allowed ? fullUrlTypes.find((f) => f.type && !allowed.includes(f.type)) : undefined;
          if (wrong) {
            add('reference-target', def, at, ['reference-target'], owner, (p) => {
              p['reference'] = wrong.url;
            });
          }
        }
        if (code === 'Resource') {
          const r = item;
          const rt = index.type(String(r['resourceType']));
          if (rt) {
            add('resource-type', 'Bundle.entry.resource', [...at, 'resourceType'], ['resource-type'], Array.isArray(v) ? [...segs, key, i] : [...segs, key], (p) => {
              p['resourceType'] = 'NotAResource';
            });
            walk(r, rt, at, true);
          }
          return;
        }
        const child = el.backbone ?? index.type(code);
        if (child) walk(item, child, at, false);
      });
    }
  };

  const bundleType = index.type('Bundle');
  if (!bundleType) throw new Error('no Bundle in the R4 index');
  walk(bundle as unknown as Json, bundleType, [], true);

  // The transaction rules, on each entry.
  entries.forEach((e, i) => {
    const at: Seg[] = ['entry', i];
    const type = fullUrlTypes[i]?.type ?? '';
    add('no-fullUrl', type, [...at, 'fullUrl'], ['transaction'], at, (p) => {
      delete p['fullUrl'];
    });
    if (i > 0) {
      add('duplicate-fullUrl', type, [...at, 'fullUrl'], ['transaction'], at, (p) => {
        p['fullUrl'] = fullUrlTypes[0]!.url;
      });
    }
    add('uppercase-fullUrl', type, [...at, 'fullUrl'], ['transaction'], at, (p) => {
      p['fullUrl'] = (p['fullUrl'] as string).toUpperCase().replace('URN:UUID:', 'urn:uuid:');
    });
    add('no-request', type, [...at, 'request'], ['transaction'], at, (p) => {
      delete p['request'];
    });
    add('request-url-type', type, [...at, 'request', 'url'], ['transaction'], [...at, 'request'], (p) => {
      p['url'] = type === 'Basic' ? 'Patient' : 'Basic';
    });
    const req = e['request'] as Json | undefined;
    if (req?.['method'] === 'PUT' && typeof req['url'] === 'string' && !req['url'].includes('?')) {
      add('put-id-mismatch', type, [...at, 'request', 'url'], ['transaction'], [...at, 'request'], (p) => {
        p['url'] = `${type}/another-id`;
      });
      add('ifNoneExist-on-put', type, [...at, 'request', 'ifNoneExist'], ['transaction'], [...at, 'request'], (p) => {
        p['ifNoneExist'] = 'identifier=urn:x|1';
      });
      const other = entries.findIndex((o, j) => j !== i && (o['request'] as Json | undefined)?.['method'] === 'PUT');
      const otherReq = other >= 0 ? (entries[other]!['request'] as Json) : undefined;
      if (otherReq && other < i) {
        add('duplicate-put', type, [...at, 'request', 'url'], ['transaction'], [...at, 'request'], (p) => {
          p['url'] = otherReq['url'];
        });
      }
    }
  });
  add('bundle-type', 'Bundle.type', ['type'], ['transaction', 'binding'], [], (p) => {
    p['type'] = 'batch';
  });
  return out;
}
