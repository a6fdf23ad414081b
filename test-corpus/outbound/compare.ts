/**
 * How the corpus round trip (v2 in → FHIR → v2 out) compares the fields issue 14 names, and how it
 * names what still differs. Two steps, kept apart on purpose:
 *
 * 1. Normalisation: differences of representation only, where both sides say the same thing.
 *    Each rule is applied to input and output alike:
 *    - every repetition of every compared field is compared, in order (a field's later repetitions
 *      are values as much as its first);
 *    - values are compared unescaped and split on each message's own delimiters (escape forms and
 *      delimiter choice are representation);
 *    - leading and trailing spaces of a (sub)component are dropped, then trailing empty
 *      subcomponents, components and repetitions (an empty field and an absent one say nothing);
 *    - coding system names (CWE.3/.6, CE) are compared by the FHIR system they stand for, so
 *      aliases of one system (C4 and CPT) are equal; CWE.9 (original text) equal to CWE.2 is
 *      dropped (it repeats the text);
 *    - an empty PID-5 repetition anywhere is dropped, not only a trailing one (see fieldOf);
 *    - PID-8 is compared by its first component (IS in every version; "F^Female^HL70001" says F);
 *    - OBX-2, which decides how OBX-5 is normalised, is read by its first component;
 *    - OBX-5 of type SN with no comparator ("^23") or the comparator "=" is compared as the plain
 *      number (what NM says);
 *    - the numbers of an OBX-5 of type NM, SN (SN.2, SN.4) or NR (NR.1, NR.2) are compared
 *      without a leading "+", leading zeros and trailing zeros after the point: v2.5.1 2.A.47 (NM)
 *      says "Leading zeros, or trailing zeros after a decimal point, are not significant. For
 *      example, the following two values with different representations, "01.20" and "1.2", are
 *      identical." and "In the absence of a sign, the number is assumed to be positive". Only
 *      those zeros go: "1.2" and "12", "100" and "1", "1.02" and "1.2" still differ;
 *    - PID-7, and OBX-5 of type TS/DTM (and each half of a DR), with a time but no offset is compared with the default
 *      site's offset (+0000) added: inbound reads it in that zone, and the output writes the zone
 *      out; a time to the hour or minute is compared padded to seconds (FHIR dateTime has them);
 *    - ORC-2 is compared per order: each OBR's placer number is the ORC-2 of its order group, or
 *      OBR-2 when the group has no ORC or an empty ORC-2 (the two are the same number, v2.5.1
 *      4.5.3.2); the output always writes an ORC per order, the input often has none.
 * 2. Attribution: what still differs is named by where it is: `PID-3.6` (a component),
 *    `PID-3 repetitions` (a different number of them), `OBX segments` (a different number of
 *    segments). The test holds the count of each against a table with the reason for each name.
 */
import type { Hl7Message } from '../../src/hl7/index.js';
import { unescapeValue } from '../../src/hl7/index.js';
import { STANDARD_CODE_SYSTEMS } from '../../src/mapping/index.js';

export const COMPARED: Readonly<Record<string, readonly number[]>> = { PID: [3, 5, 7, 8], OBR: [4], OBX: [3, 5, 6], ORC: [2] };

/** A field of every segment of one id: segments → repetitions → components → subcomponents. */
type Field = string[][][][];

/** CWE/CE components that hold a coding system name. */
const CODED: ReadonlySet<string> = new Set(['OBR-4', 'OBX-3', 'OBX-6']);
const SYSTEM_COMPONENTS: ReadonlySet<number> = new Set([3, 6, 12]);

function trimTrailing<T>(xs: T[], empty: (x: T) => boolean): T[] {
  let n = xs.length;
  while (n > 0 && empty(xs[n - 1] as T)) n--;
  return xs.slice(0, n);
}

function splitRep(m: Hl7Message, raw: string): string[][] {
  const d = m.delimiters;
  const comps = raw.split(d.component).map((c) =>
    trimTrailing(
      c.split(d.subcomponent).map((s) => unescapeValue(s, d).trim()),
      (s) => s === '',
    ),
  );
  return trimTrailing(comps, (c) => c.length === 0);
}

