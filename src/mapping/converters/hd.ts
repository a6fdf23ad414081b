/**
 * HD (hierarchic designator) → identifier systems and Organizations. The same assigning-authority
 * rules serve CX.4, XCN.9, EI.2-4, XON.6 and PL.11, so they live here.
 */
import type { Identifier, Organization, Reference } from '@medplum/fhirtypes';
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
  /**
   * Identifier.assigner.display: who assigned the value when no system could be found, or HD.1
   * when the system came from the universal id (the authority's local name).
   */
  readonly assignerDisplay?: string;
  /** HD.2 typed by HD.3 when it did not become the system (a CLIA or NPI number, an invalid OID). */
  readonly assignerId?: { readonly value: string; readonly type?: string };
}

/** Identifier.assigner for a resolved authority (IG CX.4 → assigner(Organization), HD[Organization]). */
export function assignerOf(a: ResolvedAuthority): Reference<Organization> | undefined {
  if (a.assignerDisplay === undefined && a.assignerId === undefined) return undefined;
  const identifier =
    a.assignerId === undefined
      ? undefined
      : compact<Identifier>({
          type: a.assignerId.type === undefined ? undefined : { coding: [{ system: V2_0301, code: a.assignerId.type }] },
          value: a.assignerId.value,
        });
  return compact<Reference<Organization>>({ identifier, display: a.assignerDisplay });
}

/**
 * The HD parts of a value whose parts n, n+1, n+2 are HD.1-3: components of a field (EI.2-4,
 * an HD field) or subcomponents of a component (CX.4 passed as `value.part(4)`, n = 1).
 */
export function authorityAt(v: V2Value, n: number): Authority {
  const read = (k: number): string | undefined => clean(v.at(n + k - 1));
  return compact({ namespace: read(1), universalId: read(2), universalIdType: read(3) });
}

const V2_0301 = 'http://terminology.hl7.org/CodeSystem/v2-0301';
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
  const byNamespace = own(site.assigningAuthorities, a.namespace);
  const configured = byNamespace ?? own(site.assigningAuthorities, a.universalId);
  // A namespace sent beside the universal id that found the system is the authority's local
  // name (HD.1 with HD.2/HD.3 name one entity): kept as assigner.display (the IG maps CX.4 to
  // assigner too), so the identifier can be written back with the HD it came with.
  const alias = byNamespace === undefined ? a.namespace : undefined;
  if (configured !== undefined) return compact({ system: configured.system, type: configured.type, assignerDisplay: alias });
  const uri = universalIdUri(a);
  if (uri !== undefined) return compact({ system: uri, assignerDisplay: alias });
  const name = a.namespace ?? a.universalId;
  // A universal id that did not become the system (its type makes no URI of it) stays beside it.
  const assignerId = a.namespace !== undefined && a.universalId !== undefined ? compact({ value: a.universalId, type: a.universalIdType }) : undefined;
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
    return compact({ system: site.unknownAuthoritySystem.replaceAll('{name}', encodeURIComponent(name)), assignerId });
  }
  report(
    ctx,
    'warning',
    'unknown-authority',
    `assigning authority ${quoted(name)} is not in the site's assigningAuthorities; identifier has no system (assigner.display keeps the authority). Add it to site "${site.name}"`,
    where,
  );
  return compact({ assignerDisplay: name, assignerId });
}


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
