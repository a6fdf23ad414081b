import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadChannels } from '../../src/channel/index.js';
import { channelDir, writeFile } from './channel-files.js';

// dist/test/channel/ → repository root.
const SHIPPED_CHANNELS = fileURLToPath(new URL('../../../channels/', import.meta.url));

test('a second channel on the same port is reported at its port and left out', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
`);
  const lab = writeFile(dir, 'lab.yaml', `
name: lab
listener:
  host: 127.0.0.1
  port: 2575
`);
  const { channels, errors } = loadChannels(dir);
  assert.deepEqual(channels.map((c) => c.name), ['adt']);
  assert.equal(errors.length, 1);
  const err = errors[0];
  assert.ok(err !== undefined);
  assert.deepEqual({ file: err.file, line: err.line, col: err.col, rule: err.rule }, { file: lab, line: 4, col: 9, rule: 'duplicate-listener' });
  assert.match(err.message, /listener 127\.0\.0\.1:2575 is already used by channel 'adt'/);
});

test('a wildcard bind clashes with a loopback bind on the same port', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'a.yaml', `
listener:
  host: 127.0.0.1
  port: 2575
`);
  writeFile(dir, 'b.yaml', `
listener:
  host: 0.0.0.0
  port: 2575
`);
  const { channels, errors } = loadChannels(dir);
  assert.deepEqual(channels.map((c) => c.name), ['a']);
  assert.deepEqual(errors.map((e) => e.rule), ['duplicate-listener']);
});

test('the same port on two different specific hosts is allowed', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'a.yaml', `
listener:
  host: 127.0.0.1
  port: 2575
`);
  writeFile(dir, 'b.yaml', `
listener:
  host: 127.0.0.2
  port: 2575
`);
  const { channels, errors } = loadChannels(dir);
  assert.deepEqual(channels.map((c) => c.name), ['a', 'b']);
  assert.deepEqual(errors, []);
});

test('a second file claiming an existing channel name is reported at its name', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
`);
  const copy = writeFile(dir, 'adt-copy.yml', `
# copied from adt.yaml and forgot to rename
name: adt
listener:
  port: 2580
`);
  const { channels, errors } = loadChannels(dir);
  // "adt-copy.yml" sorts before "adt.yaml", so the copy loads first and adt.yaml is the repeat.
  assert.deepEqual(channels.map((c) => c.file), [copy]);
  assert.deepEqual(errors.map((e) => [e.file, e.line, e.col, e.rule]), [[join(dir, 'adt.yaml'), 1, 1, 'duplicate-name']]);
});

test('a broken channel file is reported while the other channels still load', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
`);
  const broken = writeFile(dir, 'lab.yaml', `
listener:
  port: 99999
`);
  writeFile(dir, 'notes.txt', 'not a channel');
  const { channels, errors } = loadChannels(dir);
  assert.deepEqual(channels.map((c) => c.name), ['adt']);
  assert.deepEqual(errors.map((e) => [e.file, e.line, e.col, e.rule]), [[broken, 2, 9, 'maximum']]);
});

test('the shipped example channels load cleanly on 127.0.0.1', () => {
  assert.ok(existsSync(SHIPPED_CHANNELS), `no channels folder at ${SHIPPED_CHANNELS}`);
  const { channels, errors } = loadChannels(SHIPPED_CHANNELS);
  assert.deepEqual(errors.map((e) => e.message), []);
  const summary = channels.map((c) => ({
    name: c.name,
    host: c.listener.host,
    port: c.listener.port,
    messageTypes: c.accept.messageTypes,
  }));
  assert.deepEqual(summary, [
    { name: 'adt', host: '127.0.0.1', port: 2575, messageTypes: ['ADT^*'] },
    { name: 'lab', host: '127.0.0.1', port: 2576, messageTypes: ['ORU^R01', 'ORM^O01', 'OML^O21'] },
  ]);
});
