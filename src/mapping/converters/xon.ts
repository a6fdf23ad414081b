/**
 * XON → Organization (IG XON[Organization]) as a referenced resource.
 */
import type { Identifier, Organization } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type ResourceRef, resourceRef } from '../resource-ref.js';
import { type Args, comp, compact, report, within } from './context.js';
import { buildIdentifier } from './cx.js';
import { authorityAt, resolveAuthority } from './hd.js';

/**
 * name XON.1; identifier XON.10 (else XON.3, the pre-v2.5 number) with XON.6 as authority and
 * XON.7 as type. Keyed by system|value, else by name (identity-fallback).
 */
export function xon(value: V2Value, _args: Args, ctx: ConverterContext): ResourceRef | undefined {
  if (value.isEmpty) return undefined;
  const name = comp(value, 1);
  const id = comp(value, 10) ?? comp(value, 3);
  let identifier: Identifier | undefined;
  if (id !== undefined) {
    const authority = resolveAuthority(authorityAt(value.part(6), 1), ctx, within(ctx, 6));
    identifier = buildIdentifier({ value: id, typeCode: comp(value, 7), checkDigit: comp(value, 4) }, authority, ctx, within(ctx, 7));
  }
  if (identifier === undefined && name === undefined) return undefined;
  const org = compact<Organization>({
    resourceType: 'Organization',
    identifier: identifier === undefined ? undefined : [identifier],
    name,
  });
  if (identifier?.value !== undefined) {
    const system = identifier.system;
    return resourceRef(org, `Organization|${system ?? ''}|${identifier.value}`, system === undefined ? undefined : `${system}|${identifier.value}`);
  }
  report(ctx, 'information', 'identity-fallback', 'organization sent without an identifier (XON.10/XON.3); identified by name');
  return resourceRef(org, `Organization|name|${name ?? ''}`);
}
