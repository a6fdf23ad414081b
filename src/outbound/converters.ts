/**
 * The inbound datatype converters run backwards: one FHIR value in, one v2 repetition out
 * (components of subcomponents, unescaped). Each mirrors its inbound twin in
 * src/mapping/converters/ component for component, so v2 → FHIR → v2 gives the fields back.
 * Never throws on odd input: reports an issue and returns undefined.
 */
import type { Item, OutboundIssue, V2Rep } from './model.js';
import { authorityFor, codeSystemName, tableSystem, v2CodeFor, type Hd, type ReverseEnv } from './reverse.js';

export interface OutContext extends ReverseEnv {
  /** Follows a Reference inside the Bundle (converters such as xcn take a Reference or the resource). */
  readonly resolve: (value: unknown) => unknown;
  readonly report: (issue: Omit<OutboundIssue, 'location'>) => void;
  /** MSH-12; decides CE/CWE and TS/DTM names in OBX-2. */
  readonly version: string;
}

export type OutConverter = (item: Item, args: readonly string[], cx: OutContext) => V2Rep | undefined;

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}
function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}
/** A repetition from component texts (undefined = empty). */
function rep(...comps: (string | undefined | readonly string[])[]): V2Rep {
  return comps.map((c) => (c === undefined ? [''] : typeof c === 'string' ? [c] : [...c]));
}
function hdSubs(hd: Hd | undefined): string[] | undefined {
  return hd === undefined ? undefined : [...hd];
}
function nonEmpty(r: V2Rep): V2Rep | undefined {
  return r.some((c) => c.some((s) => s !== '')) ? r : undefined;
}

// ---------------------------------------------------------------- dates and times

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** FHIR date, dateTime or instant → v2 DTM, precision and offset as given ("Z" is +0000). */
export function toDtm(text: string): string | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let out = `${y}${mo ?? ''}${d ?? ''}${h ?? ''}${mi ?? ''}${s ?? ''}`;
  // v2 DTM carries at most four fraction digits.
  if (frac !== undefined && s !== undefined) out += frac.slice(0, 5);
  if (zone !== undefined && h !== undefined) out += zone === 'Z' ? '+0000' : zone.replace(':', '');
  return out;
}

const ts: OutConverter = (item, _args, cx) => {
  const text = str(item.value);
  if (text === undefined) return undefined;
  const dtm = toDtm(text);
  if (dtm === undefined) cx.report({ severity: 'warning', code: 'unsupported-value', message: 'not a FHIR date or dateTime; left out' });
  return dtm === undefined ? undefined : rep(dtm);
};

/** The date part only (DT). */
const dt: OutConverter = (item, args, cx) => {
  const r = ts(item, args, cx);
  const d = r?.[0]?.[0];
  return d === undefined ? undefined : rep(d.slice(0, 8));
};

/**
 * FHIR time (hh:mm:ss[.f…]) → v2 TM (hhmmss[.ffff]): the fraction of a second as given, to the
 * four digits TM carries (inbound keeps a sent 223100.0000 as 22:31:00.0000, so it comes back).
 */
const tm: OutConverter = (item) => {
  const text = str(item.value);
  const m = text === undefined ? null : /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/.exec(text);
  if (m === null) return undefined;
  const fraction = m[3] !== undefined && m[4] !== undefined ? m[4].slice(0, 5) : '';
  return rep(`${m[1]}${m[2]}${m[3] ?? ''}${fraction}`);
};

// ---------------------------------------------------------------- identifiers

/** The HD an Identifier came from: its system, and assigner.display where inbound kept HD.1. */
function authorityOf(c: OutContext, id: Json): Hd | undefined {
  const assigner = obj(id['assigner']);
  const hd = authorityFor(c, str(id['system']), str(assigner?.['display']));
  // HD.2/HD.3 that inbound kept as assigner.identifier (a CLIA or NPI number, an invalid OID).
  const universal = obj(assigner?.['identifier']);
  const value = str(universal?.['value']);
  if (hd === undefined || value === undefined || hd[1] !== '') return hd;
  return [hd[0], value, str(obj(list(obj(universal?.['type'])?.['coding'])[0])?.['code']) ?? ''];
}

function identifierType(id: Json): string | undefined {
  const type = obj(id['type']);
  const coding = list(type?.['coding']).map(obj);
  // A local type inbound kept as text only (no 0203 code) goes back as sent.
  return str(coding[0]?.['code']) ?? (coding.length === 0 ? str(type?.['text']) : undefined);
}

