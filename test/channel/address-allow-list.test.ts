import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressAllowList, isAddressAllowed } from '../../src/channel/index.js';

test('an IPv4 CIDR range admits addresses inside it and nothing outside', () => {
  const list = ['10.20.0.0/16'];
  assert.equal(isAddressAllowed('10.20.0.1', list), true);
  assert.equal(isAddressAllowed('10.20.255.254', list), true);
  assert.equal(isAddressAllowed('10.21.0.1', list), false);
  assert.equal(isAddressAllowed('10.19.255.255', list), false);
});

test('a bare IPv4 address and a /32 admit exactly that address', () => {
  assert.equal(isAddressAllowed('127.0.0.1', ['127.0.0.1']), true);
  assert.equal(isAddressAllowed('127.0.0.1', ['127.0.0.1/32']), true);
  assert.equal(isAddressAllowed('127.0.0.2', ['127.0.0.1/32']), false);
});

test('an IPv6 address and range match in compressed or full notation', () => {
  assert.equal(isAddressAllowed('::1', ['::1']), true);
  assert.equal(isAddressAllowed('0:0:0:0:0:0:0:1', ['::1']), true);
  assert.equal(isAddressAllowed('fd00:1234::42', ['fd00::/8']), true);
  assert.equal(isAddressAllowed('fe80::1', ['fd00::/8']), false);
  assert.equal(isAddressAllowed('2001:db8:0:1::5', ['2001:db8::/48']), true);
  assert.equal(isAddressAllowed('2001:db8:1::5', ['2001:db8::/48']), false);
});

test('a dual-stack socket address ::ffff:a.b.c.d matches the IPv4 entry', () => {
  assert.equal(isAddressAllowed('::ffff:10.20.3.4', ['10.20.0.0/16']), true);
  assert.equal(isAddressAllowed('::ffff:10.21.3.4', ['10.20.0.0/16']), false);
  assert.equal(isAddressAllowed('::ffff:127.0.0.1', ['127.0.0.1/32']), true);
  // The same mapped address written in hex groups (7f00:1 = 127.0.0.1).
  assert.equal(isAddressAllowed('::ffff:7f00:1', ['127.0.0.1']), true);
});

test('a v4-mapped entry matches the plain IPv4 address', () => {
  assert.equal(isAddressAllowed('192.168.1.7', ['::ffff:192.168.1.0/120']), true);
  assert.equal(isAddressAllowed('192.168.2.7', ['::ffff:192.168.1.0/120']), false);
});

test('IPv4 and IPv6 entries do not admit each other', () => {
  assert.equal(isAddressAllowed('::1', ['127.0.0.1']), false);
  assert.equal(isAddressAllowed('127.0.0.1', ['::1']), false);
  assert.equal(isAddressAllowed('2001:db8::1', ['0.0.0.0/0']), false);
});

test('an empty list, a non-address and broken entries admit nothing', () => {
  assert.equal(isAddressAllowed('127.0.0.1', []), false);
  assert.equal(isAddressAllowed('localhost', ['127.0.0.1']), false);
  assert.equal(isAddressAllowed('127.0.0.1', ['127.0.0.1/40', 'not-an-ip']), false);
});

test('a link-local address with a zone index matches its range', () => {
  assert.equal(isAddressAllowed('fe80::1%eth0', ['fe80::/10']), true);
});

test('a compiled allow-list checks connections with the same rules', () => {
  const list = new AddressAllowList(['10.0.0.0/8', '::1']);
  assert.equal(list.allows('10.9.8.7'), true);
  assert.equal(list.allows('::ffff:10.9.8.7'), true);
  assert.equal(list.allows('::1'), true);
  assert.equal(list.allows('11.0.0.1'), false);
});

test('a compiled allow-list refuses a broken entry by index, without echoing it', () => {
  assert.throws(() => new AddressAllowList(['10.0.0.0/8', '10.0.0.0/99']), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /allow-list entry 1 has a prefix length/);
    return true;
  });
});
