import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeValue, parseMessage, splitBatch, unescapeValue, type Delimiters } from '../../src/hl7/index.js';

// Printable ASCII punctuation: the characters the parser accepts as delimiters.
const DELIMITER_CHARS = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
const ID_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'];
const TERMINATORS = ['\r', '\n', '\r\n'];

const delimitersArb: fc.Arbitrary<Delimiters> = fc
  .tuple(fc.uniqueArray(fc.constantFrom(...DELIMITER_CHARS), { minLength: 6, maxLength: 6 }), fc.boolean())
  .map(([c, withTruncation]) => ({
    field: c[0] ?? '|',
    component: c[1] ?? '^',
    repetition: c[2] ?? '~',
    escape: c[3] ?? '\\',
    subcomponent: c[4] ?? '&',
    truncation: withTruncation ? (c[5] ?? '#') : null,
  }));

const segmentIdArb = fc
  .string({ unit: fc.constantFrom(...ID_CHARS), minLength: 3, maxLength: 3 })
  .filter((id) => id !== 'MSH' && id !== 'FHS' && id !== 'BHS');

// Values mix plain text, delimiter characters, line breaks and non-ASCII so escaping is exercised.
const valueArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(...DELIMITER_CHARS, '\n', '\r', 'a', ' ', 'é', '€'), maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);

type Field = string[][][]; // repetitions → components → subcomponents
const fieldArb: fc.Arbitrary<Field> = fc.array(
  fc.array(fc.array(valueArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  { minLength: 1, maxLength: 3 },
);
const segmentArb = fc.record({ id: segmentIdArb, fields: fc.array(fieldArb, { minLength: 1, maxLength: 5 }) });

const messageArb = fc.record({
  delimiters: delimitersArb,
  controlId: valueArb,
  segments: fc.array(segmentArb, { minLength: 1, maxLength: 5 }),
  terminators: fc.array(fc.constantFrom(...TERMINATORS), { minLength: 6, maxLength: 6 }),
  trailing: fc.boolean(),
});

function encodeField(field: Field, d: Delimiters): string {
  return field
    .map((rep) => rep.map((comp) => comp.map((v) => escapeValue(v, d)).join(d.subcomponent)).join(d.component))
    .join(d.repetition);
}

test('generated well-formed messages round-trip exactly and get() returns each unescaped value', () => {
  fc.assert(
    fc.property(messageArb, ({ delimiters: d, controlId, segments, terminators, trailing }) => {
      const enc = d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
      const lines = [['MSH' + d.field + enc, 'APP', 'FAC', '', '', '20240101', '', 'ADT' + d.component + 'A01', escapeValue(controlId, d)].join(d.field)];
      for (const s of segments) lines.push([s.id, ...s.fields.map((f) => encodeField(f, d))].join(d.field));
      let text = '';
      lines.forEach((line, i) => {
        const last = i === lines.length - 1;
        text += line + (last && !trailing ? '' : (terminators[i % terminators.length] ?? '\r'));
      });

      const result = parseMessage(text);
      assert.ok(result.ok, result.ok ? '' : result.error.message);
      const m = result.message;
      assert.equal(m.toString(), text);
      assert.equal(m.get('MSH-10'), controlId);
      assert.equal(m.msh().triggerEvent, 'A01');

      const seen = new Map<string, number>();
      for (const s of segments) {
        const occurrence = (seen.get(s.id) ?? 0) + 1;
        seen.set(s.id, occurrence);
        s.fields.forEach((field, fi) => {
          field.forEach((rep, ri) => {
            rep.forEach((comp, ci) => {
              comp.forEach((value, si) => {
                const path = `${s.id}[${occurrence}]-${fi + 1}[${ri + 1}].${ci + 1}.${si + 1}`;
                assert.equal(m.get(path), value, path);
              });
            });
          });
        });
      }
    }),
    { numRuns: 300 },
  );
});

test('unescapeValue(escapeValue(v)) === v for any string and any delimiters', () => {
  fc.assert(
    fc.property(delimitersArb, fc.string({ unit: 'binary' }), valueArb, (d, a, b) => {
      assert.equal(unescapeValue(escapeValue(a, d), d), a);
      assert.equal(unescapeValue(escapeValue(b, d), d), b);
    }),
    { numRuns: 500 },
  );
});

// Strings built from HL7's own alphabet reach the parser's corners far more often than random text.
const hl7ishArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('MSH', 'FHS', 'BHS', 'BTS', 'PID', '|', '^', '~', '\\', '&', '#', '\r', '\n', '\r\n', ' ', '\x0b', 'A', '0', 'X', 'F', '.br'), maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }).map((s) => 'MSH|^~\\&|' + s),
);

test('arbitrary text never makes parseMessage, splitBatch, get or unescapeValue throw', () => {
  fc.assert(
    fc.property(hl7ishArb, (text) => {
      for (const piece of [text, ...splitBatch(text).messages]) {
        const result = parseMessage(piece);
        if (result.ok) {
          const m = result.message;
          m.msh();
          m.toString();
          m.get('MSH-9.2');
          m.getAll('PID[*]-3[*].1.1');
          for (const s of m.segments()) s.get('1.1');
        } else {
          assert.ok(result.error.code.length > 0);
        }
        unescapeValue(piece, { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '#' });
      }
    }),
    { numRuns: 2000 },
  );
});
