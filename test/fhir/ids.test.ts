import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deterministicId, uuidv5, uuidUrn, ID_NAMESPACE } from '../../src/fhir/index.js';

const NAMESPACE_DNS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

test('uuidv5 of "www.example.com" in the DNS namespace is the published vector', () => {
  assert.equal(uuidv5('www.example.com', NAMESPACE_DNS), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

test('uuidv5 of "python.org" in the DNS namespace matches the Python uuid module documentation', () => {
  assert.equal(uuidv5('python.org', NAMESPACE_DNS), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

test('uuidv5 in the URL namespace matches an independent implementation (Python uuid.uuid5)', () => {
  assert.equal(uuidv5('http://www.ietf.org/rfc/rfc4122.txt', NAMESPACE_URL), 'd0690b3c-b29d-52e7-81b0-d573b503f2d4');
});

test('uuidv5 hashes the UTF-8 bytes of the name, so non-ASCII names give the id other implementations give', () => {
  // Computed with Python 3.11: uuid.uuid5(uuid.NAMESPACE_DNS, 'M\u00fcller|Zo\u00eb'), which
  // hashes the name's UTF-8 bytes (4D C3 BC 6C 6C 65 72 7C 5A 6F C3 AB).
  assert.equal(uuidv5('M\u00fcller|Zo\u00eb', NAMESPACE_DNS), 'a9e65c07-30c7-508f-82d4-57425f51099c');
  // Python 3.11: uuid.uuid5(uuid.NAMESPACE_DNS, 'Muller|Zoe'); the accents change the id.
  assert.equal(uuidv5('Muller|Zoe', NAMESPACE_DNS), '0556c29a-6329-5611-be13-ec75c15d1e0c');
});

test('uuidv5 refuses a namespace that is not a UUID', () => {
  assert.throws(() => uuidv5('x', 'not-a-uuid'), RangeError);
});

test('a deterministic id is a version 5, RFC 4122 variant UUID', () => {
  const id = deterministicId('st-marys', 'Patient', 'urn:oid:1.2.3|12345');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('a deterministic id is UUIDv5 over "site|type|key" in the engine namespace', () => {
  assert.equal(deterministicId('st-marys', 'Patient', 'MR|12345'), uuidv5('st-marys|Patient|MR|12345', ID_NAMESPACE));
  // Computed with Python 3.11: uuid.uuid5(uuid.UUID(ID_NAMESPACE), 'st-marys|Patient|MR|12345'),
  // so a change of namespace or of the key layout (which would re-key every resource) fails here.
  assert.equal(ID_NAMESPACE, 'cff7088f-9ff6-4e00-914b-7b4d6e8bb339');
  assert.equal(deterministicId('st-marys', 'Patient', 'MR|12345'), '26e20e7c-3eb9-5a70-a8d2-b31182100dcf');
});

test('the same site, type and key give the same id every time', () => {
  const a = deterministicId('st-marys', 'Encounter', 'V100');
  const b = deterministicId('st-marys', 'Encounter', 'V100');
  assert.equal(a, b);
});

test('ids differ by site, by type and by key', () => {
  const base = deterministicId('st-marys', 'Patient', '12345');
  assert.notEqual(deterministicId('general', 'Patient', '12345'), base);
  assert.notEqual(deterministicId('st-marys', 'RelatedPerson', '12345'), base);
  assert.notEqual(deterministicId('st-marys', 'Patient', '12346'), base);
});

test('the business key never appears inside the id', () => {
  const mrn = '0001234567';
  const id = deterministicId('st-marys', 'Patient', mrn);
  assert.ok(!id.replace(/-/g, '').includes(mrn.slice(0, 8)));
});

test('a "|" in the site or type is refused, so "a|b" + "c" cannot collide with "a" + "b|c"', () => {
  assert.throws(() => deterministicId('a|b', 'Patient', 'k'), RangeError);
  assert.throws(() => deterministicId('a', 'Pat|ient', 'k'), RangeError);
  assert.doesNotThrow(() => deterministicId('a', 'Patient', 'sys|value'));
});

test('an empty business key is refused rather than giving every such resource one id', () => {
  assert.throws(() => deterministicId('st-marys', 'Patient', ''), /empty business key for a Patient/);
});

test('uuidUrn gives the transaction fullUrl form', () => {
  assert.equal(uuidUrn('2ed6657d-e927-568b-95e1-2665a8aea6a2'), 'urn:uuid:2ed6657d-e927-568b-95e1-2665a8aea6a2');
});
