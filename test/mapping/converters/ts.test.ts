import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { args, codes, context, field } from './fake-context.js';

const ts = CONVERTERS['ts']!;
const date = CONVERTERS['date']!;
const instant = CONVERTERS['instant']!;
const time = CONVERTERS['time']!;

test('a DTM without an offset takes the site zone offset for that date (Chicago, winter)', () => {
  const ctx = context();
  assert.equal(ts(field('20261121083000'), args(), ctx), '2026-11-21T08:30:00-06:00');
  assert.deepEqual(codes(ctx), []);
});

test('the site zone offset follows daylight saving time (Chicago, summer)', () => {
  assert.equal(ts(field('20260704120000'), args(), context()), '2026-07-04T12:00:00-05:00');
});

test('an offset in the value wins over the site zone', () => {
  assert.equal(ts(field('20261121083000+0100'), args(), context()), '2026-11-21T08:30:00+01:00');
});

test("the host's time zone never leaks into the result", () => {
  const saved = process.env['TZ'];
  process.env['TZ'] = 'Asia/Tokyo';
  try {
    assert.equal(ts(field('20261121083000'), args(), context()), '2026-11-21T08:30:00-06:00');
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
});

test('year-month precision is kept as sent', () => {
  const ctx = context();
  assert.equal(ts(field('202611'), args(), ctx), '2026-11');
  assert.deepEqual(codes(ctx), []);
});

test('year and day precision are kept as sent', () => {
  assert.equal(ts(field('2026'), args(), context()), '2026');
  assert.equal(ts(field('20261121'), args(), context()), '2026-11-21');
});

test('a time to the hour is padded to seconds and reported as padded precision', () => {
  const ctx = context({}, 'PV1-44');
  assert.equal(ts(field('2026112108'), args(), ctx), '2026-11-21T08:00:00-06:00');
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity, i.location]), [['padded-precision', 'information', 'PV1-44']]);
});

test('a time to the minute is padded to seconds and reported', () => {
  const ctx = context();
  assert.equal(ts(field('202611210830'), args(), ctx), '2026-11-21T08:30:00-06:00');
  assert.deepEqual(codes(ctx), ['padded-precision']);
});

test('fractional seconds are kept with the digits sent', () => {
  assert.equal(ts(field('20261121083000.1234-0500'), args(), context()), '2026-11-21T08:30:00.1234-05:00');
});

test('a TS takes its time from component 1 and ignores the degree of precision in component 2', () => {
  assert.equal(ts(field('20261121083000^S'), args(), context()), '2026-11-21T08:30:00-06:00');
});

test('an impossible date is an invalid-value issue and no value', () => {
  const ctx = context({}, 'PID-7');
  assert.equal(ts(field('20260230'), args(), ctx), undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.location]), [['invalid-value', 'PID-7']]);
});