/** Every repetition of a field ("5" alone reads the first, as the inbound language does). */
function rawReps(m: Hl7Message, index: number, n: number): string[] {
  return m.getAllIn(index, `${n}[*]`, true);
}

function systemKey(name: string): string {
  const upper = name.toUpperCase();
  return Object.hasOwn(STANDARD_CODE_SYSTEMS, upper) ? (STANDARD_CODE_SYSTEMS[upper] ?? name) : name;
}

function normaliseRep(m: Hl7Message, key: string, raw: string, obxType: string | undefined): string[][] {
  let rep = splitRep(m, raw);
  if (key === 'PID-8') rep = rep.slice(0, 1);
  if (CODED.has(key) || (key === 'OBX-5' && (obxType === 'CWE' || obxType === 'CE'))) {
    rep = rep.map((c, i) => (SYSTEM_COMPONENTS.has(i + 1) && c.length === 1 ? [systemKey(c[0] ?? '')] : c));
    // CWE.9 (original text) that repeats CWE.2 says nothing CWE.2 does not.
    if (rep.length === 9 && JSON.stringify(rep[8]) === JSON.stringify(rep[1])) rep = trimTrailing(rep.slice(0, 8), (c) => c.length === 0);
  }
  if (key === 'OBX-5' && obxType !== undefined && NUMBER_COMPONENTS[obxType] !== undefined) {
    const at = NUMBER_COMPONENTS[obxType];
    rep = rep.map((c, i) => (at.includes(i + 1) && c.length === 1 ? [numberDigits(c[0] ?? '') ?? (c[0] ?? '')] : c));
  }
  // SN "=^0.5" says what "^0.5" says (equal to): the comparator "=" is no comparator.
  if (key === 'OBX-5' && obxType === 'SN' && rep.length === 2 && ((rep[0]?.length ?? 0) === 0 || JSON.stringify(rep[0]) === '["="]')) rep = [rep[1] ?? []];
  if ((key === 'PID-7' || (key === 'OBX-5' && (obxType === 'TS' || obxType === 'DTM'))) && rep.length >= 1 && rep[0]?.length === 1) {
    rep = [[sameInstant(rep[0][0] ?? '')], ...rep.slice(1)];
  }
  // DR: each of its two components is a DTM (TS up to v2.5), normalised as one.
  if (key === 'OBX-5' && obxType === 'DR') rep = rep.map((c, i) => (i < 2 && c.length === 1 ? [sameInstant(c[0] ?? '')] : c));
  return rep;
}

/** The OBX-5 components that hold an NM, per value type (SN.1 is the comparator, SN.3 the separator). */
const NUMBER_COMPONENTS: Readonly<Record<string, readonly number[]>> = { NM: [1], SN: [2, 4], NR: [1, 2] };

/**
 * An NM as v2.5.1 2.A.47 reads it: without a "+" sign, leading zeros, or trailing zeros after the
 * point ("0065.880" is "65.88", "-0.0" is "0"); undefined if the text is no NM (then it is compared
 * as sent). The digits themselves are kept in place, so "1.2" and "12" never meet.
 */