/** Identifier → CX: ID ^ check digit ^ ^ authority (HD) ^ type ^ ^ start ^ end. */
const cx: OutConverter = (item, _args, c) => {
  const id = obj(item.value);
  const value = str(id?.['value']);
  if (id === undefined || value === undefined) return undefined;
  const check = list(id['extension']).map(obj).find((e) => e?.['url'] === 'http://hl7.org/fhir/StructureDefinition/identifier-checkDigit');
  const period = obj(id['period']);
  const start = str(period?.['start']);
  const end = str(period?.['end']);
  return rep(
    value,
    str(check?.['valueString']),
    undefined,
    hdSubs(authorityOf(c, id)),
    identifierType(id),
    undefined,
    // CX.7/CX.8 are DT up to v2.5 (DTM later, which a date also satisfies).
    start === undefined ? undefined : toDtm(start)?.slice(0, 8),
    end === undefined ? undefined : toDtm(end)?.slice(0, 8),
  );
};

/** Identifier → EI: entity id ^ namespace ^ universal id ^ universal id type. */
const ei: OutConverter = (item, _args, c) => {
  const id = obj(item.value);
  const value = str(id?.['value']);
  if (id === undefined || value === undefined) return undefined;
  const hd = authorityOf(c, id);
  return rep(value, hd?.[0], hd?.[1], hd?.[2]);
};

/** An identifier system (uri) → HD: namespace ^ universal id ^ type. */
const hd: OutConverter = (item, _args, c) => {
  const h = authorityFor(c, str(item.value));
  return h === undefined ? undefined : nonEmpty(rep(h[0], h[1], h[2]));
};

// ---------------------------------------------------------------- names, addresses, telecoms

function nameUse(c: OutContext, use: string | undefined): string | undefined {
  return use === undefined ? undefined : v2CodeFor(c, 'hl7-0200', use);
}

/** HumanName → XPN: family ^ given ^ further given ^ suffix ^ prefix ^ degree ^ type. */
const xpn: OutConverter = (item, _args, c) => {
  const n = obj(item.value);
  if (n === undefined) return undefined;
  const given = list(n['given']).map(str).filter((g): g is string => g !== undefined);
  const suffix = list(n['suffix']).map(str);
  const family = str(n['family']) ?? (given.length === 0 ? str(n['text']) : undefined);
  return nonEmpty(
    rep(family, given[0], given.length > 1 ? given.slice(1).join(' ') : undefined, suffix[0], str(list(n['prefix'])[0]), suffix[1], nameUse(c, str(n['use']))),
  );
};

function practitionerOf(value: unknown, c: OutContext): Json | undefined {
  const v = obj(value);
  if (v === undefined) return undefined;
  if (typeof v['reference'] === 'string') return obj(c.resolve(v));
  return v;
}

/**
 * Practitioner (or a Reference to one) → XCN: ID ^ family ^ given ^ middle ^ suffix ^ prefix ^
 * degree ^ ^ authority ^ … ^ identifier type (XCN.13).
 */
const xcn: OutConverter = (item, _args, c) => {
  const p = practitionerOf(item.value, c);
  if (p === undefined) {
    const display = str(obj(item.value)?.['display']);
    return display === undefined ? undefined : rep(undefined, display);
  }
  const id = obj(list(p['identifier'])[0]);
  const name = obj(list(p['name'])[0]);
  const given = list(name?.['given']).map(str);
  const degree = str(obj(list(obj(obj(list(p['qualification'])[0])?.['code'])?.['coding'])[0])?.['code']);
  const out = rep(
    str(id?.['value']),
    str(name?.['family']),
    given[0],
    given[1],
    str(list(name?.['suffix'])[0]),
    str(list(name?.['prefix'])[0]),
    degree,
    undefined,
    hdSubs(id === undefined ? undefined : authorityOf(c, id)),
    undefined,
    undefined,
    undefined,
    id === undefined ? undefined : identifierType(id),
  );
  return nonEmpty(out);
};

/** Address → XAD: street ^ other ^ city ^ state ^ zip ^ country ^ type. */
const xad: OutConverter = (item, _args, c) => {
  const a = obj(item.value);
  if (a === undefined) return undefined;
  const line = list(a['line']).map(str);
  const use = str(a['use']);
  const hv = list(a['extension']).map(obj).some((e) => e?.['valueCode'] === 'HV');
  const kind = hv ? 'HV' : str(a['type']) === 'postal' ? 'M' : use === undefined ? undefined : v2CodeFor(c, 'hl7-0190-use', use);
  return nonEmpty(rep(line[0], line[1], str(a['city']), str(a['state']), str(a['postalCode']), str(a['country']), kind, undefined, str(a['district'])));
};

