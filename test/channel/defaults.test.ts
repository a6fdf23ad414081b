import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CHANNEL_DEFAULTS, channelSchema, loadChannelFile } from '../../src/channel/index.js';
import { channelDir, channelFile, writeFile } from './channel-files.js';

test('a channel with only a port gets every default, named after its file', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
`);
  const channel = loadChannelFile(file);
  assert.deepEqual(channel, {
    name: 'adt',
    file,
    listener: {
      host: '127.0.0.1',
      port: 2575,
      maxFrameBytes: 16 * 1024 * 1024,
      idleTimeoutSeconds: 300,
      frameTimeoutSeconds: 60,
      closeGraceSeconds: 5,
      maxConnections: 100,
      maxConnectionsPerAddress: 50,
      maxBufferedBytes: 128 * 1024 * 1024,
      tls: null,
      allowedAddresses: null,
    },
    accept: { messageTypes: null, sendingApplications: null, sendingFacilities: null, processingIds: null },
    charset: { fallback: 'windows-1252' },
    ack: { mode: 'auto', timeoutMs: 5000, application: 'HL7ENGINE', facility: 'adt' },
    topics: { raw: 'adt.raw', fhir: 'adt.fhir', dlq: 'adt.dlq' },
    dedupe: { windowSeconds: 86400, maxEntries: 100000 },
    review: { slaMinutes: 240, maxGroupSize: 500 },
    batch: { maxMessages: 10000 },
    mapping: null,
    site: null,
  });
});

test('an explicit name drives the topic names and the ACK facility', (t) => {
  const file = channelFile(t, 'whatever.yml', `
name: er-adt
listener:
  port: 2575
`);
  const channel = loadChannelFile(file);
  assert.equal(channel.name, 'er-adt');
  assert.deepEqual(channel.topics, { raw: 'er-adt.raw', fhir: 'er-adt.fhir', dlq: 'er-adt.dlq' });
  assert.equal(channel.ack.facility, 'er-adt');
});

test('values written in the file win over defaults', (t) => {
  const file = channelFile(t, 'lab.yaml', `
listener:
  host: 0.0.0.0
  port: 2576
  allowedAddresses: [10.20.0.0/16]
accept:
  messageTypes: ["ORU^R01"]
  processingIds: [P]
charset:
  fallback: reject
ack:
  mode: enhanced
  facility: MAIN-HOSPITAL
topics:
  raw: legacy-lab-inbound
mapping: oru-lab
site: north
`);
  const channel = loadChannelFile(file);
  assert.equal(channel.listener.host, '0.0.0.0');
  assert.deepEqual(channel.listener.allowedAddresses, ['10.20.0.0/16']);
  assert.deepEqual(channel.accept.messageTypes, ['ORU^R01']);
  assert.deepEqual(channel.accept.processingIds, ['P']);
  assert.equal(channel.charset.fallback, 'reject');
  assert.equal(channel.ack.mode, 'enhanced');
  assert.equal(channel.ack.facility, 'MAIN-HOSPITAL');
  assert.deepEqual(channel.topics, { raw: 'legacy-lab-inbound', fhir: 'lab.fhir', dlq: 'lab.dlq' });
  assert.equal(channel.mapping, 'oru-lab');
  assert.equal(channel.site, 'north');
});

test('TLS file paths are resolved against the channel file folder and TLS defaults filled', (t) => {
  const dir = channelDir(t);
  writeFile(dir, 'certs/adt.key', 'not read at load time');
  writeFile(dir, 'certs/adt.crt', 'not read at load time');
  writeFile(dir, 'certs/senders-ca.crt', 'not read at load time');
  const file = writeFile(dir, 'adt.yaml', `
listener:
  port: 2575
  tls:
    key: certs/adt.key
    cert: certs/adt.crt
    ca: certs/senders-ca.crt
    requestCert: true
`);
  const tls = loadChannelFile(file).listener.tls;
  assert.deepEqual(tls, {
    key: join(dir, 'certs/adt.key'),
    cert: join(dir, 'certs/adt.crt'),
    ca: join(dir, 'certs/senders-ca.crt'),
    requestCert: true,
    rejectUnauthorized: true,
    allowedSubjects: null,
    minVersion: 'TLSv1.2',
  });
});

test('the loaded channel is frozen so a hot reload cannot be half-applied by a stray write', (t) => {
  const file = channelFile(t, 'adt.yaml', `
listener:
  port: 2575
accept:
  messageTypes: ["ADT^*"]
`);
  const channel = loadChannelFile(file);
  assert.ok(Object.isFrozen(channel));
  assert.ok(Object.isFrozen(channel.listener));
  assert.ok(Object.isFrozen(channel.accept.messageTypes));
});

test('every default the schema shows in an editor is the default the loader applies', () => {
  const schema = channelSchema();
  const at = (...path: string[]): unknown => {
    let node: unknown = schema;
    for (const key of path) {
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
    return node;
  };
  const p = (section: string, key: string): unknown => at('properties', section, 'properties', key, 'default');
  assert.equal(p('listener', 'host'), CHANNEL_DEFAULTS.host);
  assert.equal(p('listener', 'maxFrameBytes'), CHANNEL_DEFAULTS.maxFrameBytes);
  assert.equal(p('listener', 'idleTimeoutSeconds'), CHANNEL_DEFAULTS.idleTimeoutSeconds);
  assert.equal(p('listener', 'maxConnections'), CHANNEL_DEFAULTS.maxConnections);
  assert.equal(p('listener', 'frameTimeoutSeconds'), CHANNEL_DEFAULTS.frameTimeoutSeconds);
  assert.equal(p('listener', 'closeGraceSeconds'), CHANNEL_DEFAULTS.closeGraceSeconds);
  const tls = (key: string): unknown => at('properties', 'listener', 'properties', 'tls', 'properties', key, 'default');
  assert.equal(tls('requestCert'), CHANNEL_DEFAULTS.requestCert);
  assert.equal(tls('rejectUnauthorized'), CHANNEL_DEFAULTS.rejectUnauthorized);
  assert.equal(tls('minVersion'), CHANNEL_DEFAULTS.minVersion);
  assert.equal(p('charset', 'fallback'), CHANNEL_DEFAULTS.charsetFallback);
  assert.equal(p('ack', 'mode'), CHANNEL_DEFAULTS.ackMode);
  assert.equal(p('ack', 'timeoutMs'), CHANNEL_DEFAULTS.ackTimeoutMs);
  assert.equal(p('ack', 'application'), CHANNEL_DEFAULTS.ackApplication);
  assert.equal(p('dedupe', 'windowSeconds'), CHANNEL_DEFAULTS.dedupeWindowSeconds);
  assert.equal(p('dedupe', 'maxEntries'), CHANNEL_DEFAULTS.dedupeMaxEntries);
  assert.equal(p('review', 'slaMinutes'), CHANNEL_DEFAULTS.reviewSlaMinutes);
  assert.equal(p('review', 'maxGroupSize'), CHANNEL_DEFAULTS.reviewMaxGroupSize);
});
