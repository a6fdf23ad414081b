/**
 * Destination files: the example loads with its defaults; mistakes are reported at file:line:col.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDestinations } from '../../src/delivery/index.js';
import { REPO_DIR } from '../support/repo.js';
import { withFiles } from '../support/files.js';

test('the example destination in destinations/ loads, with the outbound set beside it', () => {
  const { destinations, errors } = loadDestinations(join(REPO_DIR, 'destinations'));
  assert.deepEqual(errors, []);
  assert.equal(destinations.length, 1);
  const d = destinations[0]!;
  assert.equal(d.name, 'lab-results');
  assert.equal(d.source.topic, 'lab.fhir');
  assert.equal(d.mapping.outbound, join(REPO_DIR, 'mappings/outbound'));
  assert.equal(d.mapping.message, 'ORU^R01');
  assert.deepEqual(d.retry, { maxAttempts: 10, backoffMs: 1000, maxBackoffMs: 60000 });
});

test('defaults fill what a minimal destination leaves out', () => {
  withFiles({ 'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\n' }, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.deepEqual(errors, []);
    assert.equal(destinations[0]?.target.ackTimeoutMs, 30000);
    assert.equal(destinations[0]?.mapping.charset, 'UNICODE UTF-8');
    assert.equal(destinations[0]?.mapping.passThrough, false);
  });
});

test('a port out of range is reported at its line and column', () => {
  withFiles({ 'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget:\n  host: h\n  port: 70000\n' }, (dir) => {
    const { errors } = loadDestinations(dir);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /a\.yaml:5:9/);
  });
});

test('half a client certificate (cert without key) is an error at target.tls', () => {
  withFiles({ 'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget:\n  host: h\n  port: 2575\n  tls: { cert: c.pem }\n' }, (dir) => {
    const { errors } = loadDestinations(dir);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /a\.yaml:6:\d+.*needs both cert and key/);
  });
});

test('two files with the same destination name: the second is reported at its name', () => {
  const one = 'name: same\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\n';
  withFiles({ 'a.yaml': one, 'b.yaml': one }, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.equal(destinations.length, 1);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /b\.yaml:1:7.*already used by .*a\.yaml/);
  });
});

test('a throttle is read with its default burst; no throttle block means no limit', () => {
  withFiles({
    'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nthrottle:\n  messagesPerSecond: 2.5\n',
    'b.yaml': 'name: b\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\n',
  }, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.deepEqual(errors, []);
    assert.deepEqual(destinations.map((d) => d.throttle), [{ messagesPerSecond: 2.5, burst: 1 }, null]);
  });
});

test('a throttle of 0 messages a second is reported at its line and column', () => {
  withFiles({ 'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nthrottle:\n  messagesPerSecond: 0\n' }, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.equal(destinations.length, 0);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /a\.yaml:5:22.*messagesPerSecond/);
  });
});

test('a throttle written as words, or without its rate, is reported where it stands', () => {
  withFiles({
    'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nthrottle: { messagesPerSecond: fast }\n',
    'b.yaml': 'name: b\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nthrottle: { burst: 5 }\n',
  }, (dir) => {
    const { errors } = loadDestinations(dir);
    const messages = errors.map((e) => e.message).sort();
    assert.equal(messages.length, 2);
    assert.match(messages[0] ?? '', /a\.yaml:4:32: throttle\.messagesPerSecond .*number/);
    assert.match(messages[1] ?? '', /b\.yaml:4:11: throttle\.messagesPerSecond is required/);
  });
});

test('review.slaMinutes sets how long the console lets a dead letter of the destination wait; 240 without it', () => {
  const files = {
    'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nreview:\n  slaMinutes: 30\n',
    'b.yaml': 'name: b\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\n',
  };
  withFiles(files, (dir) => {
    const { destinations, errors } = loadDestinations(dir);
    assert.deepEqual(errors, []);
    assert.deepEqual(destinations.map((d) => [d.name, d.review.slaMinutes]), [['a', 30], ['b', 240]]);
  });
});

test('a review.slaMinutes of 0, or an unknown review key, is reported at its line and column', () => {
  const files = {
    'a.yaml': 'name: a\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nreview:\n  slaMinutes: 0\n',
    'b.yaml': 'name: b\nsource: { topic: x.fhir }\ntarget: { host: h, port: 2575 }\nreview: { maxGroupSize: 10 }\n',
  };
  withFiles(files, (dir) => {
    const messages = loadDestinations(dir).errors.map((e) => e.message).sort();
    assert.equal(messages.length, 2, messages.join('\n'));
    assert.match(messages[0] ?? '', /a\.yaml:5:15: review\.slaMinutes /);
    assert.match(messages[1] ?? '', /b\.yaml:4:11: review\.maxGroupSize is not a known setting; known keys here: slaMinutes/);
  });
});