const EQUIPMENT: Readonly<Record<string, string>> = { phone: 'PH', fax: 'FX', pager: 'BP', email: 'Internet', other: 'MD' };

/** ContactPoint → XTN: number ^ use ^ equipment ^ email ^ country ^ area ^ local ^ extension. */
const xtn: OutConverter = (item, _args, c) => {
  const t = obj(item.value);
  const value = str(t?.['value']);
  if (t === undefined || value === undefined) return undefined;
  const system = str(t['system']);
  const use = str(t['use']);
  const ext = (name: string): string | undefined =>
    str(list(t['extension']).map(obj).find((e) => e?.['url'] === `http://hl7.org/fhir/StructureDefinition/contactpoint-${name}`)?.['valueString']);
  const useCode = use === undefined ? undefined : v2CodeFor(c, 'hl7-0201', use);
  const equipment = use === 'mobile' && system === 'phone' ? 'CP' : system === undefined ? undefined : EQUIPMENT[system];
  if (system === 'email') return rep(undefined, useCode ?? 'NET', 'Internet', value);
  // XTN.5-.8 are NM: parts that are not plain digits travel as the whole number in XTN.1.
  const digits = (v: string | undefined): boolean => v === undefined || /^\d+$/.test(v);
  const parts = [ext('country'), ext('area'), ext('local'), ext('extension')];
  const local = parts.every(digits) ? parts[2] : undefined;
  // The parts the inbound converter kept as extensions come back as components; a number with
  // none of them travels whole in XTN.1, where every version's receivers look.
  if (local === undefined) return rep(value, useCode, equipment);
  return rep(undefined, useCode, equipment, undefined, parts[0], parts[1], local, parts[3]);
};

// ---------------------------------------------------------------- codes

function codingsOf(value: unknown): Json[] {
  const v = obj(value);
  if (v === undefined) return [];
  if ('coding' in v || 'text' in v) return list(v['coding']).map(obj).filter((x): x is Json => x !== undefined);
  return [v];
}

function systemName(c: OutContext, system: string | undefined): string | undefined {
  if (system === undefined) return undefined;
  const name = codeSystemName(c, system);
  if (name === undefined) c.report({ severity: 'information', code: 'unknown-code-system', message: 'code system URI has no v2 coding system name; CWE.3 left empty' });
  return name;
}

/**
 * CodeableConcept or Coding → CWE: two triplets (code ^ text ^ system) and CWE.9 original text
 * when it says more than the first display. `ce` stops at the six components CE has.
 */
function conceptRep(item: Item, c: OutContext, withOriginalText: boolean): V2Rep | undefined {
  const codings = codingsOf(item.value).filter((k) => str(k['code']) !== undefined);
  const text = str(obj(item.value)?.['text']);
  const [a, b] = codings;
  if (a === undefined) return text === undefined ? undefined : rep(undefined, text);
  const t1 = [str(a['code']), str(a['display']), systemName(c, str(a['system']))];
  const t2 = b === undefined ? [undefined, undefined, undefined] : [str(b['code']), str(b['display']), systemName(c, str(b['system']))];
  const original = withOriginalText && text !== undefined && text !== t1[1] ? text : undefined;
  if (!withOriginalText) return rep(...t1, ...t2);
  return rep(...t1, ...t2, str(a['version']), str(b?.['version']), original);
}

/** A code system URI → its v2 coding system name (for a CWE built component by component). */
const codeSystem: OutConverter = (item, _args, c) => {
  const name = systemName(c, str(item.value));
  return name === undefined ? undefined : rep(name);
};

const cwe: OutConverter = (item, _args, c) => conceptRep(item, c, true);
const ce: OutConverter = (item, _args, c) => conceptRep(item, c, false);

/**
 * A FHIR code (or the coding of a CodeableConcept in the table's system) → the v2 code of
 * `code(table)`. A code the table cannot give back is reported and left out.
 */
