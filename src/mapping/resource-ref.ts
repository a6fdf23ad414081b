/**
 * A converter that meets a person, place or organisation (XCN, PL, XON, HD) cannot put the
 * resource inline: FHIR wants it as its own bundle entry with a Reference pointing at it. The
 * converter returns this marker instead, and the bundle builder (bundle.ts) turns it into the
 * entry (id from the business key) plus the Reference.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface ResourceRef {
  readonly $ref: true;
  /** Built without an id: the bundle builder assigns it from the key. */
  readonly resource: Resource;
  /**
   * Business key for the deterministic id, e.g. "Practitioner|<system>|<value>". It may hold an
   * identifier value: the bundle builder hashes it and never writes it out as is.
   */
  readonly key: string;
  /** "system|value" for ifNoneExist, only when the identifier has a system. */
  readonly identifierQuery?: string;
}

export function isResourceRef(x: unknown): x is ResourceRef {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as { $ref?: unknown; resource?: unknown; key?: unknown };
  return r.$ref === true && typeof r.key === 'string' && typeof r.resource === 'object' && r.resource !== null;
}

export function resourceRef(resource: Resource, key: string, identifierQuery?: string): ResourceRef {
  return identifierQuery === undefined ? { $ref: true, resource, key } : { $ref: true, resource, key, identifierQuery };
}
