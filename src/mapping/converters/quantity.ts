/**
 * Numbers: NM → number, NM with units → Quantity (IG NM[Quantity] + CWE[Quantity]), SN → Quantity,
 * Range or Ratio (IG SN[Quantity]/[Range]/[Ratio]), NR → Range, CQ → Quantity.
 */
import type { Extension, Quantity, Range, Ratio } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, argValue, at, clean, comp, compact, report, within } from './context.js';

const UCUM = 'http://unitsofmeasure.org';
const NM = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** v2 NM text → number; undefined when it is not one. */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined || !NM.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Units written as UCUM even when the sender names no coding system (or ISO+/ANSI+, whose
 * common lab units are spelled the same). A short list on purpose: "K/uL" or "mEq/L" parse as
 * UCUM too but would not mean what the lab meant, so only units that are unambiguous qualify.
 */
const UCUM_LOOKALIKES: ReadonlySet<string> = new Set([
  '%', 'mg/dL', 'g/dL', 'g/L', 'mg/L', 'ug/L', 'ug/dL', 'ng/mL', 'ng/dL', 'pg/mL', 'mmol/L', 'umol/L', 'nmol/L',
  'pmol/L', 'U/L', 'mU/L', 'uU/mL', '[IU]/L', 'mL/min', 'fL', 'pg', 'mm[Hg]', 'mm/h', 'kg', 'g', 'mg', 'ug', 'L',
  'mL', 'dL', 'cm', 'mm', 'm', 'kg/m2', 's', 'min', 'h', 'd', 'wk', 'mo', 'a', 'Cel', '[degF]', '/min',
  '10*3/uL', '10*6/uL', '10*9/L', '10*12/L', 'mosm/kg', '[in_i]', '[lb_av]',
]);
const UNIT_SYSTEMS_LIKE_UCUM: ReadonlySet<string> = new Set(['ISO+', 'ANSI+', 'ANS+']);

/**
 * Units (a CWE) → the unit, system and code of a Quantity (IG CWE[Quantity]): unit is the text,
 * else the code; code and system only when both the code and the system are known, since FHIR
 * wants a system with every code (qty-3).
 */
export function unitsOf(units: V2Value | undefined, ctx: ConverterContext): Pick<Quantity, 'unit' | 'system' | 'code'> {
  if (units === undefined || units.isEmpty) return {};
  const unitCode = comp(units, 1);
  const unitText = comp(units, 2);
  const name = comp(units, 3);
  let system: string | undefined;
  if (unitCode !== undefined) {
    if (name === undefined || UNIT_SYSTEMS_LIKE_UCUM.has(name.toUpperCase())) system = UCUM_LOOKALIKES.has(unitCode) ? UCUM : undefined;
    else system = ctx.codeSystems.resolve(name, ctx);
  }
  return compact({ unit: unitText ?? unitCode, system, code: system === undefined ? undefined : unitCode });
}

function notNumber(ctx: ConverterContext, where?: string): undefined {
  report(ctx, 'warning', 'invalid-value', 'value is not a v2 number (NM); left out', where);
  return undefined;
}

/** NM → number. */
export function nm(value: V2Value, _args: Args, ctx: ConverterContext): number | undefined {
  const t = clean(value.at(1));
  if (t === undefined) return undefined;
  return parseNumber(t) ?? notNumber(ctx);
}

/** NM → Quantity; args: `units` (a CWE path, e.g. OBX-6). */
export function quantity(value: V2Value, args: Args, ctx: ConverterContext): Quantity | undefined {
  const t = clean(value.at(1));
  if (t === undefined) return undefined;
  const n = parseNumber(t);
  if (n === undefined) return notNumber(ctx);
  const units = argValue(args, 'units', 0);
  return { value: n, ...unitsOf(units, ctx) };
}

/** CQ → Quantity: CQ.1 value, CQ.2 units (a CWE in subcomponents). */
export function cq(value: V2Value, _args: Args, ctx: ConverterContext): Quantity | undefined {
  const t = comp(value, 1);
  if (t === undefined) return undefined;
  const n = parseNumber(t);
  if (n === undefined) return notNumber(ctx, within(ctx, 1));
  return { value: n, ...unitsOf(value.part(2), at(ctx, within(ctx, 2))) };
}

/** NR → Range: NR.1 low, NR.2 high (the IG gives a Range no units). */
export function nr(value: V2Value, _args: Args, ctx: ConverterContext): Range | undefined {
  const lowText = comp(value, 1);
  const highText = comp(value, 2);
  if (lowText === undefined && highText === undefined) return undefined;
  const low = parseNumber(lowText);
  const high = parseNumber(highText);
  if ((lowText !== undefined && low === undefined) || (highText !== undefined && high === undefined)) return notNumber(ctx);
  return compact<Range>({ low: low === undefined ? undefined : { value: low }, high: high === undefined ? undefined : { value: high } });
}

