/**
 * XCN → Practitioner (IG XCN[Practitioner]) as a referenced resource: the evaluator gives it its
 * own entry (POST + ifNoneExist when the identifier has a system) and a Reference.
 */
import type { HumanName, Identifier, Practitioner } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type ResourceRef, resourceRef } from '../resource-ref.js';
import { type Args, comp, compact, report, within } from './context.js';
import { buildIdentifier } from './cx.js';
import { authorityAt, resolveAuthority } from './hd.js';
import { cnnName, practitionerName } from './xpn.js';

const V2_0360 = 'http://terminology.hl7.org/CodeSystem/v2-0360';

/**
 * Bundle key of a Practitioner with an identifier. With a system, the name joins it: a message
 * that sends two different names under one identifier (a placeholder ID such as "1", or "DOE^J"
 * beside "DOE^JANE") keeps each as sent instead of silently keeping the first. The key decides
 * nothing on the server: both entries are created only if no Practitioner has the identifier
 * (ifNoneExist), so they resolve to one record there. Without a system the evaluator already
 * keys by content.
 */
function practitionerKey(system: string | undefined, value: string, name: HumanName | undefined): string {
  const base = `Practitioner|${system ?? ''}|${value}`;
  if (system === undefined) return base;
  return [base, ...[name?.family ?? '', ...(name?.given ?? [])].map((n) => n.toUpperCase())].join('|');
}

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
    return resourceRef(practitioner, practitionerKey(system, identifier.value, name), system === undefined ? undefined : `${system}|${identifier.value}`);
  }
  report(ctx, 'information', 'identity-fallback', 'practitioner sent without an ID (XCN.1); identified by name');
  const n = name ?? {};
  const key = ['Practitioner', 'name', n.family ?? '', ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])].join('|');
  return resourceRef(practitioner, key);
}

/**
 * CNN → Practitioner (IG CNN[Practitioner]), the person inside an NDL (OBR-32 to OBR-35, written
 * `OBR-32[*].1 | cnn`). Unlike XCN, the assigning authority is spread over CNN.9-11 and there is
 * no degree qualification: the degree is a name suffix. Keyed like XCN.
 */
export function cnn(value: V2Value, args: Args, ctx: ConverterContext): ResourceRef | undefined {
  if (value.isEmpty) return undefined;
  const id = comp(value, 1);
  let identifier: Identifier | undefined;
  if (id !== undefined) {
    const authority = resolveAuthority(authorityAt(value, 9), ctx, within(ctx, 9));
    identifier = buildIdentifier({ value: id, typeCode: undefined }, authority, ctx, within(ctx, 9));
  }
  const name = cnnName(value, args, ctx);
  if (identifier === undefined && name === undefined) return undefined;
  const practitioner: Practitioner = compact<Practitioner>({
    resourceType: 'Practitioner',
    identifier: identifier === undefined ? undefined : [identifier],
    name: name === undefined ? undefined : [name],
  });
  if (identifier?.value !== undefined) {
    const system = identifier.system;
    return resourceRef(practitioner, practitionerKey(system, identifier.value, name), system === undefined ? undefined : `${system}|${identifier.value}`);
  }
  report(ctx, 'information', 'identity-fallback', 'practitioner sent without an ID (CNN.1); identified by name');
  const n = name ?? {};
  const key = ['Practitioner', 'name', n.family ?? '', ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])].join('|');
  return resourceRef(practitioner, key);
}
