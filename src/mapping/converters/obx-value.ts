/**
 * OBX-5 by OBX-2 → Observation.value[x], following the OBX-5 rows of IG OBX[Observation]. The
 * result is an object whose single key names the choice ({ valueQuantity: … }); the evaluator
 * merges it into the Observation.
 */
import type { Attachment, Extension } from '@medplum/fhirtypes';
import { type ConverterContext, V2Value } from '../types.js';
import { type Args, argText, argValue, clean, comp, compact, quoted, report, within } from './context.js';
import { cwe } from './cwe.js';
import { nr, parseNumber, readSn, unitsOf } from './quantity.js';
import { ft, text } from './text.js';
import { period, toDate, toDateTime, toTime } from './ts.js';

export type ObservationValue = Readonly<Record<string, unknown>>;

/**
 * IG row "ED AND OBX-5.4 = Base64": R4 Observation has no valueAttachment, so the IG carries it
 * in this R5 cross-version extension. The URL is the IG's, letter for letter.
 */
export const OBSERVATION_VALUE_ATTACHMENT = 'https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment';

/** ED.2 type of data (table 0191) → MIME top-level type. */
const MIME_TOP: Readonly<Record<string, string>> = {
  AP: 'application', APPLICATION: 'application', IM: 'image', IMAGE: 'image', AU: 'audio', AUDIO: 'audio',
  TEXT: 'text', TX: 'text', MULTIPART: 'multipart', VIDEO: 'video', NS: 'application', SD: 'application', SI: 'application',
};

/**
 * contentType from ED.2/ED.3. The IG maps ED.3 alone, but a bare subtype ("PDF") is not a MIME
 * type; joined with ED.2's top-level type it is ("application/pdf").
 */
function contentType(typeOfData: string | undefined, subtype: string | undefined): string | undefined {
  if (subtype !== undefined && subtype.includes('/')) return subtype.toLowerCase();
  const top = typeOfData === undefined ? undefined : MIME_TOP[typeOfData.toUpperCase()];
  if (top === undefined) return subtype === undefined ? undefined : `application/${subtype.toLowerCase()}`;
  const sub = subtype === undefined ? (top === 'text' ? 'plain' : 'octet-stream') : subtype.toLowerCase();
  return `${top}/${sub}`;
}

/** ED → Attachment: data as base64 whatever ED.4 says it was sent as (IG: "convert from A or HEX"). */
export function edAttachment(value: V2Value, ctx: ConverterContext): Attachment | undefined {
  const data = value.at(5);
  if (clean(data) === undefined) return undefined;
  const encoding = comp(value, 4)?.toUpperCase();
  let base64: string;
  if (encoding === 'BASE64') {
    base64 = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 === 1) {
      report(ctx, 'warning', 'invalid-value', 'ED data declared Base64 is not valid base64; left out', within(ctx, 5));
      return undefined;
    }
  } else if (encoding === 'HEX') {
    const hex = data.replace(/\s+/g, '');
    if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) {
      report(ctx, 'warning', 'invalid-value', 'ED data declared Hex is not hexadecimal; left out', within(ctx, 5));
      return undefined;
    }
    base64 = Buffer.from(hex, 'hex').toString('base64');
  } else {
    base64 = Buffer.from(data, 'utf8').toString('base64');
  }
  return compact<Attachment>({ contentType: contentType(comp(value, 2), comp(value, 3)), data: base64 });
}

/**
 * Value types of table 0125 that FHIR R4's value[x] has no type for (an identifier, a person, an
 * address, money …): the IG's catch-all row writes their parts as one string, separated by spaces.
 */
const COMPOSITE_AS_STRING: ReadonlySet<string> = new Set([
  'AD', 'CK', 'CN', 'CP', 'CX', 'EI', 'HD', 'MA', 'MO', 'PL', 'PN', 'SAD', 'TN', 'XAD', 'XCN', 'XON', 'XPN', 'XTN',
]);

/** The non-empty components (and subcomponents) of a value, then the units' text, space-separated. */
function joinedParts(value: V2Value, units: V2Value | undefined): string | undefined {
  const d = value.delimiters;
  const parts: string[] = [];
  for (const component of d.component === '' ? [value.raw] : value.raw.split(d.component)) {
    for (const sub of d.subcomponent === '' ? [component] : component.split(d.subcomponent)) {
      const t = clean(new V2Value(sub, 2, d).text);
      if (t !== undefined) parts.push(t);
    }
  }
  const unit = units === undefined ? undefined : comp(units, 2) ?? comp(units, 1);
  if (unit !== undefined && parts.length > 0) parts.push(unit);
  return parts.length === 0 ? undefined : parts.join(' ');
}

/** RP → Attachment (IG RP[Attachment]): RP.1 the pointer as url, RP.3/RP.4 the MIME type. */
function rpAttachment(value: V2Value): Attachment | undefined {
  const pointer = comp(value, 1);
  if (pointer === undefined) return undefined;
  return compact<Attachment>({ contentType: contentType(comp(value, 3), comp(value, 4)), url: pointer });
}

function asString(s: string | undefined): ObservationValue | undefined {
  return s === undefined ? undefined : { valueString: s };
}

/**
 * args: `type` (OBX-2), `units` (OBX-6). An unknown or missing value type keeps the value as a
 * string with a warning: the result is kept rather than lost, and the issue says why it is untyped.
 */