/** A structured numeric, read as the IG reads it for OBX-5. */
export type StructuredNumeric =
  | { readonly kind: 'Quantity'; readonly value: Quantity }
  | { readonly kind: 'Range'; readonly value: Range }
  | { readonly kind: 'Ratio'; readonly value: Ratio }
  | { readonly kind: 'string'; readonly value: string };

const COMPARATORS: ReadonlySet<string> = new Set(['<', '<=', '>=', '>']);
const PLAIN_SN = /^(<=|>=|<>|<|>|=)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:\s*([-+:/])\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))?)?$/;

function originalText(parts: readonly (string | undefined)[]): Extension {
  return {
    url: 'http://hl7.org/fhir/StructureDefinition/originalText',
    valueString: parts.filter((p) => p !== undefined).join(' '),
  };
}

/**
 * SN → the IG's choice: "<>" and "+" (and anything unreadable) as a string; ":" or "/" a Ratio;
 * "-" a Range; otherwise a Quantity with the comparator. A sender that writes the SN as plain
 * text ("<5", "1-2", "1:128") with no components is read the same way, with an information issue.
 */
export function readSn(value: V2Value, units: V2Value | undefined, ctx: ConverterContext): StructuredNumeric | undefined {
  if (value.isEmpty) return undefined;
  let comparator = comp(value, 1);
  let num1 = comp(value, 2);
  let separator = comp(value, 3);
  let num2 = comp(value, 4);
  const raw = clean(value.text);
  if (raw !== undefined && value.delimiters.component !== '' && !value.raw.includes(value.delimiters.component)) {
    const m = PLAIN_SN.exec(raw);
    if (m === null) {
      report(ctx, 'warning', 'invalid-value', 'structured numeric (SN) is not readable; kept as text');
      return { kind: 'string', value: raw };
    }
    // A bare number is harmless; a comparator or separator run into the text is worth knowing.
    if (m[1] !== undefined || m[3] !== undefined) {
      report(ctx, 'information', 'invalid-value', 'structured numeric (SN) sent as plain text without components; read by its form');
    }
    [comparator, num1, separator, num2] = [m[1], m[2], m[3], m[4]];
  }
  const unitParts = unitsOf(units, ctx);
  const asText = (): StructuredNumeric => ({
    kind: 'string',
    value: [comparator, num1, separator, num2, unitParts.unit].filter((p) => p !== undefined).join(' '),
  });
  if (comparator === '<>' || separator === '+') return asText();
  const n1 = parseNumber(num1);
  const n2 = parseNumber(num2);
  if ((num1 !== undefined && n1 === undefined) || (num2 !== undefined && n2 === undefined)) {
    report(ctx, 'warning', 'invalid-value', 'structured numeric (SN) has a non-numeric number; kept as text');
    return asText();
  }
  let cmp = comparator === undefined || comparator === '=' ? undefined : comparator;
  if (cmp !== undefined && !COMPARATORS.has(cmp)) {
    // The IG picks Range and Ratio by the separator alone (SN.3), whatever SN.1 holds; a Range has
    // no comparator anyway. The unreadable comparator stays in the original text.
    if (separator === '-' || separator === ':' || separator === '/') {
      report(ctx, 'warning', 'invalid-value', 'structured numeric (SN) comparator is not one of < <= >= > = <>; left out of the range or ratio');
      cmp = undefined;
    } else {
      report(ctx, 'warning', 'invalid-value', 'structured numeric (SN) comparator is not one of < <= >= > = <>; kept as text');
      return asText();
    }
  }
  const original = originalText([comparator, num1, separator, num2]);
  if (separator === ':' || separator === '/') {
    if (n1 === undefined || n2 === undefined) return asText();
    return {
      kind: 'Ratio',
      value: {
        extension: [original],
        numerator: compact<Quantity>({ value: n1, comparator: cmp as Quantity['comparator'], ...unitParts }),
        denominator: { value: n2, ...unitParts },
      },
    };
  }
  if (separator === '-') {
    // A Range has no comparator: one sent with a range is kept in the original text only.
    return {
      kind: 'Range',
      value: compact<Range>({
        extension: [original],
        low: n1 === undefined ? undefined : { value: n1, ...unitParts },
        high: n2 === undefined ? undefined : { value: n2, ...unitParts },
      }),
    };
  }
  if (n1 === undefined) return num2 === undefined && separator === undefined ? undefined : asText();
  return {
    kind: 'Quantity',
    value: compact<Quantity>({
      extension: separator !== undefined || num2 !== undefined ? [original] : undefined,
      value: n1,
      comparator: cmp as Quantity['comparator'],
      ...unitParts,
    }),
  };
}

/** SN → Quantity, Range or Ratio (a string for the forms FHIR cannot express); args: `units`. */
export function sn(value: V2Value, args: Args, ctx: ConverterContext): Quantity | Range | Ratio | string | undefined {
  return readSn(value, argValue(args, 'units', 0), ctx)?.value;
}
