/**
 * The IG concept maps the datatype converters apply to their own components (name use, address
 * use/type, telecom use/system). They are copied from ig-mappings/codesystems/ so the converters
 * work with no table files loaded; when the mapping set does load the table (same id), the
 * registry answers instead, so an analyst can add or change codes in YAML.
 * `null` marks a v2 code the IG lists with no FHIR target.
 */
import type { ConverterContext } from '../types.js';
import { report } from './context.js';

export type BuiltinMap = Readonly<Record<string, string | null>>;

/** HL7 Concept Map_ NameType (table 0200 → name-use). */
export const NAME_USE: BuiltinMap = {
  BAD: 'old', A: null, B: null, C: null, D: 'usual', F: null, I: null, K: null, L: 'official',
  M: 'maiden', MSK: 'anonymous', N: 'nickname', NAV: 'temp', NB: null, NOUSE: null, P: null,
  R: 'official', REL: null, S: null, T: null, TEMP: 'temp', U: null,
};

/** HL7 Concept Map_ AddressType[Use] (table 0190 → address-use). */
export const ADDRESS_USE: BuiltinMap = {
  BA: 'old', BI: 'billing', N: null, BDL: null, F: null, C: 'temp', B: 'work', H: 'home', L: null,
  M: null, O: 'work', P: null, RH: null, BR: null, S: null, SH: null, TM: null, V: null, HV: null,
};

/** HL7 Concept Map_ AddressType[Type] (table 0190 → address-type). */
export const ADDRESS_TYPE: Readonly<Record<string, string>> = { M: 'postal', SH: 'postal' };

/** HL7 Concept Map_ TelecommunicationUseCode (table 0201 → contact-point-use). */
export const TELECOM_USE: BuiltinMap = {
  PRN: 'home', ORN: null, WPN: 'work', VHN: null, ASN: null, EMR: null, NET: null, BPN: null, PRS: 'mobile',
};

/**
 * HL7 Concept Map_ TelecommunicationEquipmentType (table 0202 → contact-point-system). The sheet
 * maps CP to "mobile" in the contact-point-use system, which is not a system code: CP is a phone
 * whose use is mobile (the XTN converter sets both).
 */
export const TELECOM_SYSTEM: BuiltinMap = {
  PH: 'phone', FX: 'fax', MD: 'other', CP: 'phone', SAT: 'other', BP: 'pager', Internet: 'email',
  'X.400': 'email', TDD: 'other', TTY: 'other',
};

/**
 * A v2 code through a table: the loaded table when there is one (it reports unknown codes
 * itself), else the built-in IG map. A code the IG knows but cannot map is information (the v2
 * value was valid, FHIR has no word for it); a code outside the table is a warning.
 */
export function mapCode(
  ctx: ConverterContext,
  table: string,
  code: string,
  builtin: BuiltinMap,
  where: string,
): string | undefined {
  if (ctx.tables.has(table)) {
    // An unknown code gets the table's own unmapped rule (fallback, passthrough or nothing).
    return ctx.tables.lookup(table, code, { ...ctx, location: where })?.code;
  }
  const target = Object.hasOwn(builtin, code) ? builtin[code] : undefined;
  if (typeof target === 'string') return target;
  if (target === null) {
    report(ctx, 'information', 'unknown-code', 'v2 code has no FHIR equivalent in the IG concept map; left out', where, table);
  } else {
    report(ctx, 'warning', 'unknown-code', 'code is not in its v2 table; left out', where, table);
  }
  return undefined;
}
