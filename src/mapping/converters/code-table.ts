/**
 * Values through the mapping set's code tables: `code(table)` for code-typed FHIR elements,
 * `concept(table)` for CodeableConcepts, which also keep the v2 code as sent (IG advice: keep
 * the original code).
 */
import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, argText, at, comp, compact, report, within } from './context.js';

function tableId(args: Args, ctx: ConverterContext, converter: string): string | undefined {
  const id = argText(args, 'table', 0);
  if (id === undefined) report(ctx, 'error', 'missing-required', `${converter} needs a table id, e.g. ${converter}(hl7-0001); fix the mapping`);
  return id;
}

/** The FHIR code for the value's first component; undefined when the table gives none. */
export function code(value: V2Value, args: Args, ctx: ConverterContext): string | undefined {
  const table = tableId(args, ctx, 'code');
  const v2 = comp(value, 1);
  if (table === undefined || v2 === undefined) return undefined;
  return ctx.tables.lookup(table, v2, ctx)?.code;
}

/** hl7-0001 → http://terminology.hl7.org/CodeSystem/v2-0001. */
export function v2TableSystem(table: string): string | undefined {
  const m = /^hl7-(\d{4})(?:$|-)/i.exec(table);
  return m?.[1] === undefined ? undefined : `http://terminology.hl7.org/CodeSystem/v2-${m[1]}`;
}

/**
 * The table's FHIR coding plus the original v2 coding: its system is the HL7 table's
 * (hl7-nnnn → v2-nnnn), else the one the value names in component 3, else none. The text is
 * the value's own (CWE.9, else CWE.2).
 */
export function concept(value: V2Value, args: Args, ctx: ConverterContext): CodeableConcept | undefined {
  const table = tableId(args, ctx, 'concept');
  const v2 = comp(value, 1);
  if (table === undefined || v2 === undefined) return undefined;
  const coding: Coding[] = [];
  const hit = ctx.tables.lookup(table, v2, ctx);
  // An unmapped passthrough hit without a system is the original code again: the v2 coding below carries it.
  if (hit !== undefined && !(hit.unmapped && hit.system === undefined)) {
    coding.push(compact<Coding>({ system: hit.system, code: hit.code, display: hit.display }));
  }
  const name = comp(value, 3);
  const system = v2TableSystem(table) ?? (name === undefined ? undefined : ctx.codeSystems.resolve(name, at(ctx, within(ctx, 3))));
  const original = compact<Coding>({ system, code: v2, display: comp(value, 2) });
  if (!coding.some((c) => c.system === original.system && c.code === original.code)) coding.push(original);
  return compact<CodeableConcept>({ coding, text: comp(value, 9) ?? comp(value, 2) });
}
