import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { args, codes, context, field } from './fake-context.js';

const xpn = CONVERTERS['xpn']!;
const xad = CONVERTERS['xad']!;
const xtn = CONVERTERS['xtn']!;

test('XPN: family, given and middle names, suffix, prefix, degree and an official name use', () => {
  const ctx = context({}, 'PID-5');
  assert.deepEqual(xpn(field('EVERYWOMAN^EVE^MARY ANNE^JR^DR^PHD^L'), args(), ctx), {
    use: 'official',
    family: 'EVERYWOMAN',
    given: ['EVE', 'MARY ANNE'],
    prefix: ['DR'],
    suffix: ['JR', 'PHD'],
  });
  assert.deepEqual(codes(ctx), []);
});

test('XPN: the family name is FN.1 when the surname has subcomponents', () => {
  const name = xpn(field('VAN DER BERG&VAN DER&BERG^JAN'), args(), context()) as { family?: string };
  assert.equal(name.family, 'VAN DER BERG');
});

test('XPN: name types map through the IG NameType map (M → maiden, D → usual)', () => {
  assert.equal((xpn(field('SMITH^ANN^^^^^M'), args(), context()) as { use?: string }).use, 'maiden');
  assert.equal((xpn(field('SMITH^ANN^^^^^D'), args(), context()) as { use?: string }).use, 'usual');
});

test('XPN: a name type with no FHIR equivalent (B, birth name) is left out with an information issue', () => {
  const ctx = context({}, 'PID-5[2]');
  const name = xpn(field('SMITH^ANN^^^^^B'), args(), ctx) as { use?: string };
  assert.equal(name.use, undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity, i.location, i.table]), [['unknown-code', 'information', 'PID-5[2].7', 'hl7-0200']]);
});

test('XPN: a name type outside table 0200 is a warning', () => {
  const ctx = context();
  xpn(field('SMITH^ANN^^^^^QQ'), args(), ctx);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['unknown-code', 'warning']]);
});

test('XPN: XPN.12/13 become the period; the professional suffix XPN.14 is a suffix', () => {
  const name = xpn(field('DOE^JOHN^^^^^L^^^^^20200101^20251231^FACP'), args(), context()) as Record<string, unknown>;
  assert.deepEqual(name['period'], { start: '2020-01-01', end: '2025-12-31' });
  assert.deepEqual(name['suffix'], ['FACP']);
});

test('XPN: trailing padding is trimmed and an empty name is nothing', () => {
  assert.deepEqual(xpn(field('DOE   ^JOHN '), args(), context()), { family: 'DOE', given: ['JOHN'] });
  assert.equal(xpn(field('^^^'), args(), context()), undefined);
});

test('XPN: escapes are undone', () => {
  assert.deepEqual(xpn(field('O\\T\\BRIEN^PAT'), args(), context()), { family: 'O&BRIEN', given: ['PAT'] });
});

test('XAD: street lines, city, state, postal code, country, district and a home use', () => {
  const ctx = context();
  assert.deepEqual(xad(field('123 MAIN ST^APT 4^SPRINGFIELD^IL^62704^USA^H^^SANGAMON'), args(), ctx), {
    use: 'home',
    line: ['123 MAIN ST', 'APT 4'],
    city: 'SPRINGFIELD',
    district: 'SANGAMON',
    state: 'IL',
    postalCode: '62704',
    country: 'USA',
  });
  assert.deepEqual(codes(ctx), []);
});

test('XAD: the SAD subcomponents of XAD.1 are separate lines', () => {
  const a = xad(field('100 ELM&ELM ST&100^^TOWN'), args(), context()) as { line?: string[] };
  assert.deepEqual(a.line, ['100 ELM', 'ELM ST', '100']);
});

test('XAD: mailing (M) sets the type postal, not the use', () => {
  assert.deepEqual(xad(field('PO BOX 9^^TOWN^^^^M'), args(), context()), { type: 'postal', line: ['PO BOX 9'], city: 'TOWN' });
});

test('XAD: office (O) and billing (BI) map to work and billing', () => {
  assert.equal((xad(field('1 A ST^^X^^^^O'), args(), context()) as { use?: string }).use, 'work');
  assert.equal((xad(field('1 A ST^^X^^^^BI'), args(), context()) as { use?: string }).use, 'billing');
});

test('XAD: an address with only a type is nothing', () => {
  assert.equal(xad(field('^^^^^^H'), args(), context()), undefined);
});

test('XTN: a v2.5 phone with use and equipment, composed from the number parts with their extensions', () => {
  const ctx = context();
  assert.deepEqual(xtn(field('^PRN^PH^^1^555^5551234^22'), args(), ctx), {
    extension: [
      { url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-country', valueString: '1' },
      { url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-area', valueString: '555' },
      { url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-local', valueString: '5551234' },
      { url: 'http://hl7.org/fhir/StructureDefinition/contactpoint-extension', valueString: '22' },
    ],
    system: 'phone',
    value: '+1 555 5551234 X22',
    use: 'home',
  });
  assert.deepEqual(codes(ctx), []);
});

test('XTN: the unformatted number XTN.12 wins over the composed one', () => {
  const c = xtn(field('^WPN^PH^^^555^5551234^^^^^5555551234'), args(), context()) as { value?: string; use?: string };
  assert.equal(c.value, '5555551234');
  assert.equal(c.use, 'work');
});

test('XTN: Internet equipment takes the address from XTN.4 as an email', () => {
  assert.deepEqual(xtn(field('^NET^Internet^pat@example.org'), args(), context({}, 'PID-13[2]')), {
    system: 'email',
    value: 'pat@example.org',
  });
});

test('XTN: XTN.4 with no equipment type is an email', () => {
  assert.deepEqual(xtn(field('^^^pat@example.org'), args(), context()), { system: 'email', value: 'pat@example.org' });
});

test('XTN: a cellular phone (CP) is a phone with use mobile', () => {
  const c = xtn(field('^PRN^CP^^^312^5550000'), args(), context()) as { system?: string; use?: string };
  assert.deepEqual([c.system, c.use], ['phone', 'mobile']);
});

test('XTN: a bare v2.3 number in XTN.1 with no equipment type is a phone (departure from the IG data-absent rule)', () => {
  assert.deepEqual(xtn(field('(555)555-1234'), args(), context()), { system: 'phone', value: '(555)555-1234' });
});

test('XTN: the use argument applies when XTN.2 is empty', () => {
  assert.equal((xtn(field('(555)555-1234'), args({ use: 'work' }), context()) as { use?: string }).use, 'work');
  assert.equal((xtn(field('(555)555-1234^PRN'), args({ use: 'work' }), context()) as { use?: string }).use, 'home');
});

test('XTN: fax and beeper equipment map to fax and pager', () => {
  assert.equal((xtn(field('^WPN^FX^^^555^5550001'), args(), context()) as { system?: string }).system, 'fax');
  assert.equal((xtn(field('^BPN^BP^^^555^5550002'), args(), context()) as { system?: string }).system, 'pager');
});

test('XTN: a use code the IG leaves unmapped (ORN) is reported and the use left out', () => {
  const ctx = context();
  const c = xtn(field('^ORN^PH^^^555^5550003'), args(), ctx) as { use?: string };
  assert.equal(c.use, undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.table]), [['unknown-code', 'hl7-0201']]);
});
