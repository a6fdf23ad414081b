/**
 * CWE / CE / CNE → CodeableConcept and Coding (IG CWE[CodeableConcept], CWE[Coding]). The coding
 * system names become URIs through the code system registry.
 */
import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, at, comp, compact, within } from './context.js';

/** Component numbers of one CWE triplet: code, display, system name, system version. */
const TRIPLETS: readonly (readonly [number, number, number, number])[] = [
  [1, 2, 3, 7],
  [4, 5, 6, 8],
  [10, 11, 12, 13],
];

/**
 * A coding from one triplet, or undefined without a code. An unknown coding system name keeps
 * the code under a site-scoped urn:x-v2-cs system (the registry reports it): a code without a
 * system could be mistaken for one from any system, and dropping it loses what the sender said.
 */
function triplet(value: V2Value, t: readonly [number, number, number, number], ctx: ConverterContext): Coding | undefined {
  const [c, d, s, v] = t;
  const code = comp(value, c);
  if (code === undefined) return undefined;
  const name = comp(value, s);
  const system = name === undefined ? undefined : ctx.codeSystems.resolve(name, at(ctx, within(ctx, s)));
  return compact<Coding>({ system, version: comp(value, v), code, display: comp(value, d) });
}

/**
 * All three triplets as codings. text is CWE.9 as the IG maps it, else the display of the first
 * or second triplet: a departure so that a concept whose codes a receiver does not know still
 * reads as something (CodeableConcept.text is what viewers show first).
 */
export function cwe(value: V2Value, _args: Args, ctx: ConverterContext): CodeableConcept | undefined {
  if (value.isEmpty) return undefined;
  const coding: Coding[] = [];
  for (const t of TRIPLETS) {
    const c = triplet(value, t, ctx);
    if (c !== undefined) coding.push(c);
  }
  const text = comp(value, 9) ?? comp(value, 2) ?? comp(value, 5);
  if (coding.length === 0 && text === undefined) return undefined;
  return compact<CodeableConcept>({ coding: coding.length > 0 ? coding : undefined, text });
}

/** The first triplet only (IG CWE[Coding]). */
export function coding(value: V2Value, _args: Args, ctx: ConverterContext): Coding | undefined {
  if (value.isEmpty) return undefined;
  const first = TRIPLETS[0];
  return first === undefined ? undefined : triplet(value, first, ctx);
}