const code: OutConverter = (item, args, c) => {
  const table = args[0];
  if (table === undefined) return undefined;
  let fhir: string | undefined;
  let system: string | undefined;
  if (typeof item.value === 'string') fhir = item.value;
  else {
    const codings = codingsOf(item.value);
    const target = tableSystem(c, table);
    const chosen = codings.find((k) => k['system'] === target) ?? codings.find((k) => /\/v2-\d{4}$/.test(String(k['system']))) ?? codings[0];
    fhir = str(chosen?.['code']);
    system = str(chosen?.['system']);
  }
  if (fhir === undefined) return undefined;
  const v2 = v2CodeFor(c, table, fhir, system);
  if (v2 === undefined) c.report({ severity: 'warning', code: 'unknown-code', message: `code has no v2 code in table ${table}; left out` });
  return v2 === undefined ? undefined : rep(v2);
};

// ---------------------------------------------------------------- numbers, quantities, observation values

function numberText(v: unknown): string | undefined {
  return typeof v === 'number' ? String(v) : str(v);
}

const nm: OutConverter = (item) => {
  const n = typeof item.value === 'number' ? item.value : obj(item.value)?.['value'];
  const t = numberText(n);
  return t === undefined ? undefined : rep(t);
};

/**
 * Quantity → its units as CWE (code ^ text ^ system name), as OBX-6 and RXA-7 carry them. A
 * Ratio or Range (an SN or NR result) carries OBX-6 on each of its quantities (inbound puts the
 * same units on both): the numerator's, else the low's or high's.
 */
const units: OutConverter = (item, _args, c) => {
  const v = obj(item.value);
  const q = item.choice === 'Ratio' ? obj(v?.['numerator']) : item.choice === 'Range' ? (obj(v?.['low']) ?? obj(v?.['high'])) : v;
  if (q === undefined) return undefined;
  const unit = str(q['unit']);
  const ucum = str(q['code']);
  if (ucum === undefined) return unit === undefined ? undefined : rep(unit);
  return rep(ucum, unit, systemName(c, str(q['system'])));
};

/** ReferenceRange → OBX-7 text: its text, else low-high. */
const range: OutConverter = (item) => {
  const r = obj(item.value);
  if (r === undefined) return undefined;
  const text = str(r['text']);
  if (text !== undefined) return rep(text);
  const low = numberText(obj(r['low'])?.['value']);
  const high = numberText(obj(r['high'])?.['value']);
  if (low === undefined && high === undefined) return undefined;
  if (high === undefined) return rep(`>${low ?? ''}`);
  if (low === undefined) return rep(`<${high}`);
  return rep(`${low}-${high}`);
};

const text: OutConverter = (item, _args, c) => {
  const s = str(item.value);
  if (s === undefined && item.value !== undefined) {
    c.report({ severity: 'error', code: 'unsupported-value', message: 'text needs a string; use a datatype converter (cwe, xpn, cx…) for structured values' });
  }
  return s === undefined ? undefined : rep(s);
};

function newerThan25(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 6);
}
function atLeast25(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 5);
}

const ORIGINAL_TEXT = 'http://hl7.org/fhir/StructureDefinition/originalText';
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

interface SnSent {
  readonly num1?: string;
  readonly separator?: string;
  readonly num2?: string;
}

/**
 * The SN a Quantity, Range or Ratio was read from, as inbound kept it in its originalText
 * extension (IG SN[Quantity]/[Range]/[Ratio]): the parts SN.1-4 that were sent, joined by spaces
 * ("1.0 / 4.0", "> 1 . 3"). `first`: whether the value has a first number (a Range may have only
 * a high one, "- 3"). Read by position around that number; the comparator is not taken from here.
 */
function snSent(v: Json, first: boolean): SnSent | undefined {
  const original = str(list(v['extension']).map(obj).find((e) => e?.['url'] === ORIGINAL_TEXT)?.['valueString']);
  if (original === undefined) return undefined;
  const parts = original.split(' ').filter((p) => p !== '');
  if (!first) return { separator: parts[parts.length - 2], num2: parts[parts.length - 1] };
  const at = parts.findIndex((p) => NUMBER_TEXT.test(p));
  if (at < 0) return undefined;
  return { num1: parts[at], separator: parts[at + 1], num2: parts[at + 2] };
}

/**
 * A number as the sender wrote it ("1.0") when that text says the same number, else as
 * JavaScript writes it: FHIR JSON here carries the number, not its text, so only a value that
 * kept its text elsewhere (an SN's originalText) comes back with its trailing zeros.
 */
