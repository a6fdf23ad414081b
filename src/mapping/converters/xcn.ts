/**
 * XCN → Practitioner (IG XCN[Practitioner]) as a referenced resource: the evaluator gives it its
 * own entry (POST + ifNoneExist when the identifier has a system) and a Reference.
 */
import type { Identifier, Practitioner } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type ResourceRef, resourceRef } from '../resource-ref.js';
import { type Args, comp, compact, report, within } from './context.js';
import { buildIdentifier } from './cx.js';
import { authorityAt, resolveAuthority } from './hd.js';
import { practitionerName } from './xpn.js';

const V2_0360 = 'http://terminology.hl7.org/CodeSystem/v2-0360';

/**
 * Key: the identifier's system|value when there is an identifier, else the name parts (with an
 * identity-fallback issue: two people of the same name become one Practitioner).
 */
export function xcn(value: V2Value, args: Args, ctx: ConverterContext): ResourceRef | undefined {
  if (value.isEmpty) return undefined;
  const id = comp(value, 1);
  let identifier: Identifier | undefined;
  if (id !== undefined) {
    const authority = resolveAuthority(authorityAt(value.part(9), 1), ctx, within(ctx, 9));
    identifier = buildIdentifier({ value: id, typeCode: comp(value, 13), checkDigit: comp(value, 11) }, authority, ctx, within(ctx, 13));
  }
  const name = practitionerName(value, args, ctx);
  if (identifier === undefined && name === undefined) return undefined;
  const degree = comp(value, 7);
  const practitioner: Practitioner = compact<Practitioner>({
    resourceType: 'Practitioner',
    identifier: identifier === undefined ? undefined : [identifier],
    name: name === undefined ? undefined : [name],
    // DegreeLicenseCertificate maps every code to itself in v2-0360.
    qualification: degree === undefined ? undefined : [{ code: { coding: [{ system: V2_0360, code: degree }] } }],
  });
  if (identifier?.value !== undefined) {
    const system = identifier.system;
    return resourceRef(practitioner, `Practitioner|${system ?? ''}|${identifier.value}`, system === undefined ? undefined : `${system}|${identifier.value}`);
  }
  report(ctx, 'information', 'identity-fallback', 'practitioner sent without an ID (XCN.1); identified by name');
  const n = name ?? {};
  const key = ['Practitioner', 'name', n.family ?? '', ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])].join('|');
  return resourceRef(practitioner, key);
}
