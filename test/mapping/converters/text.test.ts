import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { args, context, field } from './fake-context.js';

const text = CONVERTERS['text']!;
const ft = CONVERTERS['ft']!;

test('text: delimiter escapes are undone', () => {
  assert.equal(text(field('A\\F\\B\\S\\C\\R\\D\\E\\E'), args(), context()), 'A|B^C~D\\E');
});

test('text: trailing padding is dropped, leading indentation kept', () => {
  assert.equal(text(field('  indented   '), args(), context()), '  indented');
});

test('text: whitespace only and the HL7 null "" are nothing', () => {
  assert.equal(text(field('   '), args(), context()), undefined);
  assert.equal(text(field('""'), args(), context()), undefined);
});

test('ft: \\.br\\ is a line break and \\.sp2\\ ends the line and skips two', () => {
  assert.equal(ft(field('a\\.br\\b\\.sp2\\c'), args(), context()), 'a\nb\n\n\nc');
});

test('ft: \\.in4\\ and \\.sk2\\ become spaces; \\.fi\\ and \\.nf\\ vanish', () => {
  assert.equal(ft(field('\\.nf\\x\\.sk2\\y\\.br\\\\.in4\\z\\.fi\\'), args(), context()), 'x  y\n    z');
});

test('ft: highlighting is dropped and ordinary escapes still work next to formatting', () => {
  assert.equal(ft(field('\\H\\HIGH\\N\\ \\T\\ low\\.br\\end'), args(), context()), 'HIGH & low\nend');
});

test('ft: an unknown escape is kept as sent', () => {
  assert.equal(ft(field('a\\Zfoo\\b'), args(), context()), 'a\\Zfoo\\b');
});