function sentNumber(value: unknown, sent: string | undefined): string | undefined {
  const t = numberText(value);
  if (t === undefined || sent === undefined || !NUMBER_TEXT.test(sent)) return t;
  return Number(sent) === Number(t) ? sent : t;
}

/**
 * Quantity → NM, or SN when it has a comparator or came from an SN with a separator or second
 * number (IG SN[Quantity] keeps those in the originalText only): comparator ^ number, and the
 * separator and second number as sent when the first number still agrees with the value.
 */
function quantityValue(v: Json): { readonly type: 'NM' | 'SN'; readonly value: V2Rep } | undefined {
  const n = numberText(v['value']);
  if (n === undefined) return undefined;
  const comparator = str(v['comparator']);
  const sent = snSent(v, true);
  const agrees = sent?.num1 !== undefined && Number(sent.num1) === Number(n);
  if (agrees && (sent.separator !== undefined || sent.num2 !== undefined)) {
    return { type: 'SN', value: rep(comparator, sent.num1, sent.separator, sent.num2) };
  }
  return comparator === undefined ? { type: 'NM', value: rep(n) } : { type: 'SN', value: rep(comparator, n) };
}

/** Ratio → SN: comparator ^ numerator ^ ":" or "/" ^ denominator (IG SN[Ratio] backwards). */
function ratioSn(v: Json): V2Rep | undefined {
  const n = obj(v['numerator']);
  const d = obj(v['denominator']);
  if (numberText(n?.['value']) === undefined || numberText(d?.['value']) === undefined) return undefined;
  const sent = snSent(v, true);
  // Both mean a ratio in table 0125's SN; ":" is the one a receiver reads as a ratio by name.
  const separator = sent?.separator === '/' ? '/' : ':';
  return rep(str(n?.['comparator']), sentNumber(n?.['value'], sent?.num1), separator, sentNumber(d?.['value'], sent?.num2));
}

/**
 * Range → SN "^low^-^high" when inbound read it from an SN (its originalText says so), else NR
 * "low^high" (IG NR[Range], which keeps no original text).
 */
function rangeValue(v: Json): { readonly type: 'SN' | 'NR'; readonly value: V2Rep } | undefined {
  const low = obj(v['low'])?.['value'];
  const high = obj(v['high'])?.['value'];
  if (numberText(low) === undefined && numberText(high) === undefined) return undefined;
  const sent = snSent(v, numberText(low) !== undefined);
  if (sent === undefined) return { type: 'NR', value: rep(numberText(low), numberText(high)) };
  return { type: 'SN', value: rep(undefined, sentNumber(low, sent.num1), '-', sentNumber(high, sent.num2)) };
}

/** Period → DR: start ^ end, each a DTM as given (IG DR[Period] backwards). */
function periodDr(v: Json): V2Rep | undefined {
  const start = str(v['start']);
  const end = str(v['end']);
  const from = start === undefined ? undefined : toDtm(start);
  const to = end === undefined ? undefined : toDtm(end);
  return from === undefined && to === undefined ? undefined : rep(from, to);
}

/** MIME top-level type → ED.2 / RP.3 type of data (table 0191), the reverse of inbound's. */
const TYPE_OF_DATA: Readonly<Record<string, string>> = { application: 'AP', image: 'IM', audio: 'AU', text: 'TEXT', multipart: 'multipart' };

/**
 * A contentType → type of data and subtype (tables 0191, 0291): "application/pdf" is AP^PDF,
 * "text/plain" TEXT with no subtype (inbound reads TEXT alone as text/plain). A top-level type
 * 0191 has no code for ("video/mp4") goes as AP with the whole MIME type as subtype, which
 * inbound reads back whole.
 */
function mimeParts(contentType: string | undefined): [string | undefined, string | undefined] {
  if (contentType === undefined) return [undefined, undefined];
  const [top = '', sub = ''] = contentType.toLowerCase().split(';')[0]!.trim().split('/');
  const type = TYPE_OF_DATA[top];
  if (type === undefined) return ['AP', contentType];
  if ((top === 'text' && sub === 'plain') || (top === 'application' && sub === 'octet-stream') || sub === '') return [type, undefined];
  // 0291's subtypes are written in upper case (PDF, JPEG, XML); an x- type keeps its case.
  return [type, /^[a-z0-9]+$/.test(sub) ? sub.toUpperCase() : sub];
}

