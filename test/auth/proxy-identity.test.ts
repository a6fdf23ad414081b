/**
 * Which requests a reverse proxy's identity header is believed on: only those from the proxy's
 * configured addresses (or ranges), and only when the header is there. Nothing here speaks HTTP;
 * test/console/proxy-identity.test.ts drives the console with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrustedProxy, trustedProxyProblem } from '../../src/auth/index.js';
import { consoleOptionsFrom } from '../../src/console/index.js';

const proxy = new TrustedProxy({ header: 'X-Forwarded-User', addresses: ['10.0.0.5', '192.168.7.0/24', 'fd00::/8'] });

test('the header is believed from a listed address, a listed range (IPv4 and IPv6), and from an IPv4 proxy seen on a dual-stack socket', () => {
  assert.equal(proxy.userFrom('10.0.0.5', { 'x-forwarded-user': 'ana' }), 'ana');
  assert.equal(proxy.userFrom('192.168.7.200', { 'x-forwarded-user': ' ana ' }), 'ana');
  assert.equal(proxy.userFrom('fd00::17', { 'x-forwarded-user': 'ana' }), 'ana');
  assert.equal(proxy.userFrom('::ffff:10.0.0.5', { 'x-forwarded-user': 'ana' }), 'ana');
});

test('the header is ignored from any other address, and absent or empty means no proxy identity', () => {
  assert.equal(proxy.userFrom('10.0.0.6', { 'x-forwarded-user': 'ana' }), null);
  assert.equal(proxy.userFrom('192.168.8.1', { 'x-forwarded-user': 'ana' }), null);
  assert.equal(proxy.userFrom('127.0.0.1', { 'x-forwarded-user': 'ana' }), null);
  assert.equal(proxy.userFrom(undefined, { 'x-forwarded-user': 'ana' }), null);
  assert.equal(proxy.userFrom('10.0.0.5', {}), null);
  assert.equal(proxy.userFrom('10.0.0.5', { 'x-forwarded-user': '  ' }), null);
  assert.equal(proxy.userFrom('10.0.0.5', { 'x-remote-user': 'ana' }), null, 'another header is not the configured one');
});

test('a wrong configuration is refused with what to fix', () => {
  assert.match(trustedProxyProblem({ header: 'X-User', addresses: [] }) ?? '', /needs the proxy addresses/);
  assert.match(trustedProxyProblem({ header: 'X-User', addresses: ['proxy.example'] }) ?? '', /"proxy.example" is not a proxy address/);
  assert.match(trustedProxyProblem({ header: 'X-User', addresses: ['10.0.0.0/33'] }) ?? '', /not a proxy address/);
  assert.match(trustedProxyProblem({ header: 'X User', addresses: ['10.0.0.1'] }) ?? '', /HTTP header name/);
  assert.match(trustedProxyProblem({ header: 'Cookie', addresses: ['10.0.0.1'] }) ?? '', /cannot carry/);
  assert.equal(trustedProxyProblem({ header: 'X-User', addresses: ['10.0.0.1', '::1', '10.1.0.0/16'] }), null);
  assert.throws(() => new TrustedProxy({ header: 'X-User', addresses: [] }), /needs the proxy addresses/);
});

test('on the command line the header and the proxy addresses go together; without them trust is off', () => {
  assert.equal(consoleOptionsFrom('8480', {}).trustedProxy, undefined);
  assert.throws(() => consoleOptionsFrom('8480', { 'identity-header': 'X-User' }), /go together/);
  assert.throws(() => consoleOptionsFrom('8480', { 'trusted-proxy': '10.0.0.1' }), /go together/);
  assert.throws(() => consoleOptionsFrom('8480', { 'identity-header': 'X-User', 'trusted-proxy': 'nginx' }), /"nginx" is not a proxy address/);
  assert.deepEqual(consoleOptionsFrom('8480', { 'identity-header': 'X-User', 'trusted-proxy': '10.0.0.1, 10.0.1.0/24' }).trustedProxy, { header: 'X-User', addresses: ['10.0.0.1', '10.0.1.0/24'] });
});
