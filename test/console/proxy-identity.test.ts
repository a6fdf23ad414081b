/**
 * The console behind an OIDC reverse proxy, on the real broker: with --identity-header and
 * --trusted-proxy the header names the user on requests from the proxy's address (127.0.0.1
 * here) and that user's role from the users file applies; from another address (127.0.0.2) the
 * header is ignored; a console without the setting ignores it from everywhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runUsers } from '../../src/auth/index.js';
import { startConsole, type RunningConsole } from '../../src/console/index.js';
import { createLogger } from '../../src/ops/index.js';
import { testKafka } from '../support/kafka.js';

const HEADER = 'X-Forwarded-User';
const kafka = testKafka();
let work: string;
let trusting: RunningConsole;
let plain: RunningConsole;

/** A request from a chosen local address, so the console sees a proxy or a stranger. */
function send(base: string, method: string, path: string, opts: { from: string; headers?: Record<string, string>; body?: unknown }): Promise<{ status: number; body: any }> {
  const url = new URL(path, base);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method, localAddress: opts.from, headers: { ...(opts.headers ?? {}), ...(payload ? { 'content-type': 'application/json' } : {}) }, timeout: 15_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} got no answer within 15 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function open(name: string, trustedProxy?: { header: string; addresses: string[] }): Promise<RunningConsole> {
  const c = await startConsole({
    kafka,
    channels: [],
    logger: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    host: '127.0.0.1',
    port: 0,
    indexFile: join(work, `${name}.sqlite`),
    usersFile: join(work, 'users.json'),
    ...(trustedProxy ? { trustedProxy } : {}),
  });
  await c.indexer.caughtUp(60_000);
  return c;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-proxy-'));
  for (const [user, role] of [['vera', 'viewer'], ['otto', 'operator']] as const) {
    const code = await runUsers(['add', user, '--role', role, '--users', join(work, 'users.json')], { stdout: () => undefined, stderr: () => undefined, readSecret: async () => 'a long enough secret' });
    assert.equal(code, 0);
  }
  trusting = await open('trusting', { header: HEADER, addresses: ['127.0.0.1'] });
  plain = await open('plain');
});

after(async () => {
  await trusting?.stop();
  await plain?.stop();
});

test('without the setting the header is ignored: 401 even from the proxy address', async () => {
  const r = await send(plain.url, 'GET', '/api/session', { from: '127.0.0.1', headers: { [HEADER]: 'otto' } });
  assert.equal(r.status, 401);
  assert.match(r.body.error, /log in first/);
});

test('with the setting, the header is ignored from an address that is not the proxy: 401', async () => {
  const r = await send(trusting.url, 'GET', '/api/session', { from: '127.0.0.2', headers: { [HEADER]: 'otto' } });
  assert.equal(r.status, 401);
  assert.match(r.body.error, /log in first/);
});

test('from the proxy the header names the user, with the role the users file gives; CSRF still guards changes', async () => {
  const r = await send(trusting.url, 'GET', '/api/session', { from: '127.0.0.1', headers: { [HEADER]: 'otto' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.user, 'otto');
  assert.equal(r.body.role, 'operator');
  const again = await send(trusting.url, 'GET', '/api/session', { from: '127.0.0.1', headers: { [HEADER]: 'otto' } });
  assert.equal(again.body.csrfToken, r.body.csrfToken, 'one session per proxied user, so the page keeps its token');
  const noCsrf = await send(trusting.url, 'POST', '/api/patient-key', { from: '127.0.0.1', headers: { [HEADER]: 'otto' }, body: { identifier: 'X' } });
  assert.equal(noCsrf.status, 403);
  assert.match(noCsrf.body.error, /CSRF/);
  const withCsrf = await send(trusting.url, 'POST', '/api/patient-key', { from: '127.0.0.1', headers: { [HEADER]: 'otto', 'x-csrf-token': r.body.csrfToken }, body: { identifier: 'X' } });
  assert.equal(withCsrf.status, 200);
  const viewer = await send(trusting.url, 'GET', '/api/users', { from: '127.0.0.1', headers: { [HEADER]: 'vera' } });
  assert.equal(viewer.status, 403, 'vera is a viewer in the users file');
  assert.match(viewer.body.error, /vera is viewer/);
});

test('from the proxy, a header naming someone not in the users file is 401', async () => {
  const r = await send(trusting.url, 'GET', '/api/queue', { from: '127.0.0.1', headers: { [HEADER]: 'mallory' } });
  assert.equal(r.status, 401);
  assert.match(r.body.error, /names a user the console does not know/);
});

test('without the header, even from the proxy, the console\'s own login applies', async () => {
  assert.equal((await send(trusting.url, 'GET', '/api/session', { from: '127.0.0.1' })).status, 401);
  const login = await send(trusting.url, 'POST', '/api/session', { from: '127.0.0.2', body: { user: 'vera', password: 'a long enough secret' } });
  assert.equal(login.status, 200);
});
