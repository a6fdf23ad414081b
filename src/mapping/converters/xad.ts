/**
 * XAD → Address (IG XAD[Address], SAD[Address] for XAD.1).
 */
import type { Address, Extension } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, comp, compact, nonEmpty, within } from './context.js';
import { toDateTime } from './ts.js';
import { ADDRESS_TYPE, ADDRESS_USE, mapCode } from './vocabulary.js';

export function xad(value: V2Value, _args: Args, ctx: ConverterContext): Address | undefined {
  if (value.isEmpty) return undefined;
  const line = nonEmpty([comp(value, 1, 1), comp(value, 1, 2), comp(value, 1, 3), comp(value, 2), comp(value, 19)]);
  const city = comp(value, 3);
  const state = comp(value, 4);
  const postalCode = comp(value, 5);
  const country = comp(value, 6);
  // County is a CWE from v2.6 on; CWE[string] takes the text when there is one, else the code.
  const district = comp(value, 9, 2) ?? comp(value, 9, 1);
  if (line === undefined && city === undefined && state === undefined && postalCode === undefined && country === undefined && district === undefined) {
    return undefined;
  }
  const kind = comp(value, 7);
  let use: string | undefined;
  let type: string | undefined;
  let extension: Extension[] | undefined;
  if (kind !== undefined) {
    // IG conditions: M/SH give the type, the others the use; HV (vacation home) has no address-use
    // code, so it goes to the ISO 21090 use extension as the IG says.
    if (Object.hasOwn(ADDRESS_TYPE, kind)) type = ADDRESS_TYPE[kind];
    else if (kind === 'HV') extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/iso21090-AD-use', valueCode: 'HV' }];
    else use = mapCode(ctx, 'hl7-0190', kind, ADDRESS_USE, within(ctx, 7));
  }
  let start = toDateTime(value.part(13).at(1), ctx, within(ctx, 13));
  let end = toDateTime(value.part(14).at(1), ctx, within(ctx, 14));
  if (start === undefined && end === undefined) {
    start = toDateTime(value.at(12, 1), ctx, within(ctx, 12, 1));
    end = toDateTime(value.at(12, 2), ctx, within(ctx, 12, 2));
  }
  const period = start !== undefined || end !== undefined ? compact({ start, end }) : undefined;
  return compact<Address>({
    extension,
    use: use as Address['use'],
    type: type as Address['type'],
    line,
    city,
    district,
    state,
    postalCode,
    country,
    period,
  });
}