/**
 * Attachment → ED (data) or RP (a url only), the reverse of inbound ED[Attachment] and
 * RP[Attachment]: ED is ^type^subtype^Base64^data (inbound keeps the data as base64 whatever ED.4
 * said, and keeps no ED.1 source application); RP is url^^type^subtype.
 */
function attachmentValue(v: Json): { readonly type: 'ED' | 'RP'; readonly value: V2Rep } | undefined {
  const [type, subtype] = mimeParts(str(v['contentType']));
  const data = str(v['data']);
  if (data !== undefined) return { type: 'ED', value: rep(undefined, type, subtype, 'Base64', data) };
  const url = str(v['url']);
  return url === undefined ? undefined : { type: 'RP', value: rep(url, undefined, type, subtype) };
}

/** OBX-2 for a value[x]: the v2 datatype its value travels as. */
const obxType: OutConverter = (item, _args, c) => {
  switch (item.choice) {
    case 'Quantity': {
      // A comparator (>150) is a structured numeric in v2.
      const v = obj(item.value);
      const q = v === undefined ? undefined : quantityValue(v);
      return q === undefined ? undefined : rep(q.type);
    }
    case 'Integer':
    case 'Decimal':
      return rep('NM');
    case 'String':
      return rep('ST');
    case 'CodeableConcept':
    case 'Coding':
      return rep(atLeast25(c.version) ? 'CWE' : 'CE');
    case 'DateTime':
    case 'Instant':
      return rep(newerThan25(c.version) ? 'DTM' : 'TS');
    case 'Date':
      return rep('DT');
    case 'Time':
      return rep('TM');
    case 'Ratio': {
      const v = obj(item.value);
      if (v !== undefined && ratioSn(v) !== undefined) return rep('SN');
      c.report({ severity: 'warning', code: 'unsupported-value', message: 'a Ratio without both numbers has no v2 structured numeric; OBX-2 and OBX-5 left empty' });
      return undefined;
    }
    case 'Range': {
      const v = obj(item.value);
      const r = v === undefined ? undefined : rangeValue(v);
      return r === undefined ? undefined : rep(r.type);
    }
    case 'Period': {
      const v = obj(item.value);
      return v === undefined || periodDr(v) === undefined ? undefined : rep('DR');
    }
    case 'Attachment': {
      const v = obj(item.value);
      const a = v === undefined ? undefined : attachmentValue(v);
      return a === undefined ? undefined : rep(a.type);
    }
    case undefined:
      return undefined;
    default:
      c.report({ severity: 'warning', code: 'unsupported-value', message: `observation value of type ${item.choice} has no outbound v2 datatype here; OBX-2 and OBX-5 left empty` });
      return undefined;
  }
};

/** OBX-5 for a value[x], in the datatype obxType names. */
const obxValue: OutConverter = (item, args, c) => {
  switch (item.choice) {
    case 'Quantity': {
      const v = obj(item.value);
      return v === undefined ? undefined : quantityValue(v)?.value;
    }
    case 'Integer':
    case 'Decimal':
      return nm(item, args, c);
    case 'String':
      return text(item, args, c);
    case 'CodeableConcept':
    case 'Coding':
      return atLeast25(c.version) ? cwe(item, args, c) : ce(item, args, c);
    case 'DateTime':
    case 'Instant':
    case 'Date':
      return ts(item, args, c);
    case 'Time':
      return tm(item, args, c);
    case 'Ratio': {
      const v = obj(item.value);
      return v === undefined ? undefined : ratioSn(v);
    }
    case 'Range': {
      const v = obj(item.value);
      return v === undefined ? undefined : rangeValue(v)?.value;
    }
    case 'Period': {
      const v = obj(item.value);
      return v === undefined ? undefined : periodDr(v);
    }
    case 'Attachment': {
      const v = obj(item.value);
      return v === undefined ? undefined : attachmentValue(v)?.value;
    }
    default:
      return undefined;
  }
};

export const OUT_CONVERTERS: Readonly<Record<string, OutConverter>> = Object.freeze({
  cx,
  ei,
  hd,
  xpn,
  xcn,
  xad,
  xtn,
  cwe,
  ce,
  cne: cwe,
  code,
  codeSystem,
  ts,
  dtm: ts,
  dt,
  tm,
  nm,
  units,
  range,
  text,
  obxType,
  obxValue,
});

/** Converters whose first argument names a code table, checked at load. */
export const TABLE_CONVERTERS: ReadonlySet<string> = new Set(['code']);
