/**
 * Length bounds on the MSH fields the engine copies into keys, headers, logs and ACKs. A field
 * past its bound is refused before anything is built from it, so a sender cannot choose how much
 * work or memory one of those copies costs.
 *
 * The bounds are the most generous any HL7 v2 version gives, not the message's own version's:
 * v2.1-v2.5.1 give MSH-10 (ST) 20 characters and HD 180, but a quarter of the MSH segments in
 * the shared test corpus have a longer MSH-10 (up to 52 characters, GUIDs among them) and
 * HD.1 values reach 37 characters against the standard's 20. Refusing those would stop real
 * feeds; what matters here is that the length is bounded at all.
 * - MSH-10: 199 characters, its conformance length from v2.6 on.
 * - MSH-3 and MSH-4 (HD): every component at most 199 characters (HD.2, universal id, is an ST of
 *   199 from v2.5 on; HD.1 and HD.3 are shorter), the whole field as sent at most 227 characters
 *   (20 + 199 + 6 and two separators, the v2.5+ component lengths).
 */
import { ERR_DATA_TYPE, ERR_VALUE_TOO_LONG } from './table-0357.js';
import type { Delimiters, MshSummary } from './types.js';

export const MSH10_MAX_LENGTH = 199;
export const HD_MAX_LENGTH = 227;
export const HD_COMPONENT_MAX_LENGTH = 199;

/** Which bound a message broke, for the ERR location and text (never the value itself). */
export interface BoundBreach {
  readonly field: 3 | 4 | 10;
  /** Set when one HD component broke HD_COMPONENT_MAX_LENGTH. */
  readonly component?: number;
  readonly name: string;
  readonly length: number;
  readonly max: number;
}

function hdBreach(field: 3 | 4, name: string, asSent: string, d: Delimiters): BoundBreach | null {
  if (asSent.length > HD_MAX_LENGTH) return { field, name, length: asSent.length, max: HD_MAX_LENGTH };
  // An empty component role (a three-character MSH-2) has no components to measure.
  if (d.component === '' || asSent.length <= HD_COMPONENT_MAX_LENGTH) return null;
  const parts = asSent.split(d.component);
  for (let i = 0; i < parts.length; i++) {
    const length = parts[i]!.length;
    if (length > HD_COMPONENT_MAX_LENGTH) return { field, component: i + 1, name: `${name} component ${i + 1}`, length, max: HD_COMPONENT_MAX_LENGTH };
  }
  return null;
}

/** The first MSH bound the message breaks, or null. Linear in the fields' lengths. */
export function mshBoundBreach(msh: MshSummary, d: Delimiters): BoundBreach | null {
  if (msh.controlId.length > MSH10_MAX_LENGTH) {
    return { field: 10, name: 'MSH-10 (message control id)', length: msh.controlId.length, max: MSH10_MAX_LENGTH };
  }
  return hdBreach(3, 'MSH-3 (sending application)', msh.sendingApplication, d) ?? hdBreach(4, 'MSH-4 (sending facility)', msh.sendingFacility, d);
}

/**
 * The table 0357 code for a value over its length: 104 "Value too long" exists from v2.7 on; the
 * tables of earlier versions (and a version we cannot read) have no such code, and there a value
 * that breaks its data type's length is a 102 "Data type error".
 */
export function valueTooLongCode(version: string): number {
  const m = /^2\.(\d+)/.exec(version.trim());
  return m !== null && Number(m[1]) >= 7 ? ERR_VALUE_TOO_LONG : ERR_DATA_TYPE;
}
