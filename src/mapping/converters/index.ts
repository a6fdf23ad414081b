/**
 * The datatype converters by the names mapping files use (`PID-3[*] | cx`).
 */
import type { Converter } from '../types.js';
import { code, concept } from './code-table.js';
import { coding, cwe } from './cwe.js';
import { cx } from './cx.js';
import { ei } from './ei.js';
import { hd, hdOrganization } from './hd.js';
import { docAttachment, obxValue } from './obx-value.js';
import { pl } from './pl.js';
import { cq, nm, nr, quantity, sn } from './quantity.js';
import { ft, text } from './text.js';
import { addDuration, date, dateTime, instant, period, time } from './ts.js';
import { xad } from './xad.js';
import { cnn, xcn } from './xcn.js';
import { xon } from './xon.js';
import { practitionerName, xpn } from './xpn.js';
import { xtn } from './xtn.js';
import { uriPart } from './uri.js';

export const CONVERTERS: Readonly<Record<string, Converter>> = Object.freeze({
  cx,
  ei,
  hd,
  hdOrganization,
  xpn,
  practitionerName,
  xad,
  xtn,
  cwe,
  ce: cwe,
  cne: cwe,
  coding,
  code,
  concept,
  ts: dateTime,
  dateTime,
  date,
  instant,
  addDuration,
  time,
  dr: period,
  period,
  xcn,
  cnn,
  pl,
  xon,
  quantity,
  nm,
  sn,
  nr,
  cq,
  obxValue,
  docAttachment,
  text,
  ft,
  uriPart,
});

export { parseDtm, toDate, toDateTime, toInstant, toTime, wallTimeOffset, type V2DateTime } from './ts.js';
export { resolveAuthority, type Authority, type ResolvedAuthority } from './hd.js';
export { OBSERVATION_VALUE_ATTACHMENT, type ObservationValue } from './obx-value.js';
export { renderFormatted } from './text.js';
export { parseNumber, readSn, unitsOf, type StructuredNumeric } from './quantity.js';
