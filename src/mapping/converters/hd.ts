/**
 * HD (hierarchic designator) → identifier systems and Organizations. The same assigning-authority
 * rules serve CX.4, XCN.9, EI.2-4, XON.6 and PL.11, so they live here.
 */
import type { Identifier, Organization } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type ResourceRef, resourceRef } from '../resource-ref.js';
import { type Args, clean, compact, own, quoted, report } from './context.js';

export interface Authority {
  readonly namespace?: string;
  readonly universalId?: string;
  readonly universalIdType?: string;
}

export interface ResolvedAuthority {
  readonly system?: string;
  /** Identifier type code (table 0203) the site gives this authority's identifiers. */
  readonly type?: string;
  /** When no system could be found: who assigned the value, for Identifier.assigner.display. */
  readonly assignerDisplay?: string;
}

/**
 * The HD parts of a value whose parts n, n+1, n+2 are HD.1-3: components of a field (EI.2-4,
 * an HD field) or subcomponents of a component (CX.4 passed as `value.part(4)`, n = 1).
 */
export function authorityAt(v: V2Value, n: number): Authority {
  const read = (k: number): string | undefined => clean(v.at(n + k - 1));
  return compact({ namespace: read(1), universalId: read(2), universalIdType: read(3) });
}

const OID = /^[0-2](\.(0|[1-9]\d*))+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A universal id that is already a URI by its declared type (IG HD[uri]), else undefined. */
function universalIdUri(a: Authority): string | undefined {
  const id = a.universalId;
  if (id === undefined) return undefined;
  switch (a.universalIdType?.toUpperCase()) {
    case 'ISO':
      return OID.test(id) ? `urn:oid:${id}` : undefined;
    case 'UUID':
      return UUID.test(id) ? `urn:uuid:${id.toLowerCase()}` : undefined;
    case 'URI':
      return /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(id) ? id : undefined;
    default:
      return undefined;
  }
}

/**
 * Assigning authority → Identifier.system. Order: the site's table (by namespace, then universal
 * id); a universal id whose type makes it a URI (ISO → urn:oid, UUID → urn:uuid, URI); the site's
 * pattern for unknown authorities; else no system.
 * Departure from IG HD[uri], which uses HD.1 itself as the system: a namespace such as "MRN" is
 * not a URI, and two hospitals' "MRN" would become one system.
 */
export function resolveAuthority(a: Authority, ctx: ConverterContext, where: string): ResolvedAuthority {
  const site = ctx.site;
  const configured = own(site.assigningAuthorities, a.namespace) ?? own(site.assigningAuthorities, a.universalId);
  if (configured !== undefined) return compact({ system: configured.system, type: configured.type });
  const uri = universalIdUri(a);
  if (uri !== undefined) return { system: uri };
  const name = a.namespace ?? a.universalId;
  if (name === undefined) {
    report(ctx, 'information', 'unknown-authority', 'no assigning authority sent; identifier has no system', where);
    return {};
  }
  if (site.unknownAuthoritySystem !== null) {
    report(
      ctx,
      'warning',
      'unknown-authority',
      `assigning authority ${quoted(name)} is not in the site's assigningAuthorities; system built from unknownAuthoritySystem. Add it to site "${site.name}"`,
      where,
    );
    // Encoded so an authority with spaces or slashes still yields a valid URI.
    return { system: site.unknownAuthoritySystem.replaceAll('{name}', encodeURIComponent(name)) };
  }
  report(
    ctx,
    'warning',
    'unknown-authority',
    `assigning authority ${quoted(name)} is not in the site's assigningAuthorities; identifier has no system (assigner.display keeps the authority). Add it to site "${site.name}"`,
    where,
  );
  return { assignerDisplay: name };
}

const V2_0301 = 'http://terminology.hl7.org/CodeSystem/v2-0301';

/**
 * HD → Identifier (IG HD[Identifier], one identifier rather than the sheet's two): an ISO or
 * UUID universal id as an RFC 3986 URI, else the universal id typed by HD.3, else the namespace.
 */
export function hdIdentifier(a: Authority): Identifier | undefined {
  const uri = a.universalIdType !== undefined && a.universalIdType.toUpperCase() !== 'URI' ? universalIdUri(a) : undefined;
  if (uri !== undefined) return { system: 'urn:ietf:rfc:3986', value: uri };
  if (a.universalId !== undefined) {
    return compact({
      type: a.universalIdType === undefined ? undefined : { coding: [{ system: V2_0301, code: a.universalIdType }] },
      value: a.universalId,
    });
  }
  return a.namespace === undefined ? undefined : { value: a.namespace };
}

export function hd(value: V2Value, _args: Args, _ctx: ConverterContext): Identifier | undefined {
  return hdIdentifier(authorityAt(value, 1));
}

/**
 * HD → Organization (IG HD[Organization]): HD.1 → identifier[1], HD.2 → identifier[2] typed by
 * HD.3 (v2-0301) with system urn:ietf:rfc:3986 for ISO/UUID. Keyed by the universal id when
 * sent (it is globally unique), else by the namespace.
 */
export function hdOrganizationFrom(a: Authority): ResourceRef | undefined {
  if (a.namespace === undefined && a.universalId === undefined) return undefined;
  const identifiers: Identifier[] = [];
  if (a.namespace !== undefined) identifiers.push({ value: a.namespace });
  let query: string | undefined;
  if (a.universalId !== undefined) {
    const uri = universalIdUri(a);
    const typed = a.universalIdType === undefined ? undefined : { coding: [{ system: V2_0301, code: a.universalIdType }] };
    const rfc = uri !== undefined && a.universalIdType?.toUpperCase() !== 'URI';
    identifiers.push(compact({ type: typed, system: rfc ? 'urn:ietf:rfc:3986' : undefined, value: rfc ? uri : a.universalId }));
    if (rfc) query = `urn:ietf:rfc:3986|${uri}`;
  }
  const org: Organization = { resourceType: 'Organization', identifier: identifiers };
  const key =
    a.universalId !== undefined
      ? `Organization|hd|${a.universalIdType ?? ''}|${a.universalId}`
      : `Organization|hd-namespace|${a.namespace ?? ''}`;
  return resourceRef(org, key, query);
}

export function hdOrganization(value: V2Value, _args: Args, _ctx: ConverterContext): ResourceRef | undefined {
  return hdOrganizationFrom(authorityAt(value, 1));
}