test('text that is not a v2 date is an invalid-value issue and no value', () => {
  const ctx = context();
  assert.equal(ts(field('21/11/2026'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('a date with an offset but no time drops the offset (FHIR dates have none)', () => {
  assert.equal(ts(field('20261121-0600'), args(), context()), '2026-11-21');
});

test('a leap day is accepted in a leap year only', () => {
  assert.equal(date(field('20280229'), args(), context()), '2028-02-29');
  const ctx = context();
  assert.equal(date(field('20270229'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('date keeps the calendar date as written and drops the time', () => {
  const ctx = context();
  assert.equal(date(field('19800315234500'), args(), ctx), '1980-03-15');
  assert.deepEqual(codes(ctx), []);
});

test('an instant to the minute is padded to seconds and the padding reported', () => {
  const ctx = context({}, 'OBR-22');
  assert.equal(instant(field('202611210830'), args(), ctx), '2026-11-21T08:30:00-06:00');
  assert.deepEqual(codes(ctx), ['padded-precision']);
});

test('an instant needs a time of day: a date alone is reported and left out', () => {
  const ctx = context({}, 'OBR-22');
  assert.equal(instant(field('20261121'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('an instant with seconds gets the site offset', () => {
  assert.equal(instant(field('20261121083015'), args(), context()), '2026-11-21T08:30:15-06:00');
});

test('a wall time that happens twice (clocks back) takes the first, daylight, offset', () => {
  // 2026-11-01 01:30 happens at -05:00 and again at -06:00 in Chicago.
  assert.equal(ts(field('20261101013000'), args(), context()), '2026-11-01T01:30:00-05:00');
});

test('a wall time that never happens (clocks forward) takes the offset in force before the gap', () => {
  // 2026-03-08 02:30 does not exist in Chicago; -06:00 names 03:30 daylight time.
  assert.equal(ts(field('20260308023000'), args(), context()), '2026-03-08T02:30:00-06:00');
});

test('a zone east of UTC gets a positive offset', () => {
  assert.equal(ts(field('20260704120000'), args(), context({ timezone: 'Europe/Berlin' })), '2026-07-04T12:00:00+02:00');
});

test('a site zone that is not an IANA zone is an error issue naming the site, not a throw', () => {
  const ctx = context({ timezone: 'Mars/Olympus' });
  assert.equal(ts(field('20261121083000'), args(), ctx), undefined);
  assert.equal(ctx.reported[0]?.severity, 'error');
  assert.match(ctx.reported[0]?.message ?? '', /st-marys/);
});

test('the HL7 null "" is no value and no issue', () => {
  const ctx = context();
  assert.equal(ts(field('""'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), []);
});

test('TM becomes a FHIR time, padded to seconds with an issue', () => {
  const ctx = context();
  assert.equal(time(field('0830'), args(), ctx), '08:30:00');
  assert.deepEqual(codes(ctx), ['padded-precision']);
});

test('TM with seconds, fraction and offset keeps the fraction and drops the offset', () => {
  const ctx = context();
  assert.equal(time(field('083015.5+0100'), args(), ctx), '08:30:15.5');
  assert.deepEqual(codes(ctx), []);
});

test('TM with an hour of 24 is invalid', () => {
  const ctx = context();
  assert.equal(time(field('2400'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

const addDuration = CONVERTERS['addDuration']!;

test('addDuration: a start plus 45 MIN is the end instant, in the start offset (IG AIS-4 + AIS-7)', () => {
  const ctx = context();
  assert.equal(addDuration(field('20260317103000-0600'), args({ amount: field('45'), units: field('MIN^minutes^ISO+') }), ctx), '2026-03-17T11:15:00-06:00');
  assert.deepEqual(codes(ctx), []);
});

test('addDuration: no units means minutes; hours and days cross midnight and month ends', () => {
  assert.equal(addDuration(field('20260317233000-0600'), args({ amount: field('45') }), context()), '2026-03-18T00:15:00-06:00');
  assert.equal(addDuration(field('20260131220000+0100'), args({ amount: field('3'), units: field('h') }), context()), '2026-02-01T01:00:00+01:00');
  assert.equal(addDuration(field('20260228090000-0600'), args({ amount: field('1'), units: field('D') }), context()), '2026-03-01T09:00:00-06:00');
});

test('addDuration: no amount gives nothing and no issue; an unknown unit or a non-number is reported', () => {
  const quiet = context();
  assert.equal(addDuration(field('20260317103000-0600'), args(), quiet), undefined);
  assert.deepEqual(codes(quiet), []);
  const badUnit = context();
  assert.equal(addDuration(field('20260317103000-0600'), args({ amount: field('2'), units: field('FORTNIGHT') }), badUnit), undefined);
  assert.deepEqual(codes(badUnit), ['invalid-value']);
  const badAmount = context();
  assert.equal(addDuration(field('20260317103000-0600'), args({ amount: field('half') }), badAmount), undefined);
  assert.deepEqual(codes(badAmount), ['invalid-value']);
});
