/**
 * EI → Identifier. The IG offers several EI variants; this is EI[Identifier-System]: EI.1 the
 * value, EI.2-4 the assigning authority resolved to a system like CX.4 (the implementation
 * context the sheet leaves open is the site overlay), so placer and filler numbers can be
 * matched by a conditional update.
 */
import type { Identifier } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, argText, comp, compact, report, within } from './context.js';
import { V2_0203 } from './cx.js';
import { assignerOf, authorityAt, resolveAuthority } from './hd.js';

/** args: `type: PLAC|FILL|…` sets Identifier.type to that v2-0203 code (placer, filler …). */
export function ei(value: V2Value, args: Args, ctx: ConverterContext): Identifier | undefined {
  if (value.isEmpty) return undefined;
  const id = comp(value, 1);
  if (id === undefined) {
    report(ctx, 'warning', 'invalid-value', 'entity identifier sent without EI.1; left out', within(ctx, 1));
    return undefined;
  }
  const authority = resolveAuthority(authorityAt(value, 2), ctx, within(ctx, 2));
  const type = argText(args, 'type', 0) ?? authority.type;
  return compact<Identifier>({
    type: type === undefined ? undefined : { coding: [{ system: V2_0203, code: type }] },
    system: authority.system,
    value: id,
    assigner: assignerOf(authority),
  });
}
