/**
 * XPN → HumanName (IG XPN[HumanName]); XCN's name components → HumanName the same way.
 */
import type { HumanName } from '@medplum/fhirtypes';
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, comp, compact, nonEmpty, within } from './context.js';
import { toDateTime } from './ts.js';
import { mapCode, NAME_USE } from './vocabulary.js';

/** Component numbers of one name inside XPN or XCN (XCN shifts them by one and moves some). */
interface NameLayout {
  readonly family: number;
  readonly given: number;
  readonly middle: number;
  readonly suffix: readonly number[];
  readonly prefix: number;
  /** Absent in CNN, which carries no name type and no validity dates. */
  readonly use?: number;
  readonly range?: number;
  readonly start?: number;
  readonly end?: number;
}

/*
 * XPN.3 is kept as one given name even when it holds several words: the IG leaves "Mary Anne"
 * open, and splitting would turn a double first name into two.
 * XPN.14 is the professional suffix (suffix[3]) as the IG maps it, not HumanName.text.
 * XPN.11 (assembly order) and XPN.15 (called-by, a second name) are not mapped: one value in,
 * one HumanName out, and senders rarely fill them.
 */
const XPN: NameLayout = { family: 1, given: 2, middle: 3, suffix: [4, 6, 14], prefix: 5, use: 7, range: 10, start: 12, end: 13 };
const XCN: NameLayout = { family: 2, given: 3, middle: 4, suffix: [5, 21], prefix: 6, use: 10, range: 17, start: 19, end: 20 };
/** CNN (inside NDL: OBR-32 to OBR-35) puts the degree in suffix[2], as IG CNN[Practitioner] says. */
const CNN: NameLayout = { family: 2, given: 3, middle: 4, suffix: [5, 7], prefix: 6 };

function humanName(value: V2Value, l: NameLayout, ctx: ConverterContext): HumanName | undefined {
  // Family is FN.1 (surname) in v2.3+; in older versions the whole component, which at(n, 1) also reads.
  const family = comp(value, l.family, 1);
  const given = nonEmpty([comp(value, l.given), comp(value, l.middle)]);
  const suffix = nonEmpty(l.suffix.map((n) => comp(value, n)));
  const prefix = nonEmpty([comp(value, l.prefix)]);
  if (family === undefined && given === undefined && suffix === undefined && prefix === undefined) return undefined;
  const useCode = l.use === undefined ? undefined : comp(value, l.use);
  const use = useCode === undefined || l.use === undefined ? undefined : mapCode(ctx, 'hl7-0200', useCode, NAME_USE, within(ctx, l.use));
  let start = l.start === undefined ? undefined : toDateTime(value.part(l.start).at(1), ctx, within(ctx, l.start));
  let end = l.end === undefined ? undefined : toDateTime(value.part(l.end).at(1), ctx, within(ctx, l.end));
  // The validity range (DR) counts only when the separate dates are not sent (IG condition).
  if (start === undefined && end === undefined && l.range !== undefined) {
    start = toDateTime(value.at(l.range, 1), ctx, within(ctx, l.range, 1));
    end = toDateTime(value.at(l.range, 2), ctx, within(ctx, l.range, 2));
  }
  const period = start !== undefined || end !== undefined ? compact({ start, end }) : undefined;
  return compact<HumanName>({ use: use as HumanName['use'], family, given, prefix, suffix, period });
}

export function xpn(value: V2Value, _args: Args, ctx: ConverterContext): HumanName | undefined {
  return humanName(value, XPN, ctx);
}

/** The name inside an XCN (XCN.2-7, .10, .17-.21), without the Practitioner around it. */
export function practitionerName(value: V2Value, _args: Args, ctx: ConverterContext): HumanName | undefined {
  return humanName(value, XCN, ctx);
}

/** The name inside a CNN (CNN.2-7). */
export function cnnName(value: V2Value, _args: Args, ctx: ConverterContext): HumanName | undefined {
  return humanName(value, CNN, ctx);
}
