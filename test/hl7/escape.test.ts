import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DELIMITERS, escapeValue, unescapeValue, type Delimiters } from '../../src/hl7/index.js';

const d = DEFAULT_DELIMITERS;
const withTruncation: Delimiters = { ...DEFAULT_DELIMITERS, truncation: '#' };

test('\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ unescape to the field, component, subcomponent, repetition and escape characters', () => {
  assert.equal(unescapeValue('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', d), 'a|b^c&d~e\\f');
});

test('escapeValue writes each delimiter in the value as its escape sequence', () => {
  assert.equal(escapeValue('a|b^c&d~e\\f', d), 'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f');
});

test('escape sequences follow the message\'s own (custom) delimiters', () => {
  const custom: Delimiters = { field: '#', component: '!', repetition: '@', escape: '%', subcomponent: '*', truncation: null };
  assert.equal(escapeValue('1#2!3@4%5*6', custom), '1%F%2%S%3%R%4%E%5%T%6');
  assert.equal(unescapeValue('1%F%2%S%3%R%4%E%5%T%6', custom), '1#2!3@4%5*6');
});

test('\\P\\ is the v2.7 truncation character when MSH-2 defines one', () => {
  assert.equal(unescapeValue('ABC\\P\\', withTruncation), 'ABC#');
  assert.equal(escapeValue('ABC#', withTruncation), 'ABC\\P\\');
});

test('\\P\\ is kept verbatim and # is plain data when MSH-2 has no truncation character', () => {
  assert.equal(unescapeValue('ABC\\P\\', d), 'ABC\\P\\');
  assert.equal(escapeValue('ABC#', d), 'ABC#');
});

test('\\.br\\ becomes a line feed and a line feed is escaped as \\.br\\', () => {
  assert.equal(unescapeValue('line one\\.br\\line two', d), 'line one\nline two');
  assert.equal(escapeValue('line one\nline two', d), 'line one\\.br\\line two');
});

test('a carriage return is escaped as \\X0D\\ so it cannot end the segment, and decodes back', () => {
  assert.equal(escapeValue('a\rb', d), 'a\\X0D\\b');
  assert.equal(unescapeValue('a\\X0D\\b', d), 'a\rb');
});

test('\\H\\ and \\N\\ (highlighting on/off) are dropped', () => {
  assert.equal(unescapeValue('normal \\H\\IMPORTANT\\N\\ normal', d), 'normal IMPORTANT normal');
});

test('\\X..\\ hex bytes that form valid UTF-8 decode as UTF-8', () => {
  assert.equal(unescapeValue('Jos\\XC3A9\\', d), 'José');
  assert.equal(unescapeValue('\\XE282AC\\5', d), '€5');
});

test('\\X..\\ hex bytes that are not valid UTF-8 decode as ISO-8859-1', () => {
  assert.equal(unescapeValue('Jos\\XE9\\', d), 'José');
  assert.equal(unescapeValue('\\XB5\\g', d), 'µg');
});

test('\\X..\\ with an odd number of digits or non-hex digits is kept verbatim', () => {
  assert.equal(unescapeValue('a\\X0\\b', d), 'a\\X0\\b');
  assert.equal(unescapeValue('a\\XZZ\\b', d), 'a\\XZZ\\b');
});

test('\\Cxxyy\\ and \\Mxxyyzz\\ character-set switches are kept verbatim', () => {
  assert.equal(unescapeValue('\\C2842\\abc\\C2D41\\', d), '\\C2842\\abc\\C2D41\\');
  assert.equal(unescapeValue('\\M244230\\x', d), '\\M244230\\x');
});

test('unknown escape sequences are kept verbatim', () => {
  assert.equal(unescapeValue('a\\Zlocal\\b\\.sp2\\c', d), 'a\\Zlocal\\b\\.sp2\\c');
});

test('an unterminated escape sequence is kept verbatim and does not throw', () => {
  assert.equal(unescapeValue('C:\\temp', d), 'C:\\temp');
  assert.equal(unescapeValue('ends with \\F', d), 'ends with \\F');
  assert.equal(unescapeValue('\\', d), '\\');
});

test('text without the escape character is returned unchanged', () => {
  assert.equal(unescapeValue('DOE^JOHN', d), 'DOE^JOHN');
  assert.equal(escapeValue('plain text', d), 'plain text');
});

test('unescapeValue undoes escapeValue for a value holding every special character', () => {
  const value = 'a|b^c~d\\e&f#g\nh\ri \\F\\ literal';
  assert.equal(unescapeValue(escapeValue(value, withTruncation), withTruncation), value);
});

test('a line feed is escaped as \\X0A\\ when "." is a delimiter, since \\.br\\ would be cut apart', () => {
  const dotField: Delimiters = { ...DEFAULT_DELIMITERS, field: '.' };
  assert.equal(escapeValue('a\nb', dotField), 'a\\X0A\\b');
  assert.equal(unescapeValue('a\\X0A\\b', dotField), 'a\nb');
});