function numberDigits(t: string): string | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t);
  if (m === null || ((m[2] ?? '') === '' && (m[3] ?? '') === '')) return undefined;
  const whole = (m[2] ?? '').replace(/^0+/, '') || '0';
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  const sign = m[1] === '-' && (whole !== '0' || fraction !== '') ? '-' : '';
  return `${sign}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/**
 * A DTM with a time, written as the output writes it: a time with no offset is read in the site's
 * zone (the corpus runs with the default site, UTC) and the output states that zone; a time to the
 * hour or minute is padded to seconds (a FHIR dateTime with a time has seconds; inbound pads and
 * says so). Both name the same instant.
 */
function sameInstant(t: string): string {
  const m = /^(\d{10})(\d{2})?(\d{2}(\.\d+)?)?([+-]\d{4})?$/.exec(t);
  if (m === null) return t;
  return `${m[1] ?? ''}${m[2] ?? '00'}${m[3] ?? '00'}${m[5] ?? '+0000'}`;
}

function fieldOf(m: Hl7Message, seg: string, n: number): Field {
  const key = `${seg}-${n}`;
  if (key === 'ORC-2') return placerNumbers(m);
  return m.segments(seg).map((s) => {
    // OBX-2 by its first component: the value type ("CWE^^HL70125" says CWE, as inbound reads it).
    const type = seg === 'OBX' ? s.get('2.1') : undefined;
    const reps = rawReps(m, s.index, n).map((r) => normaliseRep(m, key, r, type));
    // PID-5: each name says what it is in XPN.7, so an empty repetition says nothing. v2.3 asked
    // for an empty first one when the legal name is not sent ("~^^^^^^S": no legal name, then a
    // pseudonym); a name list without an official name says the same.
    if (key === 'PID-5') return reps.filter((r) => r.length > 0);
    return trimTrailing(reps, (r) => r.length === 0);
  });
}

/** Each order's placer number: ORC-2 of its group, else OBR-2 (see the header). */
function placerNumbers(m: Hl7Message): Field {
  const out: Field = [];
  let orc: number | undefined;
  let sawObr = false;
  const orcOnly: Field = [];
  const reps = (index: number, n: number): string[][][] =>
    trimTrailing(
      rawReps(m, index, n).map((r) => splitRep(m, r)),
      (r) => r.length === 0,
    );
  for (const s of m.segments()) {
    if (s.id === 'ORC') {
      orc = s.index;
      orcOnly.push(reps(s.index, 2));
    } else if (s.id === 'OBR') {
      sawObr = true;
      const fromOrc = orc === undefined ? [] : reps(orc, 2);
      out.push(fromOrc.length > 0 ? fromOrc : reps(s.index, 2));
      orc = undefined;
    }
  }
  return sawObr ? out : orcOnly;
}

/** Where the output differs from the input, by name (see the header); empty when they agree. */
export function differences(input: Hl7Message, output: Hl7Message): string[] {
  return [...new Set(differenceDetails(input, output).map((d) => d.where))].sort();
}

export interface Difference {
  readonly where: string;
  /** The normalised values that differ (JSON), for a failure message. */
  readonly input: string;
  readonly output: string;
}

/** Each difference with the normalised values on both sides. */
export function differenceDetails(input: Hl7Message, output: Hl7Message): Difference[] {
  const found: Difference[] = [];
  const add = (where: string, a: unknown, b: unknown): void => {
    found.push({ where, input: JSON.stringify(a), output: JSON.stringify(b) });
  };
  for (const [seg, fields] of Object.entries(COMPARED)) {
    for (const n of fields) {
      const key = `${seg}-${n}`;
      const a = fieldOf(input, seg, n);
      const b = fieldOf(output, seg, n);
      // A segment whose compared fields are all empty on both sides is no difference.
      if (a.length !== b.length) {
        const nonEmpty = (f: Field): number => f.filter((x) => x.length > 0).length;
        if (nonEmpty(a) !== nonEmpty(b) || JSON.stringify(a.filter((x) => x.length > 0)) !== JSON.stringify(b.filter((x) => x.length > 0))) {
          add(key === 'ORC-2' ? 'ORC-2 orders' : `${seg} segments`, a, b);
        }
        continue;
      }
      a.forEach((ra, i) => {
        const rb = b[i] ?? [];
        if (ra.length !== rb.length) {
          add(`${key} repetitions`, ra, rb);
          return;
        }
        ra.forEach((ca, j) => {
          const cb = rb[j] ?? [];
          const width = Math.max(ca.length, cb.length);
          for (let c = 0; c < width; c++) {
            if (JSON.stringify(ca[c] ?? []) === JSON.stringify(cb[c] ?? [])) continue;
            add(`${key}.${c + 1}`, ca, cb);
          }
        });
      });
    }
  }
  return found;
}