export function obxValue(value: V2Value, args: Args, ctx: ConverterContext): ObservationValue | undefined {
  if (value.isEmpty) return undefined;
  const type = argText(args, 'type', 0)?.toUpperCase();
  const units = argValue(args, 'units', 1);
  switch (type) {
    case 'NM': {
      const t = clean(value.at(1));
      if (t === undefined) return undefined;
      const n = parseNumber(t);
      if (n !== undefined) return { valueQuantity: { value: n, ...unitsOf(units, ctx) } };
      // "<5" or ">=10" under NM is an SN in the wrong type: read it as one rather than lose the result.
      const sn = /^(<=|>=|<|>)\s*\S/.test(t) ? readSn(value, units, ctx) : undefined;
      if (sn?.kind === 'Quantity') {
        report(ctx, 'information', 'invalid-value', 'NM value carries a comparator; read as a structured numeric');
        return { valueQuantity: sn.value };
      }
      report(ctx, 'warning', 'invalid-value', 'NM value is not a number; kept as valueString');
      return { valueString: t };
    }
    case 'SN': {
      const sn = readSn(value, units, ctx);
      if (sn === undefined) return undefined;
      switch (sn.kind) {
        case 'Quantity':
          return { valueQuantity: sn.value };
        case 'Range':
          return { valueRange: sn.value };
        case 'Ratio':
          return { valueRatio: sn.value };
        default:
          return { valueString: sn.value };
      }
    }
    case 'NR': {
      const r = nr(value, args, ctx);
      return r === undefined ? undefined : { valueRange: r };
    }
    case 'ST':
    case 'TX':
      return asString(text(value, args, ctx));
    case 'FT':
      return asString(ft(value, args, ctx));
    case 'CWE':
    case 'CE':
    case 'CNE':
    case 'CF': {
      const cc = cwe(value, args, ctx);
      return cc === undefined ? undefined : { valueCodeableConcept: cc };
    }
    // IG IS[CodeableConcept]: the code alone. ID is not in the IG's OBX-5 rows; it is a coded
    // value like IS, so it gets the same treatment.
    case 'IS':
    case 'ID': {
      const c = comp(value, 1);
      return c === undefined ? undefined : { valueCodeableConcept: { coding: [{ code: c }] } };
    }
    case 'DT': {
      const d = toDate(value.at(1), ctx);
      return d === undefined ? undefined : { valueDateTime: d };
    }
    case 'DTM':
    case 'TS': {
      const d = toDateTime(value.at(1), ctx);
      return d === undefined ? undefined : { valueDateTime: d };
    }
    case 'TM': {
      const t = toTime(value.at(1), ctx);
      return t === undefined ? undefined : { valueTime: t };
    }
    case 'DR': {
      const p = period(value, args, ctx);
      return p === undefined ? undefined : { valuePeriod: p };
    }
    case 'VR': {
      const low = comp(value, 1);
      const high = comp(value, 2);
      return low === undefined && high === undefined ? undefined : { valueString: `${low ?? ''}-${high ?? ''}` };
    }
    case 'ED': {
      const attachment = edAttachment(value, ctx);
      if (attachment === undefined) return undefined;
      const extension: Extension[] = [{ url: OBSERVATION_VALUE_ATTACHMENT, valueAttachment: attachment }];
      return { extension };
    }
    case 'RP': {
      const attachment = rpAttachment(value);
      if (attachment === undefined) return undefined;
      const extension: Extension[] = [{ url: OBSERVATION_VALUE_ATTACHMENT, valueAttachment: attachment }];
      return { extension };
    }
    default: {
      // The IG's last OBX-5 row (no condition): any other type becomes a string of its parts.
      if (type !== undefined && COMPOSITE_AS_STRING.has(type)) return asString(joinedParts(value, units));
      report(
        ctx,
        'warning',
        'invalid-value',
        type === undefined
          ? 'observation value sent without a value type (OBX-2); kept as valueString'
          : `value type (OBX-2) ${quoted(type)} is not mapped; kept as valueString`,
      );
      return asString(text(value, args, ctx));
    }
  }
}

const ED_ENCODINGS: ReadonlySet<string> = new Set(['A', 'HEX', 'BASE64']);

/** An ED by its own shape: a data component (ED.5) and an encoding ED.4 says it is in. */
function looksLikeEd(value: V2Value): boolean {
  const encoding = comp(value, 4)?.toUpperCase();
  return encoding !== undefined && ED_ENCODINGS.has(encoding) && comp(value, 5) !== undefined;
}

function textAttachment(t: string | undefined): Attachment | undefined {
  return t === undefined ? undefined : { contentType: 'text/plain', data: Buffer.from(t, 'utf8').toString('base64') };
}

/**
 * OBX-5 (or NTE-3) → DocumentReference.content.attachment, after IG OBX[DocumentReference]: ED
 * as its attachment (IG ED[Attachment]), RP as a pointer (IG RP[Attachment]), text types as
 * their text in base64. Departure: the IG labels FT "text/hl7v2" and TX "application/text",
 * which no viewer opens; the text is written as text/plain, FT formatting rendered first.
 * args: `type` (OBX-2). The mapping language reads OBX-2 of the first OBX when it walks every
 * OBX-5 of a document, so a value whose own shape says ED (an encoding and data) is read as ED
 * whatever the type says, and an "ED" without data as the text it is.
 */
export function docAttachment(value: V2Value, args: Args, ctx: ConverterContext): Attachment | undefined {
  if (value.isEmpty) return undefined;
  const type = argText(args, 'type', 0)?.toUpperCase();
  if (looksLikeEd(value)) return edAttachment(value, ctx);
  switch (type) {
    case 'RP':
      return rpAttachment(value);
    case 'FT':
      return textAttachment(ft(value, args, ctx));
    default:
      return textAttachment(text(value, args, ctx));
  }
}
