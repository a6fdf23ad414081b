/**
 * PL → Location as a referenced resource.
 *
 * Departure from IG PL[Location], which builds one Location per level (bed → room → floor →
 * point of care → building → facility) chained by partOf: a converter returns one referenced
 * resource, so this builds one Location for the most specific level sent, named by the whole
 * path ("4WEST 412 B") and keyed by every level, so the same bed in two messages is one
 * Location and bed B of room 412 never merges with bed B of room 413. Per-level identifiers
 * would be ambiguous alone ("B"), so the only identifier is PL.10, the comprehensive one.
 */
import type { Identifier, Location } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type ResourceRef, resourceRef } from '../resource-ref.js';
import { type Args, comp, compact, within } from './context.js';
import { assignerOf, authorityAt, resolveAuthority } from './hd.js';

const PHYSICAL_TYPE = 'http://terminology.hl7.org/CodeSystem/location-physical-type';

/** Levels from most to least specific: component, physical type code and display. */
const LEVELS = [
  { n: 3, code: 'bd', display: 'Bed' },
  { n: 2, code: 'ro', display: 'Room' },
  { n: 8, code: 'lvl', display: 'Level' },
  // The IG leaves the point of care's type open; a nursing unit is a ward.
  { n: 1, code: 'wa', display: 'Ward' },
  { n: 7, code: 'bu', display: 'Building' },
  { n: 4, code: 'si', display: 'Site' },
] as const;

/** A level's name: the HD namespace (IS before v2.5, which reads the same), else its universal id. */
function level(value: V2Value, n: number): string | undefined {
  return comp(value, n, 1) ?? comp(value, n, 2);
}

export function pl(value: V2Value, _args: Args, ctx: ConverterContext): ResourceRef | undefined {
  if (value.isEmpty) return undefined;
  const specific = LEVELS.find((l) => level(value, l.n) !== undefined);
  const description = comp(value, 9);
  if (specific === undefined && description === undefined) return undefined;
  const unitParts = [level(value, 1), level(value, 2), level(value, 3)].filter((p) => p !== undefined);
  const name =
    unitParts.length > 0 ? unitParts.join(' ') : specific === undefined ? description : level(value, specific.n);

  let identifier: Identifier | undefined;
  const comprehensive = comp(value, 10, 1);
  if (comprehensive !== undefined) {
    const authority = resolveAuthority(authorityAt(value.part(10), 2), ctx, within(ctx, 10));
    identifier = compact<Identifier>({
      system: authority.system,
      value: comprehensive,
      assigner: assignerOf(authority),
    });
  }
  const location = compact<Location>({
    resourceType: 'Location',
    identifier: identifier === undefined ? undefined : [identifier],
    name,
    description,
    mode: 'instance',
    physicalType:
      specific === undefined ? undefined : { coding: [{ system: PHYSICAL_TYPE, code: specific.code, display: specific.display }] },
  });
  const path = [4, 7, 8, 1, 2, 3].map((n) => level(value, n) ?? '').join('|');
  const key = `Location|${path}|${specific === undefined ? description ?? '' : ''}`;
  const query = identifier?.system === undefined ? undefined : `${identifier.system}|${comprehensive ?? ''}`;
  return resourceRef(location, key, query);
}
