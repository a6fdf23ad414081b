import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkChannelFile, loadChannelFile } from '../../src/channel/index.js';
import { ConfigError } from '../../src/config/index.js';
import { channelDir, channelFile, writeFile } from './channel-files.js';

/** The single error loading `file` throws; fails the test if it loads. */
function loadError(file: string): ConfigError {
  try {
    loadChannelFile(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the channel loaded although it is invalid');
}

function assertAt(err: ConfigError, file: string, line: number, col: number, rule: string): void {
  assert.equal(err.file, file);
  assert.deepEqual({ line: err.line, col: err.col, rule: err.rule }, { line, col, rule });
  assert.ok(err.message.startsWith(`${file}:${line}:${col}: `), err.message);
  assert.ok(err.message.endsWith(` (${rule})`), err.message);
}

test('a port above 65535 is reported at the port value with the maximum rule', (t) => {
  const file = channelFile(t, 'adt.yaml', `
# yaml-language-server: $schema=../schemas/channel.schema.json
listener:
  port: 65536
`);
  const err = loadError(file);
  assertAt(err, file, 3, 9, 'maximum');
  assert.equal(err.message, `${file}:3:9: listener.port must be <= 65535 (maximum)`);
});

test('a port of 0 is reported with the minimum rule', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 0
`);
  assertAt(loadError(file), file, 2, 9, 'minimum');
});

test('a missing port points at the listener mapping it belongs in', (t) => {
  const file = channelFile(t, 'adt.yaml', `
name: adt
listener:
  host: 127.0.0.1
`);
  const err = loadError(file);
  assertAt(err, file, 3, 3, 'required');
  assert.match(err.message, /listener\.port is required/);
});

test('a missing listener section points at the top of the channel', (t) => {
  const file = channelFile(t, 'adt.yaml', `
# comment lines come first
name: adt
`);
  const err = loadError(file);
  assertAt(err, file, 2, 1, 'required');
  assert.match(err.message, /listener is required/);
});

test('a quoted port is a wrong type, reported at the value', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: "2575"
`);
  const err = loadError(file);
  assertAt(err, file, 2, 9, 'type');
  assert.match(err.message, /listener\.port must be a whole number, not a string/);
});

test('an unknown key points at the key and suggests the close known one', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
  idleTimeout: 60
`);
  const err = loadError(file);
  assertAt(err, file, 3, 3, 'additionalProperties');
  assert.match(err.message, /listener\.idleTimeout is not a known setting; did you mean 'idleTimeoutSeconds'\?/);
});

test('broken YAML syntax is reported at the position the YAML parser gives', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: [2575
accept:
  messageTypes: ["ADT^*"]
`);
  const err = loadError(file);
  // The unclosed "[" is only detected where the next block key starts.
  assertAt(err, file, 3, 1, 'syntax');
  assert.match(err.message, /: YAML syntax: Flow sequence .* end with a \] \[BAD_INDENT\] \(syntax\)$/);
});

test('a key written twice is a syntax error at the second occurrence', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
  port: 2576
`);
  const err = loadError(file);
  assertAt(err, file, 3, 3, 'syntax');
  assert.match(err.message, /DUPLICATE_KEY/);
});

test('a fallback charset iconv-lite does not know is reported at the value', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
charset:
  fallback: latin-9000
`);
  const err = loadError(file);
  assertAt(err, file, 4, 13, 'charset');
  assert.match(err.message, /charset\.fallback 'latin-9000' is not a charset iconv-lite knows/);
});

test('an upper-case channel name breaks the topic naming rule', (t) => {
  const file = channelFile(t, 'adt.yaml', `
name: ADT_Main
listener:
  port: 2575
`);
  const err = loadError(file);
  assertAt(err, file, 1, 7, 'pattern');
  assert.match(err.message, /^.*: name must use only lower-case letters/);
});

test('a file name that is not a valid channel name needs an explicit name', (t) => {
  const file = channelFile(t, 'ADT Feed.yaml', `
listener:
  port: 2575
`);
  const err = loadError(file);
  assertAt(err, file, 1, 1, 'name');
});

test('a TLS key file that does not exist is reported at the key setting', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'adt.crt', 'certificate');
  const file = writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
  tls:
    key: missing.key
    cert: adt.crt
`);
  const err = loadError(file);
  assertAt(err, file, 4, 10, 'file');
  assert.match(err.message, /listener\.tls\.key file not found: .*missing\.key/);
});

test('allowedSubjects without requestCert is refused because no certificate would be checked', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'adt.key', 'key');
  writeFile(dir, 'adt.crt', 'certificate');
  const file = writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
  tls:
    key: adt.key
    cert: adt.crt
    allowedSubjects: [epic-prod.hospital.org]
`);
  assertAt(loadError(file), file, 6, 22, 'tls');
});

test('an allow-list entry that is not an address or range is reported at the entry', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
  allowedAddresses:
    - 10.0.0.0/8
    - 10.1.2.3/8
`);
  const err = loadError(file);
  assertAt(err, file, 5, 7, 'address');
  assert.match(err.message, /allowedAddresses\[1\] '10\.1\.2\.3\/8' has address bits set beyond the \/8 prefix/);
});

test('a message type pattern must be CODE^EVENT', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
accept:
  messageTypes: ["ADT^A01", "ADT-A04"]
`);
  const err = loadError(file);
  assertAt(err, file, 4, 29, 'pattern');
  assert.match(err.message, /accept\.messageTypes\[1\] must be CODE\^EVENT/);
});

test('an ack mode outside the list names the allowed values', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
ack:
  mode: fast
`);
  const err = loadError(file);
  assertAt(err, file, 4, 9, 'enum');
  assert.match(err.message, /ack\.mode must be one of: original, enhanced, auto/);
});

test('two topics of one channel must differ', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
topics:
  dlq: adt.raw
`);
  const err = loadError(file);
  assertAt(err, file, 4, 8, 'topics');
});

test('an empty channel file says a port is needed', (t) => {
  const file = channelFile(t, 'adt.yaml', `
# nothing configured yet
`);
  const err = loadError(file);
  assertAt(err, file, 1, 1, 'required');
});

test('every problem in a file is reported in one pass, in file order', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 70000
  hots: 0.0.0.0
charset:
  fallback: no-such-charset
ack:
  timeoutMs: -1
`);
  const { channel, errors } = checkChannelFile(file);
  assert.equal(channel, null);
  assert.deepEqual(
    errors.map((e) => `${e.line}:${e.col} ${e.rule}`),
    ['2:9 maximum', '3:3 additionalProperties', '5:13 charset', '7:14 minimum'],
  );
});

test('error messages for an unreadable file carry the error code, not file content', (t) => {
  const file = `${channelDir(t)}/absent.yaml`;
  const err = loadError(file);
  assertAt(err, file, 1, 1, 'read');
  assert.match(err.message, /ENOENT/);
});
