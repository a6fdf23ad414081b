import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hl7CharsetToIconv } from '../../src/charset/index.js';
import { decodeOk, msh } from './helpers.js';

/** HL7 table 0211 (v2.5-2.9) plus ISO-8859 parts outside it, and the decoder each maps to. */
const TABLE_0211: ReadonlyArray<readonly [string, string | null]> = [
  ['ASCII', 'us-ascii'],
  ['ISO IR6', 'us-ascii'],
  ['8859/1', 'iso-8859-1'],
  ['8859/2', 'iso-8859-2'],
  ['8859/3', 'iso-8859-3'],
  ['8859/4', 'iso-8859-4'],
  ['8859/5', 'iso-8859-5'],
  ['8859/6', 'iso-8859-6'],
  ['8859/7', 'iso-8859-7'],
  ['8859/8', 'iso-8859-8'],
  ['8859/9', 'iso-8859-9'],
  ['8859/10', 'iso-8859-10'],
  ['8859/11', 'iso-8859-11'],
  ['8859/13', 'iso-8859-13'],
  ['8859/14', 'iso-8859-14'],
  ['8859/15', 'iso-8859-15'],
  ['8859/16', 'iso-8859-16'],
  ['ISO IR14', 'shift_jis'],
  ['ISO IR87', 'iso-2022-jp'],
  ['ISO IR159', 'iso-2022-jp'],
  ['GB 18030-2000', 'gb18030'],
  ['KS X 1001', 'euc-kr'],
  ['CNS 11643-1992', null],
  ['BIG-5', 'big5'],
  ['UNICODE', 'utf-8'],
  ['UNICODE UTF-8', 'utf-8'],
  ['UNICODE UTF-16', 'utf-16le'],
  ['UNICODE UTF-32', 'utf-32le'],
];

for (const [value, expected] of TABLE_0211) {
  test(`table 0211 "${value}" maps to ${expected ?? 'no decoder'}`, () => {
    assert.equal(hl7CharsetToIconv(value), expected);
  });
}

const SPELLINGS: ReadonlyArray<readonly [string, string | null]> = [
  ['UTF-8', 'utf-8'],
  ['utf8', 'utf-8'],
  ['ISO-8859-1', 'iso-8859-1'],
  ['iso8859-15', 'iso-8859-15'],
  ['LATIN1', 'iso-8859-1'],
  ['WINDOWS-1252', 'windows-1252'],
  ['CP1252', 'windows-1252'],
  [' unicode utf-8 ', 'utf-8'],
  ['ISO-IR 87', 'iso-2022-jp'],
  ['8859/12', null],
  ['EBCDIC', null],
  ['', null],
];

for (const [value, expected] of SPELLINGS) {
  test(`MSH-18 spelling "${value}" maps to ${expected ?? 'nothing (unknown)'}`, () => {
    assert.equal(hl7CharsetToIconv(value), expected);
  });
}

/** A message declaring each charset, with bytes only that charset reads as the expected text. */
const DECLARED_BYTES: ReadonlyArray<readonly [string, readonly number[], string]> = [
  ['ASCII', [0x41, 0x42], 'AB'],
  ['ISO IR6', [0x41, 0x42], 'AB'],
  ['8859/1', [0xc9], 'É'],
  ['8859/2', [0xa3], 'Ł'],
  ['8859/3', [0xa1], 'Ħ'],
  ['8859/4', [0xa2], 'ĸ'],
  ['8859/5', [0xd0], 'а'],
  ['8859/6', [0xc7], 'ا'],
  ['8859/7', [0xe1], 'α'],
  ['8859/8', [0xe0], 'א'],
  ['8859/9', [0xdd], 'İ'],
  ['8859/10', [0xa1], 'Ą'],
  ['8859/11', [0xa1], 'ก'],
  ['8859/13', [0xa1], '”'],
  ['8859/14', [0xa1], 'Ḃ'],
  ['8859/15', [0xa4], '€'],
  ['8859/16', [0xa1], 'Ą'],
  ['ISO IR14', [0xb1], 'ｱ'],
  ['ISO IR87', [0x1b, 0x24, 0x42, 0x3b, 0x33, 0x1b, 0x28, 0x42], '山'],
  ['ISO IR159', [0x1b, 0x24, 0x28, 0x44, 0x30, 0x21, 0x1b, 0x28, 0x42], '丂'],
  ['GB 18030-2000', [0xb0, 0xa1], '啊'],
  ['KS X 1001', [0xb0, 0xa1], '가'],
  ['BIG-5', [0xa4, 0x40], '一'],
  ['UNICODE', [0xc3, 0xa9], 'é'],
  ['UNICODE UTF-8', [0xc3, 0xa9], 'é'],
];

for (const [value, bytes, expected] of DECLARED_BYTES) {
  test(`a message declaring "${value}" decodes [${bytes.map((b) => b.toString(16)).join(' ')}] as "${expected}"`, () => {
    const message = Buffer.concat([Buffer.from(`${msh(value)}\rNTE|1||`, 'latin1'), Buffer.from(bytes), Buffer.from('\r')]);
    const result = decodeOk(message);
    assert.equal(result.decision.source, 'msh18');
    assert.equal(result.decision.charset, hl7CharsetToIconv(value));
    assert.equal(result.text.split('\r')[1], `NTE|1||${expected}`);
  });
}
