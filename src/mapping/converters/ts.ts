/**
 * TS / DTM / DT / TM → FHIR dateTime, date, instant and time. The IG only says "reformat per
 * ISO 8601"; the rules that matter are FHIR's: a dateTime with a time must carry seconds and an
 * offset, an instant needs both, a date and a time carry no offset.
 * Precision is kept as sent; a time given to the hour or minute is padded to seconds and says so.
 * An offset missing from the value comes from the site's IANA zone for that very date (DST
 * included), never from the host's zone.
 */
import type { ConverterContext, V2Value } from '../types.js';
import { type Args, clean, report } from './context.js';

/** A v2 DTM split into its parts; absent parts are undefined. */
export interface V2DateTime {
  readonly year: string;
  readonly month?: string;
  readonly day?: string;
  readonly hour?: string;
  readonly minute?: string;
  readonly second?: string;
  /** Fraction digits after the point, as sent ("1" to "4" digits). */
  readonly fraction?: string;
  /** "+HH:MM" / "-HH:MM" when the value carried an offset. */
  readonly offset?: string;
}

const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;
const TM = /^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in a Gregorian month (1-12); no Date per call, this runs for every timestamp converted. */
function daysIn(year: number, month: number): number {
  if (month !== 2) return DAYS[month - 1]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

function offsetOk(hh: string | undefined, mm: string | undefined): boolean {
  return hh === undefined || mm === undefined || (Number(hh) <= 14 && Number(mm) < 60);
}

/**
 * Parsed DTMs by text. One message repeats its timestamps (every OBX of a result carries the same
 * OBX-14 and OBX-19), so most parses are a lookup. Bounded: cleared when full.
 */
const parsed = new Map<string, V2DateTime | null>();
const PARSED_MAX = 4096;

/** Parses a v2 DTM; undefined when it is not one (wrong shape or an impossible date). */
export function parseDtm(text: string): V2DateTime | undefined {
  const known = parsed.get(text);
  if (known !== undefined) return known ?? undefined;
  const d = readDtm(text);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  // Frozen: the same object goes to every caller that parses this text.
  parsed.set(text, d === undefined ? null : Object.freeze(d));
  return d;
}

function readDtm(text: string): V2DateTime | undefined {
  const m = DTM.exec(text);
  if (m === null) return undefined;
  const [, year = '', month, day, hour, minute, second, fraction, sign, oh, om] = m;
  // FHIR's year pattern has no year 0000.
  if (year === '0000') return undefined;
  if (month !== undefined && (Number(month) < 1 || Number(month) > 12)) return undefined;
  if (day !== undefined && (Number(day) < 1 || Number(day) > daysIn(Number(year), Number(month)))) return undefined;
  if (hour !== undefined && Number(hour) > 23) return undefined;
  if (minute !== undefined && Number(minute) > 59) return undefined;
  // Leap seconds (60) are not representable in FHIR dateTime.
  if (second !== undefined && Number(second) > 59) return undefined;
  if (!offsetOk(oh, om)) return undefined;
  // Only the parts sent are keys, in this order.
  const d: { -readonly [K in keyof V2DateTime]: V2DateTime[K] } = { year };
  if (month !== undefined) d.month = month;
  if (day !== undefined) d.day = day;
  if (hour !== undefined) d.hour = hour;
  if (minute !== undefined) d.minute = minute;
  if (second !== undefined) d.second = second;
  if (fraction !== undefined) d.fraction = fraction;
  if (sign !== undefined) d.offset = `${sign}${oh}:${om}`;
  return d;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Minutes east of UTC that `zone` observes at the instant `utcMs`. */
function zoneOffsetAt(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(zone).formatToParts(new Date(utcMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const wall = Date.UTC(
    parts['year'] ?? 1970,
    (parts['month'] ?? 1) - 1,
    parts['day'] ?? 1,
    parts['hour'] ?? 0,
    parts['minute'] ?? 0,
    parts['second'] ?? 0,
  );
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60000);
}

/**
 * Offset (minutes) of a wall-clock time in `zone`. A time that happens twice (clocks going
 * back) takes the first, the daylight one; a time that never happens (clocks going forward)
 * takes the offset in force just before the gap, which names the instant the sender most
 * likely meant. Throws RangeError for a zone Intl does not know.
 */
export function wallTimeOffset(zone: string, wallAsUtcMs: number): number {
  // Zone transitions are far more than 12 hours apart, so these are the offsets either side.
  const before = zoneOffsetAt(zone, wallAsUtcMs - HALF_DAY);
  const after = zoneOffsetAt(zone, wallAsUtcMs + HALF_DAY);
  const beforeFits = zoneOffsetAt(zone, wallAsUtcMs - before * 60000) === before;
  const afterFits = zoneOffsetAt(zone, wallAsUtcMs - after * 60000) === after;
  if (beforeFits && afterFits) return Math.max(before, after); // twice: the larger offset is the earlier instant
  if (afterFits) return after;
  return before; // a gap (or no transition): the offset in force before it
}

const HALF_DAY = 12 * 3600 * 1000;

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function datePart(d: V2DateTime): string {
  let s = d.year;
  if (d.month !== undefined) s += `-${d.month}`;
  if (d.day !== undefined) s += `-${d.day}`;
  return s;
}

function invalid(ctx: ConverterContext, kind: string, where: string | undefined): undefined {
  report(ctx, 'warning', 'invalid-value', `value is not a valid v2 ${kind}; left out`, where);
  return undefined;
}

/** hh:mm:ss[.f] from the parts, padding (and reporting) what was not sent. */
function clock(
  hour: string,
  minute: string | undefined,
  second: string | undefined,
  fraction: string | undefined,
  ctx: ConverterContext,
  where: string | undefined,
): string {
  if (minute === undefined || second === undefined) {
    report(
      ctx,
      'information',
      'padded-precision',
      `time sent to the ${minute === undefined ? 'hour' : 'minute'}; padded to seconds as FHIR requires`,
      where,
    );
  }
  return `${hour}:${minute ?? '00'}:${second ?? '00'}${fraction === undefined ? '' : `.${fraction}`}`;
}

/** The site-zone offset for a date with a time, or undefined (reported) when the zone is unusable. */
function siteOffset(d: V2DateTime, ctx: ConverterContext, where: string | undefined): string | undefined {
  const wall = Date.UTC(
    Number(d.year),
    Number(d.month) - 1,
    Number(d.day),
    Number(d.hour),
    Number(d.minute ?? '0'),
    Number(d.second ?? '0'),
  );
  try {
    return formatOffset(wallTimeOffset(ctx.site.timezone, wall));
  } catch {
    report(
      ctx,
      'error',
      'invalid-value',
      `site time zone is not an IANA zone this runtime knows; set a valid timezone in site "${ctx.site.name}"`,
      where,
    );
    return undefined;
  }
}

/** v2 DTM text → FHIR dateTime, keeping the precision sent. */
export function toDateTime(text: string, ctx: ConverterContext, where?: string): string | undefined {
  const t = clean(text);
  if (t === undefined) return undefined;
  const d = parseDtm(t);
  if (d === undefined) return invalid(ctx, 'date/time', where);
  // An offset on a value with no time has nothing to apply to: FHIR dates carry none.
  if (d.hour === undefined) return datePart(d);
  if (d.day === undefined) return invalid(ctx, 'date/time', where);
  const offset = d.offset ?? siteOffset(d, ctx, where);
  if (offset === undefined) return undefined;
  return `${datePart(d)}T${clock(d.hour, d.minute, d.second, d.fraction, ctx, where)}${offset}`;
}

/** v2 DT/DTM text → FHIR date (YYYY, YYYY-MM or YYYY-MM-DD): the calendar date as written. */
export function toDate(text: string, ctx: ConverterContext, where?: string): string | undefined {
  const t = clean(text);
  if (t === undefined) return undefined;
  const d = parseDtm(t);
  if (d === undefined) return invalid(ctx, 'date', where);
  return datePart(d);
}

/** v2 DTM text → FHIR instant; a value without a time of day does not name an instant. */
export function toInstant(text: string, ctx: ConverterContext, where?: string): string | undefined {
  const t = clean(text);
  if (t === undefined) return undefined;
  const d = parseDtm(t);
  if (d === undefined) return invalid(ctx, 'date/time', where);
  // A time to the minute is padded to seconds (reported as padded-precision by toDateTime);
  // a date alone names no instant.
  if (d.hour === undefined || d.minute === undefined) {
    report(ctx, 'warning', 'invalid-value', 'an instant needs a time (at least hours and minutes); value left out', where);
    return undefined;
  }
  return toDateTime(t, ctx, where);
}

/** v2 TM text → FHIR time (hh:mm:ss[.f]); FHIR time has no offset, so a sent one is dropped. */
export function toTime(text: string, ctx: ConverterContext, where?: string): string | undefined {
  const t = clean(text);
  if (t === undefined) return undefined;
  const m = TM.exec(t);
  if (m === null) return invalid(ctx, 'time', where);
  const [, hour = '', minute, second, fraction, , oh, om] = m;
  if (Number(hour) > 23 || (minute !== undefined && Number(minute) > 59)) return invalid(ctx, 'time', where);
  if ((second !== undefined && Number(second) > 59) || !offsetOk(oh, om)) return invalid(ctx, 'time', where);
  return clock(hour, minute, second, fraction, ctx, where);
}

/*
 * TS (v2.3–2.5) is DTM in component 1 with a degree of precision in component 2. The DTM itself
 * already shows its precision, so TS.2 is ignored. `value.at(1)` reads TS.1 of a TS field and
 * the whole DTM of a v2.6+ field alike.
 */
export function dateTime(value: V2Value, _args: Args, ctx: ConverterContext): string | undefined {
  return toDateTime(value.at(1), ctx);
}

export function date(value: V2Value, _args: Args, ctx: ConverterContext): string | undefined {
  return toDate(value.at(1), ctx);
}

export function instant(value: V2Value, _args: Args, ctx: ConverterContext): string | undefined {
  return toInstant(value.at(1), ctx);
}

export function time(value: V2Value, _args: Args, ctx: ConverterContext): string | undefined {
  return toTime(value.at(1), ctx);
}

/** DR → Period: DR.1 start, DR.2 end (each a TS/DTM). */
export function period(value: V2Value, _args: Args, ctx: ConverterContext): { start?: string; end?: string } | undefined {
  const start = toDateTime(value.part(1).at(1), ctx, `${ctx.location}.1`);
  const end = toDateTime(value.part(2).at(1), ctx, `${ctx.location}.2`);
  if (start === undefined && end === undefined) return undefined;
  return { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
}

/** Duration units (AIS-8, AIG-10, AIL-10, AIP-10, SCH-10: ISO+/UCUM unit codes) → milliseconds. */
const DURATION_UNITS: Readonly<Record<string, number>> = {
  S: 1_000, SEC: 1_000, SECOND: 1_000, SECONDS: 1_000,
  M: 60_000, MIN: 60_000, MINUTE: 60_000, MINUTES: 60_000,
  H: 3_600_000, HR: 3_600_000, HOUR: 3_600_000, HOURS: 3_600_000,
  D: 86_400_000, DAY: 86_400_000, DAYS: 86_400_000,
  WK: 604_800_000, W: 604_800_000, WEEK: 604_800_000, WEEKS: 604_800_000,
};

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?([+-])(\d{2}):(\d{2})$/;

/**
 * A start (DTM) plus a duration → the end as an instant, for the IG's "participant.period.start +
 * AIS-7 according to AIS-8 units" rows (and SCH-9/SCH-10). args: `amount` (NM) and `units` (a
 * CWE/CNE whose code names the unit; minutes when not sent, the default of these fields). The end
 * keeps the start's UTC offset. Nothing (no issue) when no amount is sent.
 */
export function addDuration(value: V2Value, args: Args, ctx: ConverterContext): string | undefined {
  const amountArg = args['amount'];
  const amountText = clean(amountArg === undefined ? '' : typeof amountArg === 'string' ? amountArg : amountArg.at(1));
  if (amountText === undefined) return undefined;
  const amount = Number(amountText);
  if (!/^\d+(\.\d+)?$/.test(amountText) || !Number.isFinite(amount)) {
    report(ctx, 'warning', 'invalid-value', 'duration is not a v2 number (NM); no end time derived');
    return undefined;
  }
  const unitsArg = args['units'];
  const unitCode = clean(unitsArg === undefined ? '' : typeof unitsArg === 'string' ? unitsArg : unitsArg.at(1))?.toUpperCase();
  const perUnit = unitCode === undefined ? 60_000 : DURATION_UNITS[unitCode];
  if (perUnit === undefined) {
    report(ctx, 'warning', 'invalid-value', `duration unit '${unitCode}' is not a unit of time this engine knows; no end time derived`);
    return undefined;
  }
  const start = toInstant(value.at(1), ctx);
  const m = start === undefined ? null : INSTANT.exec(start);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, , sign, oh, om] = m;
  // Wall-clock arithmetic in the start's own offset: the end is written with that offset too.
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + Math.round(amount * perUnit);
  const e = new Date(wall);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(e.getUTCFullYear(), 4)}-${p(e.getUTCMonth() + 1)}-${p(e.getUTCDate())}T${p(e.getUTCHours())}:${p(e.getUTCMinutes())}:${p(e.getUTCSeconds())}${sign}${oh}:${om}`;
}
